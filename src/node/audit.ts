import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringifyLogRecord } from '../core/log.ts';

/** How a session ended. */
export type SessionEnd =
  | 'graceful'
  | 'abrupt'
  | 'server-shutdown'
  | 'protocol-error'
  | 'auth-failed'
  /** Its credential was disabled or removed while the session ran. */
  | 'revoked';

/** One line of the audit log (the `time` field is added when it is written). */
export type AuditRecord =
  | {
      event: 'session-start';
      session: string;
      principal: string;
      credential: string;
      address: string;
      version: number;
      client?: string | undefined;
      /** Started on a sealed connection, by the ticket the named TLS session asked for. */
      sealedFrom?: string | undefined;
    }
  | {
      event: 'session-end';
      session: string;
      principal: string | null;
      credential: string | null;
      address: string;
      start: string;
      end: string;
      how: SessionEnd;
      reason?: string | undefined;
      bytesIn: number;
      bytesOut: number;
      requests: number;
    }
  | { event: 'auth-failure'; session: string; address: string; keyId: string; reason: string }
  | { event: 'auth-failure'; surface: string; address: string; keyId: string; reason: string }
  | {
      event: 'credential-created' | 'credential-disabled' | 'credential-removed';
      id: string;
      name: string;
      exports?: string[] | '*' | undefined;
      caps?: Record<string, boolean> | undefined;
      owner?: boolean | undefined;
    }
  | { event: 'node-start' | 'node-stop'; url: string; pid: number };

/** The audit log file of a home. */
export function auditFile(home: string): string {
  return join(home, 'audit.log');
}

function line(record: AuditRecord): string {
  return stringifyLogRecord({ time: new Date().toISOString(), ...record }) + '\n';
}

/**
 * Append one record to a home's audit log (mode 0600). Each record is one `write` on a file
 * opened for appending, so lines from the node and from CLI commands never interleave.
 */
export async function appendAudit(opts: { home: string; record: AuditRecord }): Promise<void> {
  await appendFile(auditFile(opts.home), line(opts.record), { mode: 0o600 });
}

/**
 * The node's audit log: records are written in order, in the background; `flush()` waits
 * for every record so far. A failing write is reported through `onError` and never throws
 * into the session that caused the record.
 */
export class AuditLog {
  readonly #home: string;
  readonly #onError: (err: unknown) => void;
  #tail: Promise<void> = Promise.resolve();

  constructor(opts: { home: string; onError?: ((err: unknown) => void) | undefined }) {
    this.#home = opts.home;
    this.#onError = opts.onError ?? (() => undefined);
  }

  /** Queue one record. */
  record(record: AuditRecord): void {
    const text = line(record);
    this.#tail = this.#tail.then(() =>
      appendFile(auditFile(this.#home), text, { mode: 0o600 }).catch(this.#onError),
    );
  }

  /** Wait until every queued record is written. */
  async flush(): Promise<void> {
    await this.#tail;
  }
}
