import type { BigIntStats } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { FsError } from '../../core/fs-error.ts';
import { LOCAL_BITS, LOCAL_MASK, type NodeId } from '../../core/ids.ts';
import { type IdTable, ROOT_LOCAL } from './id-table.ts';

/** An id resolved to the path that holds it now, with that path's `lstat`. */
export interface Resolved {
  local: number;
  path: string;
  st: BigIntStats;
  /** The location that matched (the root has parent 0 and name ''). */
  parent: number;
  name: string;
}

/** Where a created file lives until its writer closes it (a temp name in its directory). */
export interface PendingPlace {
  dir: number;
  tmpName: string;
}

function isGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP' || code === 'ENAMETOOLONG';
}

/**
 * Turns ids into paths without trusting the paths: walk the id map to a path, `lstat` it
 * (never following a final symlink) and check the inode there still carries the id; gone
 * or different → ESTALE. A symlink swapped in for a directory on the way leads to another
 * inode, so the check refuses it too.
 */
export class Resolver {
  readonly table: IdTable;
  readonly rootPath: string;
  readonly #prefix: string;
  readonly #rootDev: bigint;
  readonly #rootIno: bigint;
  readonly #exportBits: bigint;
  /** Created files not yet visible (set by the file layer). */
  pending: (local: number) => PendingPlace | undefined = () => undefined;
  /** A commit replacing the inode of `local` in flight (set by the file layer). */
  committing: (local: number) => Promise<void> | undefined = () => undefined;

  constructor(opts: {
    rootPath: string;
    rootDev: bigint;
    rootIno: bigint;
    exportIndex: number;
    table: IdTable;
  }) {
    this.table = opts.table;
    this.rootPath = opts.rootPath;
    this.#prefix = opts.rootPath === '/' ? '' : opts.rootPath;
    this.#rootDev = opts.rootDev;
    this.#rootIno = opts.rootIno;
    this.#exportBits = BigInt(opts.exportIndex) << LOCAL_BITS;
  }

  /** The node id of a local id. */
  idOf(local: number): NodeId {
    return this.#exportBits | BigInt(local);
  }

  /** The local id of a node id; an id of another export cannot be ours → ESTALE. */
  localOf(id: NodeId, op: string): number {
    if ((id & ~LOCAL_MASK) !== this.#exportBits || (id & LOCAL_MASK) === 0n)
      throw FsError.ESTALE(op, id.toString());
    return Number(id & LOCAL_MASK);
  }

  /** Absolute path of a path relative to the root ('' is the root). */
  abs(rel: string): string {
    return rel === '' ? this.rootPath : `${this.#prefix}/${rel}`;
  }

  /** Absolute path of `name` inside the directory at `dirPath`. */
  child(dirPath: string, name: string): string {
    return dirPath === '/' ? `/${name}` : `${dirPath}/${name}`;
  }

  /** Path of a known directory from the id map alone (no check), for watchers. */
  dirPath(local: number): string | undefined {
    const rel = this.table.relPath(local);
    return rel === undefined ? undefined : this.abs(rel);
  }

  /** The local id of an inode (allocating one if needed) and record where it was seen. */
  learn(parent: number, name: string, st: BigIntStats): number {
    const local = this.table.idFor(st.dev, st.ino, true)!;
    this.table.learn(local, parent, name, st.isDirectory());
    return local;
  }

  /** The local id of an inode if it already has one. */
  peek(st: BigIntStats): number | undefined {
    return this.table.idFor(st.dev, st.ino, false);
  }

  /** Resolve an id (or local id) to its current path; ESTALE when its file is gone. */
  async resolve(id: NodeId | number, op: string, opts?: { noWait?: boolean }): Promise<Resolved> {
    const local = typeof id === 'number' ? id : this.localOf(id, op);
    if (opts?.noWait) return this.#resolve(local, op, false);
    try {
      return await this.#resolve(local, op, true);
    } catch (err) {
      // A commit may have swapped the inode under us between its rename and its rebind.
      const commit = this.committing(local);
      if (!FsError.is(err, 'ESTALE') || commit === undefined) throw err;
      await commit;
      return this.#resolve(local, op, true);
    }
  }

  /** Resolve a directory id; anything else (a symlink included) → ENOTDIR. */
  async resolveDir(id: NodeId | number, op: string): Promise<Resolved> {
    const r = await this.resolve(id, op);
    if (!r.st.isDirectory())
      throw FsError.ENOTDIR(op, typeof id === 'number' ? this.idOf(id).toString() : id.toString());
    return r;
  }

  async #resolve(local: number, op: string, wait: boolean): Promise<Resolved> {
    const stale = (): FsError => FsError.ESTALE(op, this.idOf(local).toString());
    if (local === ROOT_LOCAL) {
      const st = await lstat(this.rootPath, { bigint: true });
      if (st.ino !== this.#rootIno || st.dev !== this.#rootDev) throw stale();
      return { local, path: this.rootPath, st, parent: 0, name: '' };
    }
    const commit = wait ? this.committing(local) : undefined;
    if (commit !== undefined) await commit;
    const pending = this.pending(local);
    if (pending !== undefined) {
      const dirRel = this.table.relPath(pending.dir);
      if (dirRel === undefined) throw stale();
      const path = this.child(this.abs(dirRel), pending.tmpName);
      const st = await this.#lstat(path);
      if (st === undefined || this.peek(st) !== local) throw stale();
      return { local, path, st, parent: pending.dir, name: pending.tmpName };
    }
    const node = this.table.node(local);
    if (node === undefined) throw stale();
    let tried = 0;
    for (let i = 0; i < node.locs.length; i++) {
      const loc = node.locs[i]!;
      const dirRel = this.table.relPath(loc.parent);
      if (dirRel === undefined) continue;
      const path = this.child(this.abs(dirRel), loc.name);
      tried++;
      const st = await this.#lstat(path);
      if (st !== undefined && this.table.idFor(st.dev, st.ino, false) === local) {
        if (i > 0) this.table.promote(local, i);
        return { local, path, st, parent: loc.parent, name: loc.name };
      }
    }
    // Every place it was seen now holds something else or nothing: forget it.
    if (tried > 0 && wait && this.committing(local) === undefined && this.pending(local) === undefined) {
      this.table.forget(local);
    }
    throw stale();
  }

  async #lstat(path: string): Promise<BigIntStats | undefined> {
    try {
      return await lstat(path, { bigint: true });
    } catch (err) {
      if (isGone(err)) return undefined;
      throw err;
    }
  }
}
