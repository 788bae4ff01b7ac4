import type { Invalidation } from '../sources/source.ts';

/** Options of {@link EventQueue}. */
export interface EventQueueOptions {
  /** Quiet time per key before its event is handed over (default 500 ms). */
  debounceMs?: number | undefined;
  /** Longest an event waits while its key keeps changing (default 4 × debounce). */
  maxWaitMs?: number | undefined;
  /** Events per second that count as a storm… (default 1,000) */
  stormRate?: number | undefined;
  /** …when sustained for this many consecutive seconds (default 5). */
  stormSeconds?: number | undefined;
  /** Receives the events that are due, together (renames arrive as one batch). */
  onFlush: (events: Invalidation[]) => void;
  /** Called once when a storm starts; pending events are dropped (a full crawl replaces them). */
  onStorm: () => void;
  /** The clock (tests). */
  now?: (() => number) | undefined;
}

/** The debounce key of an event: per path (parent + name) or per id. */
function keyOf(ev: Invalidation): string {
  return ev.kind === 'entry' ? `e:${ev.parent}:${ev.name}` : `${ev.kind === 'tree' ? 't' : 'i'}:${ev.id}`;
}

/**
 * Debounces watcher events per path and watches their rate. Each key (an entry of a
 * directory, or a file id) is handed over once it has been quiet for `debounceMs` (or has
 * waited `maxWaitMs`); every key due at a flush goes in one batch, so the two halves of a
 * rename — one entry vanishing, one appearing, microseconds apart — are handled together.
 * More than `stormRate` events a second for `stormSeconds` seconds in a row is a storm: the
 * queue drops what it holds, calls `onStorm` once, and counts (without queueing) until a
 * second passes below the rate.
 */
export class EventQueue {
  readonly #opts: Required<Omit<EventQueueOptions, 'now'>> & { now: () => number };
  readonly #pending = new Map<string, { ev: Invalidation; due: number; first: number }>();
  #timer: NodeJS.Timeout | undefined;
  #windowStart = 0;
  #windowCount = 0;
  #hotSeconds = 0;
  #storm = false;
  #closed = false;

  constructor(opts: EventQueueOptions) {
    const debounceMs = opts.debounceMs ?? 500;
    this.#opts = {
      debounceMs,
      maxWaitMs: opts.maxWaitMs ?? debounceMs * 4,
      stormRate: opts.stormRate ?? 1000,
      stormSeconds: opts.stormSeconds ?? 5,
      onFlush: opts.onFlush,
      onStorm: opts.onStorm,
      now: opts.now ?? Date.now,
    };
  }

  /** Whether a storm is going on. */
  get storming(): boolean {
    // Without events there is no push to notice the storm ending: a second of silence ends it.
    return this.#storm && this.#opts.now() - this.#windowStart < 2000;
  }

  /** Events waiting for their quiet time. */
  get size(): number {
    return this.#pending.size;
  }

  /** Take an event. */
  push(ev: Invalidation): void {
    if (this.#closed) return;
    const now = this.#opts.now();
    this.#count(now);
    if (this.#storm) return;
    const key = keyOf(ev);
    const cur = this.#pending.get(key);
    const first = cur?.first ?? now;
    this.#pending.set(key, {
      ev,
      first,
      due: Math.min(now + this.#opts.debounceMs, first + this.#opts.maxWaitMs),
    });
    this.#arm();
  }

  #count(now: number): void {
    if (now - this.#windowStart >= 1000) {
      const seconds = Math.floor((now - this.#windowStart) / 1000);
      // A full second above the rate extends the run; a gap or a quiet second ends it.
      if (seconds === 1 && this.#windowCount > this.#opts.stormRate) this.#hotSeconds++;
      else this.#hotSeconds = 0;
      if (this.#storm && this.#hotSeconds === 0) this.#storm = false;
      this.#windowStart = seconds === 1 ? this.#windowStart + 1000 : now;
      this.#windowCount = 0;
    }
    this.#windowCount++;
    const hot = this.#hotSeconds + (this.#windowCount > this.#opts.stormRate ? 1 : 0);
    if (!this.#storm && hot >= this.#opts.stormSeconds) {
      this.#storm = true;
      this.#pending.clear();
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#opts.onStorm();
    }
  }

  #arm(): void {
    if (this.#timer !== undefined || this.#pending.size === 0) return;
    let due = Infinity;
    for (const p of this.#pending.values()) due = Math.min(due, p.due);
    this.#timer = setTimeout(() => this.flush(), Math.max(0, due - this.#opts.now()));
    this.#timer.unref();
  }

  /** Hand over the events that are due now (the timer does this; tests may call it). */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const now = this.#opts.now();
    const out: Invalidation[] = [];
    // A little slack, so events a hair apart (a rename's two halves) go together.
    for (const [key, p] of this.#pending) {
      if (p.due <= now + 25) {
        out.push(p.ev);
        this.#pending.delete(key);
      }
    }
    if (out.length > 0) this.#opts.onFlush(out);
    this.#arm();
  }

  /** Drop everything and stop. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#pending.clear();
  }
}
