import { FsError } from '../core/fs-error.ts';
import { exportIndexOf, rootId } from '../core/ids.ts';
import type { Invalidation, Source } from '../sources/source.ts';

/** Options of {@link Subscriptions}. */
export interface SubscriptionsOptions {
  source: Source;
  /** Whether the session may see an event. */
  visible: (ev: Invalidation) => boolean;
  /** Send one push; resolves when it is handed to the socket (it may wait for the socket to drain). */
  push: (body: { ev: 'INVALIDATE'; sub: number; events: Invalidation[] }) => Promise<void>;
  /** Longest time an event waits to be batched (default 50 ms). */
  batchMs?: number | undefined;
  /** Events kept per subscription before they collapse into `tree` events (default 4096). */
  maxPending?: number | undefined;
  /** Subscriptions per session (default 64). */
  maxSubscriptions?: number | undefined;
}

interface Sub {
  pending: Invalidation[];
  keys: Set<string>;
  timer: NodeJS.Timeout | undefined;
  sending: boolean;
}

function keyOf(ev: Invalidation): string {
  return ev.kind === 'entry' ? `e:${ev.parent}:${ev.name}` : `${ev.kind}:${ev.id}`;
}

/**
 * A session's SUBSCRIBE subscriptions: invalidations of the served Source that the session
 * may see, deduplicated and batched (one push per subscription at most every `batchMs`). A
 * client that does not keep up gets its backlog collapsed into one `tree` event per export
 * ("anything may have changed") instead of unbounded memory.
 */
export class Subscriptions {
  readonly #opts: SubscriptionsOptions;
  readonly #subs = new Map<number, Sub>();
  #next = 1;
  #unwatch: (() => void) | undefined;
  #closed = false;

  constructor(opts: SubscriptionsOptions) {
    this.#opts = opts;
  }

  /** Start a subscription; resolves to its number. */
  subscribe(): number {
    if (this.#closed) throw FsError.ESHUTDOWN('subscribe', undefined, 'session is closing');
    if (this.#subs.size >= (this.#opts.maxSubscriptions ?? 64))
      throw FsError.EMFILE('subscribe', undefined, 'too many subscriptions in this session');
    const sub = this.#next++;
    this.#subs.set(sub, { pending: [], keys: new Set(), timer: undefined, sending: false });
    this.#unwatch ??= this.#opts.source.watch((ev) => this.#onEvent(ev));
    return sub;
  }

  /** End a subscription; `EINVAL` for one the session does not have. */
  unsubscribe(sub: number): void {
    const s = this.#subs.get(sub);
    if (!s) throw FsError.EINVAL('unsubscribe', String(sub), 'no such subscription');
    clearTimeout(s.timer);
    this.#subs.delete(sub);
    if (this.#subs.size === 0) {
      this.#unwatch?.();
      this.#unwatch = undefined;
    }
  }

  /** End every subscription. */
  close(): void {
    this.#closed = true;
    for (const s of this.#subs.values()) clearTimeout(s.timer);
    this.#subs.clear();
    this.#unwatch?.();
    this.#unwatch = undefined;
  }

  #onEvent(ev: Invalidation): void {
    if (!this.#opts.visible(ev)) return;
    const key = keyOf(ev);
    for (const [sub, s] of this.#subs) {
      if (s.keys.has(key)) continue;
      s.keys.add(key);
      s.pending.push(ev);
      if (s.pending.length > (this.#opts.maxPending ?? 4096)) collapse(s);
      s.timer ??= setTimeout(() => void this.#flush(sub), this.#opts.batchMs ?? 50);
    }
  }

  async #flush(sub: number): Promise<void> {
    const s = this.#subs.get(sub);
    if (!s) return;
    s.timer = undefined;
    if (s.sending || s.pending.length === 0) return;
    const events = s.pending;
    s.pending = [];
    s.keys = new Set();
    s.sending = true;
    try {
      await this.#opts.push({ ev: 'INVALIDATE', sub, events });
    } catch {
      // The session is going away; nothing to deliver to.
    } finally {
      s.sending = false;
    }
    // Events that arrived while the push waited for the socket go out in the next batch.
    if (this.#subs.has(sub) && s.pending.length > 0)
      s.timer ??= setTimeout(() => void this.#flush(sub), this.#opts.batchMs ?? 50);
  }
}

/** Replace a subscription's backlog with one `tree` event per export it touched. */
function collapse(s: Sub): void {
  const slots = new Set(s.pending.map((ev) => exportIndexOf(ev.kind === 'entry' ? ev.parent : ev.id)));
  s.pending = [...slots].map((slot) => ({ kind: 'tree', id: rootId(slot) }));
  s.keys = new Set(s.pending.map(keyOf));
}
