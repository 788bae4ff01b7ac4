/**
 * Local parts of ids at or above this are handed out from a persisted counter: objects on
 * another device than the export root, inode numbers too large to embed, and the ino 1 when
 * the root's own ino cannot take its place. Everything below is the inode number itself.
 */
export const ALLOC_BASE = 2 ** 47;
const ALLOC_BASE_BIG = BigInt(ALLOC_BASE);
const MAX_LOCAL = 2 ** 48 - 1;
/** The export root's local id. */
export const ROOT_LOCAL = 1;
/** Hard-link names remembered per object (the most recently seen first). */
const MAX_LOCATIONS = 4;
/** Deeper chains than this are treated as corrupt (a cycle) rather than walked. */
const MAX_DEPTH = 4096;

/** Where an object was last seen: a name in a directory (by local id). */
export interface Location {
  parent: number;
  name: string;
}

/** What the table knows of one object. `locs[0]` is the primary location. */
export interface IdNode {
  locs: Location[];
  dir: boolean;
}

/**
 * One change of the table, as the journal stores it (a JSON array per line).
 * - `L id parent name dir`: location learned (added or promoted to primary)
 * - `D id parent name`: location dropped; `F id`: object forgotten
 * - `B id key gen`: id bound to an inode key; `U id`: binding dropped; `N next`: counter
 * - `T dir name` / `X dir name`: a temp file was made / is gone
 */
export type IdRecord =
  | ['L', number, number, string, 0 | 1]
  | ['D', number, number, string]
  | ['F', number]
  | ['B', number, string, number]
  | ['U', number]
  | ['N', number]
  | ['T', number, string]
  | ['X', number, string];

/**
 * The id map of a local export: inode ↔ id bindings plus id → {parent id, name}, a tree, so a
 * rename updates one entry. Ids are the inode number (root swapped with ino 1) unless bound
 * explicitly: another device, a huge inode number, or a file replaced by an atomic write
 * (its id then follows the new inode). Every change is reported to `sink` for the journal.
 */
export class IdTable {
  readonly #rootDev: bigint;
  readonly #rootIno: bigint;
  /** Local id the ino 1 takes (the root's ino), when that fits below ALLOC_BASE. */
  readonly #inoOneLocal: number | undefined;
  readonly #boundByIno = new Map<number, number>();
  readonly #boundByKey = new Map<string, number>();
  readonly #keyOfId = new Map<number, string>();
  readonly #genOfId = new Map<number, number>();
  readonly #nodes = new Map<number, IdNode>();
  readonly #temps = new Map<string, { dir: number; name: string }>();
  /** relPath of directories, cleared whenever any directory's location changes. */
  readonly #dirPaths = new Map<number, string>();
  #pathEpoch = 0;
  #next = ALLOC_BASE;
  #sink: ((rec: IdRecord) => void) | undefined;
  /** Called when a directory becomes known (for watchers). */
  onDir: ((local: number) => void) | undefined;

  constructor(opts: { rootDev: bigint; rootIno: bigint }) {
    this.#rootDev = opts.rootDev;
    this.#rootIno = opts.rootIno;
    this.#inoOneLocal = opts.rootIno < ALLOC_BASE_BIG ? Number(opts.rootIno) : undefined;
  }

  /** Start reporting changes (after a replay). */
  setSink(sink: ((rec: IdRecord) => void) | undefined): void {
    this.#sink = sink;
  }

  /** Changes whenever a placed path may have changed (callers caching paths compare it). */
  get pathEpoch(): number {
    return this.#pathEpoch;
  }

  #invalidatePaths(): void {
    this.#dirPaths.clear();
    this.#pathEpoch++;
  }

  /** Number of objects with a known location. */
  get size(): number {
    return this.#nodes.size;
  }

  /**
   * The local id of the inode `(dev, ino)`. With `allocate` false an inode that would need a
   * new allocated id answers undefined (used to verify that a path still holds an id).
   */
  idFor(dev: bigint, ino: bigint, allocate: boolean): number | undefined {
    let key: string;
    if (dev === this.#rootDev && ino < ALLOC_BASE_BIG) {
      if (ino === this.#rootIno) return ROOT_LOCAL;
      const n = Number(ino);
      if (this.#boundByIno.size > 0) {
        const bound = this.#boundByIno.get(n);
        if (bound !== undefined) return bound;
      }
      const natural = n === ROOT_LOCAL ? this.#inoOneLocal : n;
      if (natural !== undefined && !this.#keyOfId.has(natural)) return natural;
      key = String(n);
    } else {
      if (dev === this.#rootDev && ino === this.#rootIno) return ROOT_LOCAL;
      key = `${dev}:${ino}`;
      const bound = this.#boundByKey.get(key);
      if (bound !== undefined) return bound;
    }
    return allocate ? this.#allocate(key) : undefined;
  }

  /**
   * The inode `local` names now, from the table alone (the inverse of `idFor`), or undefined
   * when the table cannot tell.
   */
  inodeOf(local: number): { dev: bigint; ino: bigint } | undefined {
    if (local === ROOT_LOCAL) return { dev: this.#rootDev, ino: this.#rootIno };
    const key = this.#keyOfId.get(local);
    let dev = this.#rootDev;
    let ino: bigint;
    if (key === undefined) ino = BigInt(local);
    else {
      const colon = key.indexOf(':');
      if (colon < 0) ino = BigInt(key);
      else {
        dev = BigInt(key.slice(0, colon));
        ino = BigInt(key.slice(colon + 1));
      }
    }
    return this.idFor(dev, ino, false) === local ? { dev, ino } : undefined;
  }

  /** The binding key of an inode (see `bind`). */
  keyOf(dev: bigint, ino: bigint): string {
    return dev === this.#rootDev && ino < ALLOC_BASE_BIG ? String(ino) : `${dev}:${ino}`;
  }

  /** Generation recorded for an id whose inode was replaced, so it survives the replacement. */
  genOf(local: number): number | undefined {
    return this.#genOfId.size === 0 ? undefined : this.#genOfId.get(local);
  }

  /** Make `local` name the inode `key` from now on (an atomic replacement). */
  bind(local: number, key: string, gen: number): void {
    this.#bind(local, key, gen);
    this.#emit(['B', local, key, gen]);
  }

  /** Drop an explicit binding (its file is gone). */
  unbind(local: number): void {
    if (!this.#keyOfId.has(local)) return;
    this.#unbind(local);
    this.#emit(['U', local]);
  }

  #allocate(key: string): number {
    if (this.#next > MAX_LOCAL) throw new RangeError('local id space exhausted');
    const local = this.#next++;
    this.#bind(local, key, 0);
    this.#emit(['N', this.#next]);
    this.#emit(['B', local, key, 0]);
    return local;
  }

  #bind(local: number, key: string, gen: number): void {
    this.#unbind(local);
    const previous = this.#lookupKey(key);
    if (previous !== undefined) this.#unbind(previous);
    if (/^[0-9]+$/.test(key)) this.#boundByIno.set(Number(key), local);
    else this.#boundByKey.set(key, local);
    this.#keyOfId.set(local, key);
    if (gen !== 0) this.#genOfId.set(local, gen);
    if (local >= this.#next) this.#next = local + 1;
  }

  #unbind(local: number): void {
    const key = this.#keyOfId.get(local);
    if (key === undefined) return;
    this.#keyOfId.delete(local);
    this.#genOfId.delete(local);
    if (/^[0-9]+$/.test(key)) this.#boundByIno.delete(Number(key));
    else this.#boundByKey.delete(key);
  }

  #lookupKey(key: string): number | undefined {
    return /^[0-9]+$/.test(key) ? this.#boundByIno.get(Number(key)) : this.#boundByKey.get(key);
  }

  /** What is known of `local`, if anything. */
  node(local: number): IdNode | undefined {
    return this.#nodes.get(local);
  }

  /** Record that `local` is named `name` in `parent` (it becomes the primary location). */
  learn(local: number, parent: number, name: string, dir: boolean): void {
    if (local === ROOT_LOCAL) return;
    const node = this.#nodes.get(local);
    if (node !== undefined) {
      const first = node.locs[0];
      if (first !== undefined && first.parent === parent && first.name === name && node.dir === dir) return;
    }
    this.#learn(local, parent, name, dir);
    this.#emit(['L', local, parent, name, dir ? 1 : 0]);
  }

  #learn(local: number, parent: number, name: string, dir: boolean): void {
    const node = this.#nodes.get(local);
    if (node === undefined) {
      // A new object cannot be on any placed path: the directory path cache stays valid.
      this.#nodes.set(local, { locs: [{ parent, name }], dir });
      if (dir) this.onDir?.(local);
      return;
    }
    const at = node.locs.findIndex((l) => l.parent === parent && l.name === name);
    if (at !== 0 || node.dir !== dir) this.#invalidatePaths();
    const loc = at >= 0 ? node.locs.splice(at, 1)[0]! : { parent, name };
    node.locs.unshift(loc);
    if (node.locs.length > MAX_LOCATIONS) node.locs.length = MAX_LOCATIONS;
    if (dir && !node.dir) this.onDir?.(local);
    node.dir = dir;
  }

  /** Make the `index`-th location primary (it was found valid while the primary was not). */
  promote(local: number, index: number): void {
    const loc = this.#nodes.get(local)?.locs[index];
    if (loc && index > 0) this.learn(local, loc.parent, loc.name, this.#nodes.get(local)!.dir);
  }

  /** Forget that `local` is named `name` in `parent` (unlinked or renamed away). */
  drop(local: number, parent: number, name: string): void {
    const node = this.#nodes.get(local);
    if (!node || !node.locs.some((l) => l.parent === parent && l.name === name)) return;
    this.#drop(local, parent, name);
    this.#emit(['D', local, parent, name]);
  }

  #drop(local: number, parent: number, name: string): void {
    const node = this.#nodes.get(local);
    if (!node) return;
    this.#invalidatePaths();
    node.locs = node.locs.filter((l) => l.parent !== parent || l.name !== name);
    if (node.locs.length === 0) this.#nodes.delete(local);
  }

  /** Forget every location of `local` (its file is gone). */
  forget(local: number): void {
    if (!this.#nodes.delete(local)) return;
    this.#invalidatePaths();
    this.#emit(['F', local]);
  }

  /**
   * The '/'-joined names from the export root to `local` through primary locations ('' for
   * the root), or undefined when a link of the chain is unknown.
   */
  relPath(local: number): string | undefined {
    if (local === ROOT_LOCAL) return '';
    const cached = this.#dirPaths.get(local);
    if (cached !== undefined) return cached;
    const node = this.#nodes.get(local);
    if (node === undefined) return undefined;
    const first = node.locs[0]!;
    // Common case: the parent is the root or already placed.
    const parentRel = first.parent === ROOT_LOCAL ? '' : this.#dirPaths.get(first.parent);
    if (parentRel !== undefined) {
      const rel = parentRel === '' ? first.name : `${parentRel}/${first.name}`;
      if (node.dir) this.#dirPaths.set(local, rel);
      return rel;
    }
    // Walk up to the root or a placed directory, then place every directory on the way.
    const chain: number[] = [];
    let prefix = '';
    for (let cur = local; ;) {
      if (chain.length > MAX_DEPTH) return undefined;
      const n = this.#nodes.get(cur);
      if (n === undefined) return undefined;
      chain.push(cur);
      const parent = n.locs[0]!.parent;
      if (parent === ROOT_LOCAL) break;
      const known = this.#dirPaths.get(parent);
      if (known !== undefined) {
        prefix = known;
        break;
      }
      cur = parent;
    }
    let rel = prefix;
    for (let i = chain.length - 1; i >= 0; i--) {
      const n = this.#nodes.get(chain[i]!)!;
      const name = n.locs[0]!.name;
      rel = rel === '' ? name : `${rel}/${name}`;
      if (n.dir) this.#dirPaths.set(chain[i]!, rel);
    }
    return rel;
  }

  /** Whether `ancestor` is on the primary chain from `local` up to the root. */
  isAncestor(ancestor: number, local: number): boolean {
    let cur: number | undefined = local;
    for (let depth = 0; cur !== undefined && depth <= MAX_DEPTH; depth++) {
      if (cur === ancestor) return true;
      if (cur === ROOT_LOCAL) return false;
      cur = this.#nodes.get(cur)?.locs[0]?.parent;
    }
    return false;
  }

  /** Known directories (for watchers). */
  *dirs(): IterableIterator<number> {
    for (const [local, node] of this.#nodes) if (node.dir) yield local;
  }

  /** Remember a temp file so it can be removed after a crash. */
  addTemp(dir: number, name: string): void {
    this.#temps.set(`${dir}/${name}`, { dir, name });
    this.#emit(['T', dir, name]);
  }

  /** The temp file is gone (committed or removed). */
  removeTemp(dir: number, name: string): void {
    if (!this.#temps.delete(`${dir}/${name}`)) return;
    this.#emit(['X', dir, name]);
  }

  /** Temp files recorded and not yet removed. */
  temps(): { dir: number; name: string }[] {
    return [...this.#temps.values()];
  }

  /** Apply one journal record (during replay; nothing is reported). Malformed ones are skipped. */
  replay(rec: unknown): void {
    if (!Array.isArray(rec)) return;
    const [t, a, b, c, d] = rec as unknown[];
    const isLocal = (v: unknown): v is number =>
      Number.isSafeInteger(v) && (v as number) > 0 && (v as number) <= MAX_LOCAL;
    switch (t) {
      case 'L':
        if (isLocal(a) && isLocal(b) && typeof c === 'string' && c.length > 0) this.#learn(a, b, c, d === 1);
        break;
      case 'D':
        if (isLocal(a) && isLocal(b) && typeof c === 'string') this.#drop(a, b, c);
        break;
      case 'F':
        if (isLocal(a)) {
          this.#nodes.delete(a);
          this.#invalidatePaths();
        }
        break;
      case 'B':
        if (isLocal(a) && typeof b === 'string' && /^[0-9]+(:[0-9]+)?$/.test(b)) {
          this.#bind(a, b, Number.isSafeInteger(c) ? (c as number) : 0);
        }
        break;
      case 'U':
        if (isLocal(a)) this.#unbind(a);
        break;
      case 'N':
        if (isLocal(a) && a > this.#next) this.#next = a;
        break;
      case 'T':
        if (isLocal(a) && typeof b === 'string') this.#temps.set(`${a}/${b}`, { dir: a, name: b });
        break;
      case 'X':
        if (isLocal(a) && typeof b === 'string') this.#temps.delete(`${a}/${b}`);
        break;
    }
  }

  /**
   * The whole state as records (for compaction). Objects whose chain no longer reaches the
   * root are left out: nothing can resolve them.
   */
  snapshot(): IdRecord[] {
    const out: IdRecord[] = [['N', this.#next]];
    for (const [local, key] of this.#keyOfId) out.push(['B', local, key, this.#genOfId.get(local) ?? 0]);
    const reach = new Map<number, boolean>([[ROOT_LOCAL, true]]);
    const reaches = (start: number): boolean => {
      const chain: number[] = [];
      let cur: number | undefined = start;
      let ok = false;
      while (cur !== undefined) {
        const known = reach.get(cur);
        if (known !== undefined) {
          ok = known;
          break;
        }
        if (chain.length > MAX_DEPTH) break;
        chain.push(cur);
        reach.set(cur, false); // provisional: a cycle resolves to unreachable
        cur = this.#nodes.get(cur)?.locs[0]?.parent;
      }
      for (const c of chain) reach.set(c, ok);
      return ok;
    };
    for (const [local, node] of this.#nodes) {
      if (!reaches(local)) continue;
      // Oldest first, so replaying "learn" rebuilds the same order.
      for (let i = node.locs.length - 1; i >= 0; i--) {
        const loc = node.locs[i]!;
        out.push(['L', local, loc.parent, loc.name, node.dir ? 1 : 0]);
      }
    }
    for (const t of this.#temps.values()) out.push(['T', t.dir, t.name]);
    return out;
  }

  #emit(rec: IdRecord): void {
    this.#sink?.(rec);
  }
}
