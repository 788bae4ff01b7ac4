import { BoundedMap } from '../../core/bounded-map.ts';

/** Addresses remembered at most (the oldest are forgotten first). */
const MAX_ADDRESSES = 10_000;

/**
 * Limits failed logins per client address: after `max` failures within `windowMs`, further
 * attempts from that address are refused (429) until the oldest failure leaves the window.
 * This comes on top of the node's authentication throttle, which slows guessing on every
 * surface; the API refuses outright, as its clients (scripts, the UI) can wait and retry.
 */
export class LoginLimiter {
  readonly #max: number;
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #failures = new BoundedMap<string, number[]>({ max: MAX_ADDRESSES });

  constructor(opts: { max?: number; windowMs?: number; now?: () => number } = {}) {
    this.#max = opts.max ?? 5;
    this.#windowMs = opts.windowMs ?? 60_000;
    this.#now = opts.now ?? Date.now;
  }

  /** Seconds `address` must wait before its next attempt (0: it may try now). */
  retryAfter(address: string): number {
    const times = this.#recent(address);
    if (times.length < this.#max) return 0;
    const oldest = times[times.length - this.#max]!;
    return Math.max(1, Math.ceil((oldest + this.#windowMs - this.#now()) / 1000));
  }

  /** Record a failed attempt from `address`. */
  fail(address: string): void {
    const times = this.#recent(address);
    times.push(this.#now());
    if (times.length > this.#max) times.splice(0, times.length - this.#max);
    this.#failures.set(address, times);
  }

  #recent(address: string): number[] {
    const cutoff = this.#now() - this.#windowMs;
    const times = (this.#failures.get(address) ?? []).filter((t) => t > cutoff);
    if (times.length === 0) this.#failures.delete(address);
    return times;
  }
}
