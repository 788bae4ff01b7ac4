import type { NodeId } from '../../core/ids.ts';
import type { Entry } from '../../sources/source.ts';

interface Cached {
  parent: NodeId;
  name: string;
  entry: Entry;
  expires: number;
}

interface Complete {
  expires: number;
  /** Names that may exist though they are not cached (changed elsewhere, attrs dropped). */
  unsure: Set<string>;
}

/**
 * Directory entries this mount has seen, kept briefly so lookups need no round trip each:
 *
 * - the LOOKUPs that follow a READDIR (`ls -l`, `find`, `cp -r` stat every name they list)
 *   are answered from the listing's own attributes;
 * - a directory listed to the end, or made through this mount, is *complete*: a name
 *   missing from it is known not to exist (`cp -r` looks up every name before creating it).
 *
 * Bounded in size and age. Changes made through this mount update it; invalidations (changes
 * made elsewhere, which may name anything) make the names they touch unsure.
 */
export class EntryCache {
  readonly #ttlMs: number;
  readonly #completeMs: number;
  readonly #max: number;
  readonly #byName = new Map<string, Cached>();
  /** id → keys naming it (hard links may give several). */
  readonly #byId = new Map<NodeId, Set<string>>();
  readonly #complete = new Map<NodeId, Complete>();

  constructor(opts: { ttlMs: number; completeMs?: number | undefined; maxEntries?: number | undefined }) {
    this.#ttlMs = opts.ttlMs;
    this.#completeMs = opts.completeMs ?? opts.ttlMs;
    this.#max = opts.maxEntries ?? 200_000;
  }

  static #key(parent: NodeId, name: string): string {
    return `${parent}/${name}`;
  }

  /** Remember `name` in `parent` (it exists, with this id and these attributes). */
  put(parent: NodeId, name: string, entry: Entry): void {
    if (this.#ttlMs <= 0) return;
    const key = EntryCache.#key(parent, name);
    this.#drop(key, 'replaced');
    if (this.#byName.size >= this.#max) {
      // Oldest first: Map iteration follows insertion order.
      const oldest = this.#byName.keys().next();
      if (!oldest.done) this.#drop(oldest.value, 'unsure');
    }
    this.#byName.set(key, { parent, name, entry, expires: performance.now() + this.#ttlMs });
    this.#complete.get(parent)?.unsure.delete(name);
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
      this.#drop(key, 'unsure');
      return undefined;
    }
    return hit.entry;
  }

  /** Every name of `dir` is in the cache now (a full listing, or a directory just made). */
  markComplete(dir: NodeId): void {
    if (this.#ttlMs > 0)
      this.#complete.set(dir, { expires: performance.now() + this.#completeMs, unsure: new Set() });
  }

  /** Whether `name` is known not to exist in `parent`. */
  knownAbsent(parent: NodeId, name: string): boolean {
    const complete = this.#complete.get(parent);
    if (complete === undefined) return false;
    if (complete.expires < performance.now()) {
      this.#complete.delete(parent);
      return false;
    }
    // get() first: an expired entry it drops becomes unsure.
    return this.get(parent, name) === undefined && !complete.unsure.has(name);
  }

  /** `name` is gone from `parent` (removed or renamed away through this mount). */
  removed(parent: NodeId, name: string): void {
    this.#drop(EntryCache.#key(parent, name), 'gone');
    this.#complete.get(parent)?.unsure.delete(name);
  }

  /** `name` in `parent` may have changed in any way (it may exist or not). */
  forgetName(parent: NodeId, name: string): void {
    this.#drop(EntryCache.#key(parent, name), 'unsure');
    this.#complete.get(parent)?.unsure.add(name);
  }

  /** The attributes of `id` changed: forget its entries (their names still exist). */
  forgetId(id: NodeId): void {
    const keys = this.#byId.get(id);
    if (!keys) return;
    for (const key of [...keys]) this.#drop(key, 'unsure');
  }

  /** Forget everything. */
  clear(): void {
    this.#byName.clear();
    this.#byId.clear();
    this.#complete.clear();
  }

  get size(): number {
    return this.#byName.size;
  }

  /**
   * Drop a cached name: `gone` (it no longer exists), `unsure` (it may still exist: a
   * complete directory must ask about it), `replaced` (a new entry follows at once).
   */
  #drop(key: string, why: 'gone' | 'unsure' | 'replaced'): void {
    const hit = this.#byName.get(key);
    if (!hit) return;
    this.#byName.delete(key);
    if (why === 'unsure') this.#complete.get(hit.parent)?.unsure.add(hit.name);
    const keys = this.#byId.get(hit.entry.id);
    keys?.delete(key);
    if (keys?.size === 0) this.#byId.delete(hit.entry.id);
  }
}
