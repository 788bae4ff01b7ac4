import type { NodeId } from '../../core/ids.ts';
import type { Entry } from '../../sources/source.ts';

interface Cached {
  entry: Entry;
  expires: number;
}

/**
 * Directory entries seen in a listing, kept briefly so the LOOKUPs that follow a READDIR
 * (`ls -l`, `find`, `cp -r` stat every name they list) are answered without a round trip each.
 * Bounded in size and age; invalidations and this mount's own changes drop entries at once.
 */
export class EntryCache {
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #byName = new Map<string, Cached>();
  /** id → keys naming it (hard links may give several). */
  readonly #byId = new Map<NodeId, Set<string>>();

  constructor(opts: { ttlMs: number; maxEntries?: number | undefined }) {
    this.#ttlMs = opts.ttlMs;
    this.#max = opts.maxEntries ?? 200_000;
  }

  static #key(parent: NodeId, name: string): string {
    return `${parent}/${name}`;
  }

  /** Remember `name` in `parent`. */
  put(parent: NodeId, name: string, entry: Entry): void {
    if (this.#ttlMs <= 0) return;
    const key = EntryCache.#key(parent, name);
    this.#drop(key);
    if (this.#byName.size >= this.#max) {
      // Oldest first: Map iteration follows insertion order.
      const oldest = this.#byName.keys().next();
      if (!oldest.done) this.#drop(oldest.value);
    }
    this.#byName.set(key, { entry, expires: performance.now() + this.#ttlMs });
    let keys = this.#byId.get(entry.id);
    if (!keys) this.#byId.set(entry.id, (keys = new Set()));
    keys.add(key);
  }

  /** The entry for `name` in `parent` if seen recently. */
  get(parent: NodeId, name: string): Entry | undefined {
    const key = EntryCache.#key(parent, name);
    const hit = this.#byName.get(key);
    if (!hit) return undefined;
    if (hit.expires < performance.now()) {
      this.#drop(key);
      return undefined;
    }
    return hit.entry;
  }

  /** Forget one name. */
  forgetName(parent: NodeId, name: string): void {
    this.#drop(EntryCache.#key(parent, name));
  }

  /** Forget every name of `id` (its attributes changed). */
  forgetId(id: NodeId): void {
    const keys = this.#byId.get(id);
    if (!keys) return;
    for (const key of [...keys]) this.#drop(key);
  }

  /** Forget everything. */
  clear(): void {
    this.#byName.clear();
    this.#byId.clear();
  }

  get size(): number {
    return this.#byName.size;
  }

  #drop(key: string): void {
    const hit = this.#byName.get(key);
    if (!hit) return;
    this.#byName.delete(key);
    const keys = this.#byId.get(hit.entry.id);
    keys?.delete(key);
    if (keys?.size === 0) this.#byId.delete(hit.entry.id);
  }
}
