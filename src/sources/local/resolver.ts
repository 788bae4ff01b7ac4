import type { BigIntStats } from 'node:fs';
import { FsError } from '../../core/fs-error.ts';
import { LOCAL_BITS, LOCAL_MASK, type NodeId } from '../../core/ids.ts';
import { isGone, lstatBig, lstatMaybe, lstatSoon } from './fast-stat.ts';
import { isDirStat, type StatFields } from './local-attr.ts';

const toResolved = (
  st: BigIntStats,
  local: number,
  path: string,
  parent: number,
  name: string,
): Resolved => ({
  local,
  path,
  st,
  parent,
  name,
});

/** Receives a resolved id without an intermediate object (the getattr hot path). */
export type ResolvedFn<T> = (st: BigIntStats, local: number, path: string, parent: number, name: string) => T;
import { type IdTable, ROOT_LOCAL } from './id-table.ts';
import { childPath } from '../../core/names.ts';

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
  readonly #highBits = ~LOCAL_MASK;
  readonly #absDirs = new Map<number, string>();
  #absEpoch = -1;
  /** Whether `local` is a created file not yet visible or has a commit in flight (set by the file layer). */
  busy: (local: number) => boolean = () => false;
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
    const low = id & LOCAL_MASK;
    if ((id & this.#highBits) !== this.#exportBits || low === 0n) throw FsError.ESTALE(op, id.toString());
    return Number(low);
  }

  /** Absolute path of a path relative to the root ('' is the root). */
  abs(rel: string): string {
    return rel === '' ? this.rootPath : `${this.#prefix}/${rel}`;
  }

  /** Absolute path of `name` inside the directory at `dirPath`. */
  child(dirPath: string, name: string): string {
    return childPath(dirPath, name);
  }

  /** Path of a known directory from the id map alone (no check; cached until a directory moves). */
  dirPath(local: number): string | undefined {
    if (this.#absEpoch !== this.table.pathEpoch) {
      this.#absDirs.clear();
      this.#absEpoch = this.table.pathEpoch;
    }
    let path = this.#absDirs.get(local);
    if (path !== undefined) return path;
    const rel = this.table.relPath(local);
    if (rel === undefined) return undefined;
    path = this.abs(rel);
    if (local === ROOT_LOCAL || this.table.node(local)?.dir) this.#absDirs.set(local, path);
    return path;
  }

  /** The local id of an inode (allocating one if needed) and record where it was seen. */
  learn(parent: number, name: string, st: StatFields): number {
    const local = this.table.idFor(st.dev, st.ino, true)!;
    this.table.learn(local, parent, name, isDirStat(st));
    return local;
  }

  /** The local id of an inode if it already has one. */
  peek(st: BigIntStats): number | undefined {
    return this.table.idFor(st.dev, st.ino, false);
  }

  /** Resolve an id (or local id) to its current path; ESTALE when its file is gone. */
  resolve(id: NodeId | number, op: string, opts?: { noWait?: boolean }): Promise<Resolved> {
    if (opts?.noWait) return this.#resolve(typeof id === 'number' ? id : this.localOf(id, op), op, false);
    return this.resolveWith(id, op, toResolved);
  }

  /**
   * Resolve and map in one step: on the fast path (the primary location still holds the
   * inode, nearly every call) `map` runs inside the `lstat` callback, one promise per call.
   * Rejects only with FsErrors (a bad id throws one synchronously).
   */
  resolveWith<T>(id: NodeId | number, op: string, map: ResolvedFn<T>): Promise<T> {
    const local = typeof id === 'number' ? id : this.localOf(id, op);
    const loc = local === ROOT_LOCAL ? undefined : this.table.node(local)?.locs[0];
    if (loc !== undefined && !this.busy(local)) {
      const dirPath = this.dirPath(loc.parent);
      if (dirPath !== undefined) {
        const path = this.child(dirPath, loc.name);
        return new Promise<T>((resolve, reject) => {
          lstatSoon(path, (err, st) => {
            if (err === null && this.table.idFor(st.dev, st.ino, false) === local) {
              try {
                resolve(map(st, local, path, loc.parent, loc.name));
              } catch (e) {
                reject(FsError.from(e, op, this.idOf(local).toString()));
              }
            } else if (err !== null && !isGone(err)) {
              reject(FsError.from(err, op, this.idOf(local).toString()));
            } else {
              resolve(this.#slowWith(local, op, map));
            }
          });
        });
      }
    }
    return this.#slowWith(local, op, map);
  }

  /** The slow path of `resolveWith`; like the fast one it rejects only with FsErrors. */
  #slowWith<T>(local: number, op: string, map: ResolvedFn<T>): Promise<T> {
    return this.#resolveWaiting(local, op).then(
      (r) => map(r.st, r.local, r.path, r.parent, r.name),
      (err: unknown) => {
        throw FsError.from(err, op, this.idOf(local).toString());
      },
    );
  }

  async #resolveWaiting(local: number, op: string): Promise<Resolved> {
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
    if (!isDirStat(r.st))
      throw FsError.ENOTDIR(op, typeof id === 'number' ? this.idOf(id).toString() : id.toString());
    return r;
  }

  async #resolve(local: number, op: string, wait: boolean): Promise<Resolved> {
    if (local === ROOT_LOCAL) {
      const st = await lstatBig(this.rootPath);
      if (st.ino !== this.#rootIno || st.dev !== this.#rootDev) throw this.#stale(local, op);
      return { local, path: this.rootPath, st, parent: 0, name: '' };
    }
    const commit = wait ? this.committing(local) : undefined;
    if (commit !== undefined) await commit;
    const pending = this.pending(local);
    if (pending !== undefined) {
      const dirPath = this.dirPath(pending.dir);
      if (dirPath === undefined) throw this.#stale(local, op);
      const path = this.child(dirPath, pending.tmpName);
      const st = await lstatMaybe(path);
      if (st === undefined || this.peek(st) !== local) throw this.#stale(local, op);
      return { local, path, st, parent: pending.dir, name: pending.tmpName };
    }
    const node = this.table.node(local);
    if (node === undefined) throw this.#stale(local, op);
    let tried = 0;
    for (let i = 0; i < node.locs.length; i++) {
      const loc = node.locs[i]!;
      const dirPath = this.dirPath(loc.parent);
      if (dirPath === undefined) continue;
      const path = this.child(dirPath, loc.name);
      tried++;
      const st = await lstatMaybe(path);
      if (st !== undefined && this.table.idFor(st.dev, st.ino, false) === local) {
        if (i > 0) this.table.promote(local, i);
        return { local, path, st, parent: loc.parent, name: loc.name };
      }
    }
    // Every place it was seen now holds something else or nothing: forget it.
    if (tried > 0 && wait && this.committing(local) === undefined && this.pending(local) === undefined) {
      this.table.forget(local);
    }
    throw this.#stale(local, op);
  }

  #stale(local: number, op: string): FsError {
    return FsError.ESTALE(op, this.idOf(local).toString());
  }
}
