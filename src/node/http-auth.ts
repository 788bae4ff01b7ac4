import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { FsError } from '../core/fs-error.ts';
import type { Logger } from '../core/log.ts';
import { Authorizer, type Grant } from '../namespace/authorization.ts';
import { secretMatches } from '../protocol/scram.ts';
import type { AuditLog } from './audit.ts';
import type { AuthThrottle } from './auth-throttle.ts';
import type { CredentialRecord } from './credentials.ts';
import type { NodeMetrics } from './metrics.ts';
import { BoundedMap } from '../core/bounded-map.ts';

/** How long a verified (key id, secret) pair is trusted without running argon2id again. */
const VERIFIED_TTL_MS = 5 * 60_000;
/** Verified pairs remembered at most (oldest forgotten first). */
const VERIFIED_MAX = 1024;

/**
 * Authenticates a credential's key id and secret presented over HTTP (WebDAV Basic auth, the
 * REST API's login), with the protocol's rules: the same answer whatever was wrong, a failure
 * audited and counted, and the per-address growing delay of the auth throttle. The secret is
 * checked against the stored argon2id verifier; since HTTP clients present it on every
 * request, a verified pair is remembered (as a SHA-256 digest, never the secret) for a few
 * minutes — the record is still looked up every time (see `CredentialCache`), so a disabled
 * or removed credential stops working at once.
 */
export class HttpAuthenticator {
  readonly #find: (keyId: string) => Promise<CredentialRecord | undefined>;
  readonly #exportOfSlot: (slot: number) => string | undefined;
  readonly #throttle: AuthThrottle;
  readonly #audit: AuditLog;
  readonly #metrics: NodeMetrics;
  readonly #log: Logger;
  readonly #verified = new BoundedMap<string, number>({ max: VERIFIED_MAX });

  constructor(opts: {
    find: (keyId: string) => Promise<CredentialRecord | undefined>;
    exportOfSlot: (slot: number) => string | undefined;
    throttle: AuthThrottle;
    audit: AuditLog;
    metrics: NodeMetrics;
    logger: Logger;
  }) {
    this.#find = opts.find;
    this.#exportOfSlot = opts.exportOfSlot;
    this.#throttle = opts.throttle;
    this.#audit = opts.audit;
    this.#metrics = opts.metrics;
    this.#log = opts.logger.child({ component: 'http-auth' });
  }

  /**
   * The grant of credential `id` if `secret` is its secret; otherwise `EKEYREJECTED` (after
   * the throttle's delay for `address`, if any). `surface` names the caller in the audit log.
   */
  async authenticate(opts: { id: string; secret: string; address: string; surface: string }): Promise<Grant> {
    const { id, secret, address, surface } = opts;
    const delay = this.#throttle.delayFor(address);
    if (delay > 0) await sleep(delay);
    const record = await this.#find(id);
    const key = `${id}\0${createHash('sha256').update(secret).digest('base64')}`;
    const until = this.#verified.get(key);
    let valid = until !== undefined && until > Date.now();
    if (!valid && record !== undefined) {
      valid = await secretMatches({ secret, verifier: record.verifier });
      if (valid) this.#remember(key);
    }
    if (!valid || record === undefined || record.disabled) {
      const reason =
        record === undefined ? 'unknown access key id' : !valid ? 'wrong secret' : 'credential disabled';
      this.#throttle.recordFailure(address);
      this.#metrics.authFailures++;
      this.#audit.record({ event: 'auth-failure', surface, address, keyId: id, reason });
      this.#log.warn('authentication failed', { surface, address, keyId: id, reason });
      throw FsError.EKEYREJECTED(
        'login',
        id,
        'credential rejected (unknown key id, wrong secret or disabled)',
      );
    }
    return grantOfRecord(record);
  }

  /** The authorizer of a grant (for {@link AuthorizedSource} views of the namespace). */
  authorizer(grant: Grant): Authorizer {
    return new Authorizer({ grant, exportOfSlot: this.#exportOfSlot });
  }

  #remember(key: string): void {
    this.#verified.set(key, Date.now() + VERIFIED_TTL_MS);
  }
}

/** The grant a credential record gives. */
export function grantOfRecord(record: CredentialRecord): Grant {
  return {
    credentialId: record.id,
    principal: record.name,
    exports: record.exports === '*' ? '*' : new Set(record.exports),
    caps: { ...record.caps },
  };
}
