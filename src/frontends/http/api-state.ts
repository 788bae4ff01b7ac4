import { z } from 'zod';
import type { ApiHost } from './api-host.ts';
import type { DigestCache } from './file-content.ts';
import type { LoginLimiter } from './login-limiter.ts';
import type { PathIndex } from './paths.ts';
import type { TokenStore } from './tokens.ts';

/** What the API's routes share. */
export interface ApiState {
  host: ApiHost;
  tokens: TokenStore;
  limiter: LoginLimiter;
  index: PathIndex;
  digests: DigestCache;
  /** Resolves when the surface closes (long-lived streams end then). */
  stopping: Promise<void>;
  /** Whether the surface is closing. */
  closing(): boolean;
}

/** The surface's name in logs, metrics and the audit log. */
export const API_SURFACE = 'api';
/** Where the API lives. */
export const API_PREFIX = '/api/v1';

/** A boolean query parameter (`true`/`false`, `1`/`0`; absent is false). */
export function queryFlag(description: string) {
  return z
    .enum(['true', 'false', '1', '0'])
    .optional()
    .transform((v) => v === 'true' || v === '1')
    .describe(description);
}
