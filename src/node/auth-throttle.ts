/** Options of {@link AuthThrottle}. */
export interface AuthThrottleOptions {
  /** Failures allowed in the window before answers are delayed (default 5). */
  freeFailures?: number | undefined;
  /** Window over which failures count (default 60 s). */
  windowMs?: number | undefined;
  /** First delay (default 500 ms); each further failure doubles it. */
  baseDelayMs?: number | undefined;
  /** Largest delay (default 30 s). */
  maxDelayMs?: number | undefined;
  /** Addresses remembered at most (oldest forgotten first; default 10,000). */
  maxAddresses?: number | undefined;
  /** Clock in ms (default `Date.now`); tests inject their own. */
  now?: (() => number) | undefined;
}

interface AddressState {
  /** Times of recent failures, oldest first. */
  failures: number[];
  /** When the next delayed answer may go out at the earliest. */
  nextFree: number;
}

/**
 * Slows password guessing: after `freeFailures` failed authentications within `windowMs`
 * from one address, every further attempt from it is answered only after a delay that
 * doubles with each failure (0.5 s, 1 s, 2 s … up to 30 s). Delayed answers from one address
 * are also spaced out one after another, so opening many connections at once does not get
 * around the delay. Success and failure answers are delayed alike, so a caller cannot tell
 * the outcome by giving up early.
 */
export class AuthThrottle {
  readonly #free: number;
  readonly #windowMs: number;
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #maxAddresses: number;
  readonly #now: () => number;
  readonly #byAddress = new Map<string, AddressState>();

  constructor(opts: AuthThrottleOptions = {}) {
    this.#free = opts.freeFailures ?? 5;
    this.#windowMs = opts.windowMs ?? 60_000;
    this.#baseMs = opts.baseDelayMs ?? 500;
    this.#maxMs = opts.maxDelayMs ?? 30_000;
    this.#maxAddresses = opts.maxAddresses ?? 10_000;
    this.#now = opts.now ?? Date.now;
  }

  #state(address: string, create: boolean): AddressState | undefined {
    const key = normalizeAddress(address);
    let state = this.#byAddress.get(key);
    if (state) {
      const cutoff = this.#now() - this.#windowMs;
      while (state.failures.length > 0 && state.failures[0]! <= cutoff) state.failures.shift();
    } else if (create) {
      this.#evict();
      state = { failures: [], nextFree: 0 };
      this.#byAddress.set(key, state);
    }
    return state;
  }

  #evict(): void {
    if (this.#byAddress.size < this.#maxAddresses) return;
    const cutoff = this.#now() - this.#windowMs;
    for (const [key, state] of this.#byAddress) {
      if ((state.failures.at(-1) ?? 0) <= cutoff && state.nextFree <= this.#now())
        this.#byAddress.delete(key);
    }
    // Still full: forget the oldest entries (Map iterates in insertion order).
    for (const key of this.#byAddress.keys()) {
      if (this.#byAddress.size < this.#maxAddresses) break;
      this.#byAddress.delete(key);
    }
  }

  /** Failed attempts from `address` within the window. */
  failures(address: string): number {
    return this.#state(address, false)?.failures.length ?? 0;
  }

  /** Record a failed authentication from `address`. */
  recordFailure(address: string): void {
    const state = this.#state(address, true)!;
    state.failures.push(this.#now());
    // The delay saturates long before this; keep memory per address bounded.
    if (state.failures.length > 64) state.failures.shift();
  }

  /**
   * How long (ms) to hold back the answer to an authentication attempt from `address`
   * arriving now. Reserves the answer's time slot, so call it once per attempt.
   */
  delayFor(address: string): number {
    const state = this.#state(address, false);
    const n = state?.failures.length ?? 0;
    if (state === undefined || n < this.#free) return 0;
    const delay = Math.min(this.#maxMs, this.#baseMs * 2 ** (n - this.#free));
    const now = this.#now();
    const answerAt = Math.max(now, state.nextFree) + delay;
    state.nextFree = answerAt;
    return answerAt - now;
  }
}

/** `::ffff:1.2.3.4` (an IPv4 client on a dual-stack socket) is `1.2.3.4`. */
export function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
