import { z } from 'zod';
import { FsError } from '../../core/fs-error.ts';

/** Default interval of the polling scanner (posix, and linux directories inotify cannot watch). */
export const DEFAULT_SCAN_INTERVAL_MS = 2000;
/** Default number of `lstat` calls in flight for one `readdirp` page. */
export const DEFAULT_STAT_CONCURRENCY = 48;

/** `[export.options]` of the local sources (`linux`, `posix`, `windows`). */
export const localOptionsSchema = z.strictObject({
  /** How often the scanner polls the directories clients have looked at, in ms. */
  scan_interval_ms: z.number().int().min(10).max(3_600_000).optional(),
  /** `lstat` calls in flight per `readdirp` page. */
  stat_concurrency: z.number().int().min(1).max(1024).optional(),
});

/** Validated local options with defaults applied. */
export interface LocalOptions {
  scanIntervalMs: number;
  statConcurrency: number;
}

/** Validate `[export.options]` for a local source; a bad or unknown option → EINVAL naming it. */
export function parseLocalOptions(
  kind: string,
  exportName: string,
  raw: Record<string, unknown> | undefined,
): LocalOptions {
  const parsed = localOptionsSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const detail =
      issue.code === 'unrecognized_keys'
        ? `unknown ${kind} option ${issue.keys.map((k) => `'${k}'`).join(', ')} (known: ${Object.keys(localOptionsSchema.shape).join(', ')})`
        : `bad ${kind} option '${issue.path.join('.')}': ${issue.message}`;
    throw FsError.EINVAL('export', exportName, detail);
  }
  return {
    scanIntervalMs: parsed.data.scan_interval_ms ?? DEFAULT_SCAN_INTERVAL_MS,
    statConcurrency: parsed.data.stat_concurrency ?? DEFAULT_STAT_CONCURRENCY,
  };
}
