import type { Attr, FileKind } from '../../core/attr.ts';
import { nowNs } from '../../core/attr.ts';
import { FsError } from '../../core/fs-error.ts';
import { LockSpaces } from '../lock-table.ts';

/** One object in a memory tree. Keyed by its local id (the low 48 bits of a node id). */
export interface MemNode {
  local: bigint;
  kind: FileKind;
  mode: number;
  uid: number;
  gid: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  gen: number;
  /** Number of directory entries naming this node. */
  links: number;
  data: Buffer;
  /** File content length (data may have spare capacity). */
  size: number;
  children: Map<string, bigint> | undefined;
  /** Parent directory (directories only; they have exactly one). */
  parent: bigint | undefined;
  target: string | undefined;
  xattrs: Map<string, Buffer>;
  /** Open handles keeping an unlinked file alive. */
  opens: number;
  /** Its last name was removed: the id answers ESTALE even while a handle keeps it alive. */
  removed: boolean;
}

/** A change in the store, announced to every Source attached to it. */
export type StoreChange =
  { kind: 'entry'; parent: bigint; name: string } | { kind: 'data' | 'attr'; local: bigint };

/**
 * The data of a memory tree, separate from the adapter so several Sources can share it (a
 * read-only view, a restarted adapter, a writer "behind the back" of another).
 */
export class MemoryStore {
  readonly nodes = new Map<bigint, MemNode>();
  readonly locks = new LockSpaces();
  readonly #listeners = new Set<(change: StoreChange, origin: unknown) => void>();
  #nextLocal = 2n;
  #nextGen = 1;
  /** Bytes the store reports as its capacity in statfs. */
  readonly capacity: number;

  constructor(opts: { capacity?: number } = {}) {
    this.capacity = opts.capacity ?? 8 * 1024 ** 3;
    const root = this.#make('dir', 0o755);
    root.local = 1n;
    root.links = 1;
    root.parent = 1n;
    this.nodes.set(1n, root);
  }

  /** Subscribe to changes; `origin` tells a Source whether it made the change itself. */
  subscribe(listener: (change: StoreChange, origin: unknown) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  announce(change: StoreChange, origin: unknown): void {
    for (const l of this.#listeners) l(change, origin);
  }

  /** A node by local id; ESTALE when it is gone. */
  get(local: bigint, op: string): MemNode {
    const node = this.nodes.get(local);
    if (!node || node.removed) throw FsError.ESTALE(op, local.toString());
    return node;
  }

  dir(local: bigint, op: string): MemNode & { children: Map<string, bigint> } {
    const node = this.get(local, op);
    if (node.kind !== 'dir' || !node.children) throw FsError.ENOTDIR(op, local.toString());
    return node as MemNode & { children: Map<string, bigint> };
  }

  /** Allocate a node that no directory names yet. */
  allocate(kind: FileKind, mode: number): MemNode {
    const node = this.#make(kind, mode);
    node.local = this.#nextLocal++;
    this.nodes.set(node.local, node);
    return node;
  }

  /** Name `node` as `name` in `dir`, replacing (and releasing) what was there. */
  attach(dir: MemNode & { children: Map<string, bigint> }, name: string, node: MemNode): void {
    const old = dir.children.get(name);
    if (old !== undefined && old !== node.local) this.detach(dir, name);
    if (old === node.local) return;
    dir.children.set(name, node.local);
    node.links++;
    node.removed = false;
    if (node.kind === 'dir') node.parent = dir.local;
    this.touch(dir, 'mc');
    node.ctimeNs = nowNs();
  }

  /** Remove the entry `name` from `dir`; the node is freed once nothing names or holds it. */
  detach(dir: MemNode & { children: Map<string, bigint> }, name: string): void {
    const local = dir.children.get(name);
    if (local === undefined) return;
    dir.children.delete(name);
    this.touch(dir, 'mc');
    const node = this.nodes.get(local);
    if (!node) return;
    node.links--;
    node.ctimeNs = nowNs();
    if (node.links === 0) node.removed = true;
    this.release(node);
  }

  /** Drop a node that no entry names and no handle holds. */
  release(node: MemNode): void {
    if (node.links <= 0 && node.opens <= 0 && node.local !== 1n) this.nodes.delete(node.local);
  }

  /** Update times: 'a' access, 'm' modification, 'c' change. */
  touch(node: MemNode, which: string): void {
    const now = nowNs();
    if (which.includes('a')) node.atimeNs = now;
    if (which.includes('m')) node.mtimeNs = now;
    if (which.includes('c') || which.includes('m')) node.ctimeNs = now;
  }

  attrOf(node: MemNode, sizeOverride?: number): Attr {
    let nlink = node.links;
    if (node.kind === 'dir') {
      nlink = 2;
      for (const child of node.children?.values() ?? []) {
        if (this.nodes.get(child)?.kind === 'dir') nlink++;
      }
    }
    return {
      kind: node.kind,
      mode: node.mode,
      nlink,
      uid: node.uid,
      gid: node.gid,
      size: sizeOverride ?? (node.kind === 'symlink' ? Buffer.byteLength(node.target ?? '') : node.size),
      atimeNs: node.atimeNs,
      mtimeNs: node.mtimeNs,
      ctimeNs: node.ctimeNs,
      gen: node.gen,
    };
  }

  /** Bytes held by file contents (for statfs). */
  usedBytes(): number {
    let used = 0;
    for (const node of this.nodes.values()) used += node.size;
    return used;
  }

  #make(kind: FileKind, mode: number): MemNode {
    const now = nowNs();
    return {
      local: 0n,
      kind,
      mode: mode & 0o7777,
      uid: process.getuid?.() ?? 0,
      gid: process.getgid?.() ?? 0,
      atimeNs: now,
      mtimeNs: now,
      ctimeNs: now,
      gen: this.#nextGen++,
      links: 0,
      data: Buffer.alloc(0),
      size: 0,
      children: kind === 'dir' ? new Map() : undefined,
      parent: undefined,
      target: undefined,
      xattrs: new Map(),
      opens: 0,
      removed: false,
    };
  }
}

/** Grow-on-write byte buffer used for file contents and write staging. */
export function writeInto(state: { data: Buffer; size: number }, offset: number, bytes: Uint8Array): void {
  const end = offset + bytes.byteLength;
  if (end > state.data.length) {
    const grown = Buffer.alloc(Math.max(end, Math.min(state.data.length * 2, end + 64 * 1024 * 1024)));
    state.data.copy(grown, 0, 0, state.size);
    state.data = grown;
  }
  if (offset > state.size) state.data.fill(0, state.size, offset);
  state.data.set(bytes, offset);
  state.size = Math.max(state.size, end);
}

/** Truncate or extend (with zeros) to `size`. */
export function resizeTo(state: { data: Buffer; size: number }, size: number): void {
  if (size > state.data.length) {
    const grown = Buffer.alloc(size);
    state.data.copy(grown, 0, 0, state.size);
    state.data = grown;
  } else if (size > state.size) {
    state.data.fill(0, state.size, size);
  }
  state.size = size;
}
