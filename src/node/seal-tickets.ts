import { randomBytes } from 'node:crypto';
import type { Grant } from '../namespace/authorization.ts';

/**
 * Tickets for sealed connections (docs/protocol.md, "Sealed connections"). A session
 * authenticated over TLS asks for one (SEAL); the node keeps, for a short while, what the
 * sealed connection that presents it will get: the session's grant and the keying material
 * exported from that TLS session under the ticket. A ticket is used once.
 */

/** How long an unused ticket stays valid. */
export const SEAL_TICKET_TTL_MS = 30_000;
/** Tickets kept at most (the oldest go first); a client needs one per connection it opens. */
const MAX_TICKETS = 1024;

/** What a presented ticket gives its sealed connection. */
export interface SealTicket {
  grant: Grant;
  /** Keying material exported from the issuing TLS session under this ticket. */
  material: Buffer;
  /** The session that asked for it. */
  issuedBy: string;
  expires: number;
}

/** The node's outstanding tickets. */
export class SealTickets {
  readonly #tickets = new Map<string, SealTicket>();
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(opts: { ttlMs?: number; now?: () => number } = {}) {
    this.#ttlMs = opts.ttlMs ?? SEAL_TICKET_TTL_MS;
    this.#now = opts.now ?? Date.now;
  }

  /**
   * Issue a ticket for `grant`; `material(ticket)` exports the keying material of the issuing
   * TLS session with the ticket's bytes as context.
   */
  issue(opts: { grant: Grant; material: (ticket: Buffer) => Buffer; issuedBy: string }): string {
    this.#sweep();
    const bytes = randomBytes(16);
    const ticket = bytes.toString('hex');
    while (this.#tickets.size >= MAX_TICKETS) this.#forget(this.#tickets.keys().next().value!);
    this.#tickets.set(ticket, {
      grant: opts.grant,
      material: opts.material(bytes),
      issuedBy: opts.issuedBy,
      expires: this.#now() + this.#ttlMs,
    });
    return ticket;
  }

  /** Take a ticket (once): what it gives, or undefined when unknown or expired. */
  take(ticket: string): SealTicket | undefined {
    const entry = this.#tickets.get(ticket);
    if (entry === undefined) return undefined;
    this.#tickets.delete(ticket);
    if (entry.expires <= this.#now()) {
      entry.material.fill(0);
      return undefined;
    }
    return entry;
  }

  /** Drop the tickets of credentials that no longer log in. */
  retain(valid: (credentialId: string) => boolean): void {
    for (const [ticket, entry] of this.#tickets) if (!valid(entry.grant.credentialId)) this.#forget(ticket);
  }

  /** Tickets outstanding (for tests and metrics). */
  get size(): number {
    return this.#tickets.size;
  }

  /** Drop every ticket (the node closes). */
  clear(): void {
    for (const ticket of [...this.#tickets.keys()]) this.#forget(ticket);
  }

  #sweep(): void {
    const now = this.#now();
    for (const [ticket, entry] of this.#tickets) if (entry.expires <= now) this.#forget(ticket);
  }

  #forget(ticket: string): void {
    this.#tickets.get(ticket)?.material.fill(0);
    this.#tickets.delete(ticket);
  }
}
