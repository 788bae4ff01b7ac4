import type { Attr } from '../../core/attr.ts';
import type { NodeId } from '../../core/ids.ts';
import type { DirEntry, Entry } from '../../sources/source.ts';

/** A complete directory listing as cached: entries in the Source's order, and by name. */
export interface Listing {
  entries: readonly DirEntry[];
  byName: ReadonlyMap<string, DirEntry>;
}

interface Timed<T> {
  value: T;
  at: number;
}

/**
 * Attribute, name and directory caches. Entries are dropped by invalidations (pushed by the
 * Source) and expire after `ttlMs` as a backstop. An answer is cached only if no invalidation
 * arrived while it was being fetched ({@link epoch}), so a reply that raced a change never
 * overwrites the invalidation.
 */
export class MetaCache {
  readonly #attrs = new Map<NodeId, Timed<Attr>>();
  readonly #names = new Map<string, Timed<NodeId>>();
  readonly #dirs = new Map<NodeId, Timed<Listing>>();
  /** Which id a name was last seen bound to (to drop that id's attr when the name changes). */
  readonly #bindings = new Map<string, NodeId>();
  /** The directory whose cached listing holds an id (its attr is in that listing too). */
  readonly #parentOf = new Map<NodeId, NodeId>();
  #epoch = 0;

  constructor(private readonly opts: { ttlMs: number; maxEntries: number }) {}

  /** Changes with every invalidation; compare before and after a fetch. */
  get epoch(): number {
    return this.#epoch;
  }

  #fresh<T>(t: Timed<T> | undefined): T | undefined {
    if (t === undefined) return undefined;
    return performance.now() - t.at <= this.opts.ttlMs ? t.value : undefined;
  }

  attr(id: NodeId): Attr | undefined {
    return this.#fresh(this.#attrs.get(id));
  }

  /** The cached entry `name` in `parent`: `null` when a cached listing says there is none. */
  lookup(parent: NodeId, name: string): Entry | null | undefined {
    const listing = this.listing(parent);
    if (listing !== undefined) {
      const e = listing.byName.get(name);
      if (e === undefined) return null;
      const attr = this.attr(e.id) ?? e.attr;
      return { id: e.id, attr };
    }
    const id = this.#fresh(this.#names.get(`${parent}/${name}`));
    if (id === undefined) return undefined;
    const attr = this.attr(id);
    return attr === undefined ? undefined : { id, attr };
  }

  listing(dir: NodeId): Listing | undefined {
    return this.#fresh(this.#dirs.get(dir));
  }

  /** Record an attr fetched when the epoch was `epoch`. */
  putAttr(id: NodeId, attr: Attr, epoch: number): void {
    if (epoch !== this.#epoch) return;
    this.#bound(this.#attrs);
    this.#attrs.set(id, { value: attr, at: performance.now() });
  }

  /** Remember that `name` in `parent` is `id`, for invalidation only (lookups still ask). */
  bind(parent: NodeId, name: string, id: NodeId): void {
    this.#bound(this.#bindings);
    this.#bindings.set(`${parent}/${name}`, id);
  }

  putEntry(parent: NodeId, name: string, entry: Entry, epoch: number): void {
    this.bind(parent, name, entry.id);
    if (epoch !== this.#epoch) return;
    this.#bound(this.#names);
    this.#names.set(`${parent}/${name}`, { value: entry.id, at: performance.now() });
    this.putAttr(entry.id, entry.attr, epoch);
  }

  putListing(dir: NodeId, entries: readonly DirEntry[], epoch: number): void {
    if (epoch !== this.#epoch) return;
    const at = performance.now();
    this.#bound(this.#dirs);
    this.#dirs.set(dir, { value: { entries, byName: new Map(entries.map((e) => [e.name, e])) }, at });
    for (const e of entries) {
      this.#bound(this.#attrs);
      this.#attrs.set(e.id, { value: e.attr, at });
      this.#bound(this.#parentOf);
      this.#parentOf.set(e.id, dir);
      this.bind(dir, e.name, e.id);
    }
  }

  /** The content or attributes of `id` changed (for a directory: also its entries). */
  dropAttr(id: NodeId): void {
    this.#epoch++;
    this.#attrs.delete(id);
    this.#dirs.delete(id);
    // A cached listing carries the old attr too.
    const parent = this.#parentOf.get(id);
    if (parent !== undefined) this.#dirs.delete(parent);
  }

  /** The entry `name` of `parent` changed: the name, the listing and the parent's attrs go. */
  dropEntry(parent: NodeId, name: string): void {
    this.#epoch++;
    const key = `${parent}/${name}`;
    const id =
      this.#bindings.get(key) ??
      this.#names.get(key)?.value ??
      this.#dirs.get(parent)?.value.byName.get(name)?.id;
    if (id !== undefined) {
      this.#attrs.delete(id);
      const other = this.#parentOf.get(id);
      if (other !== undefined) this.#dirs.delete(other);
    }
    this.#names.delete(key);
    this.#dirs.delete(parent);
    this.#attrs.delete(parent);
  }

  /** Anything may have changed. */
  clear(): void {
    this.#epoch++;
    this.#attrs.clear();
    this.#names.clear();
    this.#dirs.clear();
    this.#parentOf.clear();
    this.#bindings.clear();
  }

  /** Keep a map under the size limit by dropping its oldest insertions. */
  #bound(map: Map<unknown, unknown>): void {
    if (map.size < this.opts.maxEntries) return;
    let drop = Math.ceil(this.opts.maxEntries / 10);
    for (const key of map.keys()) {
      map.delete(key);
      if (--drop <= 0) break;
    }
  }
}
