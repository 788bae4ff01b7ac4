import { createHash, randomBytes } from 'node:crypto';
import { BoundedMap } from '../../core/bounded-map.ts';

/** Default lifetime of a bearer token. */
export const TOKEN_TTL_MS = 60 * 60_000;
/** Tokens kept at most (the oldest are dropped first). */
const MAX_TOKENS = 10_000;
/** Prefix of every token, so they are easy to recognize in logs and secret scanners. */
const TOKEN_PREFIX = 'tst_';

/** What a token stands for. */
export interface TokenRecord {
  credentialId: string;
  principal: string;
  issued: number;
  expires: number;
}

/**
 * Bearer tokens of the REST API: 256 random bits each, kept in memory only (a restart logs
 * everyone out), looked up by their SHA-256 so the table never holds a usable token. A token
 * dies when it expires, on logout, and when its credential is disabled or removed (the API
 * checks the credential on every request and revokes the token then).
 */
export class TokenStore {
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #byDigest = new BoundedMap<string, TokenRecord>({ max: MAX_TOKENS });

  constructor(opts: { ttlMs?: number | undefined; now?: (() => number) | undefined } = {}) {
    this.#ttlMs = opts.ttlMs ?? TOKEN_TTL_MS;
    this.#now = opts.now ?? Date.now;
  }

  /** A fresh token for a credential. */
  issue(opts: { credentialId: string; principal: string }): { token: string; record: TokenRecord } {
    this.#sweep();
    const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const issued = this.#now();
    const record = { ...opts, issued, expires: issued + this.#ttlMs };
    this.#byDigest.set(digest(token), record);
    return { token, record };
  }

  /** The record of a live token, or undefined (unknown, expired or revoked). */
  get(token: string): TokenRecord | undefined {
    if (!token.startsWith(TOKEN_PREFIX)) return undefined;
    const key = digest(token);
    const record = this.#byDigest.get(key);
    if (record === undefined) return undefined;
    if (record.expires <= this.#now()) {
      this.#byDigest.delete(key);
      return undefined;
    }
    return record;
  }

  /** Revoke one token; whether it was live. */
  revoke(token: string): boolean {
    return this.#byDigest.delete(digest(token));
  }

  /** Revoke every token of a credential; how many there were. */
  revokeCredential(credentialId: string): number {
    let n = 0;
    for (const [key, record] of this.#byDigest) {
      if (record.credentialId === credentialId) {
        this.#byDigest.delete(key);
        n++;
      }
    }
    return n;
  }

  /** Forget every token. */
  clear(): void {
    this.#byDigest.clear();
  }

  #sweep(): void {
    const now = this.#now();
    for (const [key, record] of this.#byDigest) if (record.expires <= now) this.#byDigest.delete(key);
  }
}

function digest(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}
