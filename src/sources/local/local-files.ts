import { constants, type BigIntStats } from 'node:fs';
import { chmod, lchown, rename, rm } from 'node:fs/promises';
import { FsError } from '../../core/fs-error.ts';
import type { NodeId } from '../../core/ids.ts';
import { type Handle, type OpenFlags, opensForWrite } from '../source.ts';
import { lstatMaybe } from './fast-stat.ts';
import { genOf, isDirStat, type StatFields } from './local-attr.ts';
import { LocalFd } from './local-fd.ts';
import type { LocalLocks } from './local-locks.ts';
import type { CreatePublish, DirectWriter, XattrOps } from './local-platform.ts';
import type { PendingPlace, Resolved, Resolver } from './resolver.ts';
import { renameNoReplace } from './rename-noreplace.ts';
import { copyToNew, refuseReserved, tempName } from './temp-files.ts';
import { DIRECT_FROM, WriteQueue } from './write-queue.ts';

const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const O_NONBLOCK = constants.O_NONBLOCK ?? 0;

/** Reads above this size are clamped to the file size first (no huge allocation for a short file). */
const CLAMP_READS_ABOVE = 4 << 20;

/** A created file waiting for its writer's close to appear under its name. */
interface PendingCreate extends PendingPlace {
  name: string;
  exclusive: boolean;
  handle: Handle;
}

/** A private copy an existing file is written through, replacing it at close. */
interface Stage {
  /** Directory (local id) the temp file is in. */
  dir: number;
  tmpName: string;
  st: BigIntStats;
}

/**
 * One open file. Modes: `read` (the file itself, read-only); `direct` (writes go to the file
 * itself: a created file not yet visible, or a hard-linked file whose other names must see
 * the writes); `lazy` (opened for writing, nothing written yet: reads use the file, the
 * first write makes the private copy); `staged` (reads and writes use the private copy).
 */
export interface LocalHandle {
  readonly handle: Handle;
  readonly local: number;
  readonly flags: OpenFlags;
  readonly writable: boolean;
  mode: 'read' | 'direct' | 'lazy' | 'staged';
  fh: LocalFd;
  /** The original file, kept open after staging for reads still in flight on it. */
  orig: LocalFd | undefined;
  stage: Stage | undefined;
  created: PendingCreate | undefined;
  /** Something was written or truncated: the copy must replace the file at close. */
  dirty: boolean;
  staging: Promise<void> | undefined;
  /** Positioned writes, one system call at a time (made on the first one). */
  writes?: WriteQueue | undefined;
  /** Lock owners used through this handle (released at close). */
  readonly owners: Set<string>;
}

function isGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

async function closeQuietly(fh: LocalFd | undefined): Promise<void> {
  await fh?.close().catch(() => undefined);
}

/** What a promise came to, without rejecting: its value, or what it failed with. */
type Settled<T> = { ok: T } | { err: unknown };

function settled<T>(p: Promise<T>): Promise<Settled<T>> {
  return p.then(
    (ok) => ({ ok }),
    (err: unknown) => ({ err }),
  );
}

/** The value of a settled promise, or its failure thrown. */
async function unwrap<T>(s: Promise<Settled<T>>): Promise<T> {
  const got = await s;
  if ('err' in got) throw got.err;
  return got.ok;
}

/**
 * Open files of a local export and the atomic-write machinery: a created file is written
 * under a temp name in its directory and renamed (or, for `exclusive`, hard-linked, which
 * fails EEXIST without clobbering) to its name at close; an existing file opened for writing
 * is copied (reflink where possible) on the first write and the copy renamed over it at
 * close, the id following the new inode. Hard-linked files are written in place, so every
 * name keeps seeing one file.
 */
export class LocalFiles {
  readonly #resolver: Resolver;
  readonly #locks: LocalLocks;
  readonly #xattr: XattrOps | undefined;
  readonly #direct: DirectWriter | undefined;
  readonly #renameNoReplace: ((from: string, to: string) => Promise<void>) | undefined;
  readonly #native: CreatePublish | undefined;
  readonly #handles = new Map<Handle, LocalHandle>();
  readonly #pending = new Map<number, PendingCreate>();
  readonly #commits = new Map<number, Promise<void>>();
  #next = 1;

  constructor(opts: {
    resolver: Resolver;
    locks: LocalLocks;
    xattr?: XattrOps | undefined;
    directWrite?: DirectWriter | undefined;
    renameNoReplace?: ((from: string, to: string) => Promise<void>) | undefined;
    /** One-job creates and publishing closes (see `closeWithWrite`). */
    createPublish?: CreatePublish | undefined;
  }) {
    this.#resolver = opts.resolver;
    this.#locks = opts.locks;
    this.#xattr = opts.xattr;
    this.#direct = opts.directWrite;
    this.#renameNoReplace = opts.renameNoReplace;
    this.#native = opts.createPublish;
    opts.resolver.pending = (local) => this.#pending.get(local);
    opts.resolver.committing = (local) => this.#commits.get(local);
    opts.resolver.busy = (local) =>
      (this.#pending.size > 0 && this.#pending.has(local)) ||
      (this.#commits.size > 0 && this.#commits.has(local));
  }

  /** The open handle, or EBADF. */
  get(handle: Handle, op: string): LocalHandle {
    const h = this.#handles.get(handle);
    if (h === undefined) throw FsError.EBADF(op, String(handle), 'no such open handle');
    return h;
  }

  has(handle: Handle): boolean {
    return this.#handles.has(handle);
  }

  /** Whether a temp file belongs to a live handle (so a sweep must leave it alone). */
  ownsTemp(dir: number, name: string): boolean {
    for (const h of this.#handles.values()) {
      const place = h.created ?? h.stage;
      if (place && place.dir === dir && place.tmpName === name) return true;
    }
    return false;
  }

  /** Handles writing a private copy of `local` (so attribute changes reach the copy too). */
  stagedFor(local: number): LocalHandle[] {
    return [...this.#handles.values()].filter((h) => h.local === local && h.stage !== undefined);
  }

  async open(id: NodeId, flags: OpenFlags): Promise<Handle> {
    const writable = opensForWrite(flags);
    const r = await this.#resolver.resolve(id, 'open');
    checkOpenable(r, id);
    const append = flags.append ? constants.O_APPEND : 0;
    const h = this.#newHandle(r.local, flags, writable);
    try {
      if (!writable) {
        h.fh = await this.#openVerified(r, constants.O_RDONLY);
        h.mode = 'read';
      } else if (this.#pending.has(r.local) || r.st.nlink > 1n) {
        h.fh = await this.#openVerified(r, constants.O_RDWR | append);
        if (flags.truncate) await h.fh.truncate(0);
        h.mode = 'direct';
      } else if (flags.truncate) {
        await this.#stageEmpty(h, r);
      } else {
        h.fh = await this.#openVerified(r, constants.O_RDONLY);
        h.mode = 'lazy';
      }
    } catch (err) {
      await closeQuietly(h.fh);
      throw err;
    }
    this.#handles.set(h.handle, h);
    return h.handle;
  }

  async create(req: {
    parent: NodeId;
    name: string;
    mode: number;
    exclusive?: boolean | undefined;
    flags?: OpenFlags | undefined;
  }): Promise<{ local: number; st: StatFields; handle: Handle }> {
    refuseReserved('create', req.name);
    const flags: OpenFlags = { read: req.flags?.read ?? true, write: true, append: req.flags?.append };
    const tmpName = tempName();
    const want = req.mode & 0o7777;
    const parent = this.#resolver.localOf(req.parent, 'create');
    const mapped = this.#resolver.dirPath(parent);
    const native = this.#native;
    const inode = native && mapped !== undefined ? this.#resolver.table.inodeOf(parent) : undefined;
    if (native && mapped !== undefined && inode) {
      // One job: the directory's check, the name's lstat, the temp file's open and fstat.
      const got = await native.createTemp({
        dir: mapped,
        ...inode,
        name: req.name,
        tmpName,
        mode: want,
        append: flags.append === true,
      });
      if (got.kind === 'created')
        return this.#created(new LocalFd(got.fd), got.st, { dir: parent, path: mapped }, tmpName, req, flags);
      if (got.kind === 'exists') {
        if (req.exclusive) throw FsError.EEXIST('create', req.name);
        if (isDirStat(got.st)) throw FsError.EISDIR('create', req.name);
      }
      // The directory moved, or a file is to be replaced: the general way below.
    }
    const { dir, existing } = await this.#dirAndEntry(req.parent, req.name, mapped);
    if (existing && req.exclusive) throw FsError.EEXIST('create', req.name);
    if (existing?.isDirectory()) throw FsError.EISDIR('create', req.name);
    // Only once the directory is checked: opened ahead of the check (to save a round of
    // thread-pool jobs), the temp would be made, for a moment, through a directory swapped
    // for a symlink, outside the export.
    const tmpPath = this.#resolver.child(dir.path, tmpName);
    const fh = await LocalFd.open(tmpPath, tmpFlags(flags.append === true), want);
    let st: BigIntStats;
    try {
      st = await fh.stat();
      if ((Number(st.mode) & 0o7777) !== want) {
        await fh.chmod(want); // the process umask narrowed it
        st = await fh.stat();
      }
    } catch (err) {
      await closeQuietly(fh);
      await rm(tmpPath, { force: true });
      throw err;
    }
    return this.#created(fh, st, { dir: dir.local, path: dir.path }, tmpName, req, flags);
  }

  /** Register a created temp file as a handle's (or close and remove it if that fails). */
  async #created(
    fh: LocalFd,
    st: StatFields,
    dir: { dir: number; path: string },
    tmpName: string,
    req: { name: string; exclusive?: boolean | undefined },
    flags: OpenFlags,
  ): Promise<{ local: number; st: StatFields; handle: Handle }> {
    try {
      const local = this.#resolver.table.idFor(st.dev, st.ino, true)!;
      const h = this.#newHandle(local, flags, true);
      h.fh = fh;
      h.mode = 'direct';
      h.created = {
        dir: dir.dir,
        tmpName,
        name: req.name,
        exclusive: req.exclusive === true,
        handle: h.handle,
      };
      h.dirty = true;
      this.#pending.set(local, h.created);
      this.#resolver.table.addTemp(dir.dir, tmpName);
      this.#handles.set(h.handle, h);
      return { local, st, handle: h.handle };
    } catch (err) {
      await closeQuietly(fh);
      await rm(this.#resolver.child(dir.path, tmpName), { force: true });
      throw err;
    }
  }

  async read(req: {
    handle: Handle;
    offset: number;
    length: number;
    into?: Uint8Array | undefined;
  }): Promise<Uint8Array> {
    const h = this.get(req.handle, 'read');
    if (!h.flags.read && !h.writable)
      throw FsError.EBADF('read', String(req.handle), 'handle not open for reading');
    const fh = h.fh;
    let length = req.length;
    if (length > CLAMP_READS_ABOVE) {
      const size = Number((await fh.stat()).size);
      length = Math.max(0, Math.min(length, size - req.offset));
    }
    const buf = req.into !== undefined ? req.into.subarray(0, length) : Buffer.allocUnsafe(length);
    let filled = 0;
    while (filled < length) {
      const bytesRead = await fh.read(buf, filled, length - filled, req.offset + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return filled === length ? buf : buf.subarray(0, filled);
  }

  async write(req: { handle: Handle; offset: number; data: Uint8Array }): Promise<{ written: number }> {
    const h = this.get(req.handle, 'write');
    if (!h.writable) throw FsError.EBADF('write', String(req.handle), 'handle not open for writing');
    if (h.mode === 'lazy') await (h.staging ??= this.#stageCopy(h));
    const append = h.flags.append === true;
    const len = req.data.byteLength;
    if (!append) {
      h.writes ??= new WriteQueue({ fh: () => h.fh, direct: this.#direct });
      await h.writes.write(req.offset, req.data);
      h.dirty = true;
      return { written: len };
    }
    for (let done = 0; done < len;) {
      const bytesWritten = await h.fh.write(req.data, done, len - done, null);
      done += bytesWritten;
    }
    h.dirty = true;
    return { written: len };
  }

  /** Truncate or extend the file a write handle writes (its private copy if it has one). */
  async truncate(h: LocalHandle, size: number): Promise<BigIntStats> {
    if (h.mode === 'lazy') await (h.staging ??= this.#stageCopy(h));
    await h.fh.truncate(size);
    h.dirty = true;
    return h.fh.stat();
  }

  /** Truncate or extend a file in place (`setattr` without a write handle, like truncate(2)). */
  async truncateInPlace(r: Resolved, size: number): Promise<void> {
    const fh = await this.#openVerified(r, constants.O_WRONLY);
    try {
      await fh.truncate(size);
    } finally {
      await fh.close();
    }
  }

  /**
   * Open a second descriptor on the handle's file to mirror locks on (the current file of
   * the id, checked to be the inode the id resolves to).
   */
  async openForLocks(h: LocalHandle, writable: boolean): Promise<LocalFd> {
    const r = await this.#resolver.resolve(h.local, 'lock');
    try {
      return await this.#openVerified(r, writable ? constants.O_RDWR : constants.O_RDONLY);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (!writable || (code !== 'EACCES' && code !== 'EROFS' && code !== 'EPERM' && code !== 'ETXTBSY'))
        throw err;
      return this.#openVerified(r, constants.O_RDONLY);
    }
  }

  /**
   * Write `write.data` at `write.offset`, then close (a close carrying the last write). A
   * small created file's handle with nothing else going on takes one thread-pool job for all
   * of it (see `#publishInOne`); anything else writes, then closes. Either way a failed write
   * leaves the handle open.
   */
  async closeWithWrite(handle: Handle, write: { offset: number; data: Uint8Array }): Promise<void> {
    const fast = this.#publishInOne(this.get(handle, 'close'), write);
    if (fast) return fast;
    await this.write({ handle, ...write });
    return this.close(handle);
  }

  /**
   * The close of a created file in one thread-pool job (the platform's `closePublish`): its
   * last write, the close of its descriptor and the rename that gives it its name. Only for a
   * created, unpublished file written in place, not appending, with no write queued or in
   * flight, no lock taken, nothing bigger than the page cache keeps (`DIRECT_FROM`) and its
   * directory's path known; otherwise undefined (the caller takes the general way). A failed
   * write leaves the handle open and registered, as it was.
   */
  #publishInOne(
    h: LocalHandle,
    write: { offset: number; data: Uint8Array } | undefined,
  ): Promise<void> | undefined {
    const p = h.created;
    const native = this.#native;
    if (p === undefined || native === undefined || h.mode !== 'direct' || h.flags.append === true) return;
    if (h.staging !== undefined || h.owners.size > 0 || !(h.writes?.idle ?? true) || !h.fh.idle) return;
    if (write !== undefined && write.offset + write.data.byteLength > DIRECT_FROM) return;
    const dirPath = this.#resolver.dirPath(p.dir);
    if (dirPath === undefined || this.#commits.has(h.local)) return;
    const fd = h.fh.lend();
    this.#handles.delete(h.handle);
    let wrote = false;
    const run = (async () => {
      try {
        await native.closePublish({
          fd,
          data: write?.data,
          offset: write?.offset ?? 0,
          from: this.#resolver.child(dirPath, p.tmpName),
          to: this.#resolver.child(dirPath, p.name),
          noReplace: p.exclusive,
        });
        wrote = true;
      } catch (err) {
        // Only a failed rename comes after the close: anything else left the descriptor open.
        if ((err as NodeJS.ErrnoException).syscall !== 'rename') throw err;
        wrote = true;
        await this.#republish(p, dirPath, err);
      }
      this.#resolver.table.learn(h.local, p.dir, p.name, false);
    })();
    this.#commits.set(
      h.local,
      run.catch(() => undefined),
    );
    return run.finally(() => {
      this.#commits.delete(h.local);
      if (wrote) {
        h.fh.usedUp();
        this.#pending.delete(h.local);
        this.#resolver.table.removeTemp(p.dir, p.tmpName);
      } else {
        // The write failed and nothing else was done: the handle is open as before.
        h.fh.giveBack();
        this.#handles.set(h.handle, h);
      }
    });
  }

  /**
   * A created file's rename failed in `closePublish` (its descriptor closed, its bytes
   * written): published again the general way, where the directory is now if it moved
   * (`ENOENT`) — which also takes the portable path where the filesystem lacks
   * `RENAME_NOREPLACE`, and otherwise removes the temp file and reports the failure (`EEXIST`
   * for a name another writer took).
   */
  async #republish(p: PendingCreate, dirPath: string, err: unknown): Promise<void> {
    const dir = isGone(err) ? (await this.#resolver.resolveDir(p.dir, 'close')).path : dirPath;
    await this.#publish(dir, p, false);
  }

  /**
   * Close a handle: its private copy or created file becomes visible now, or with `abort`
   * is thrown away (a hard-linked file written in place cannot be rolled back).
   */
  async close(handle: Handle, abort = false): Promise<void> {
    const h = this.get(handle, 'close');
    const fast = abort ? undefined : this.#publishInOne(h, undefined);
    if (fast) return fast;
    this.#handles.delete(handle);
    let failed: { err: unknown } | undefined;
    try {
      // Writes sent before the close land first (a direct write goes by the descriptor's
      // number, not through the LocalFd, so closing the handle would not wait for it).
      await h.writes?.settled();
      await this.#locks.release(String(h.local), handle, [`h${handle}`, ...h.owners]);
      if (h.staging) await h.staging.catch(() => undefined);
    } catch (err) {
      failed = { err };
    }
    // The descriptors close while the file is published: publishing needs nothing from them
    // (no fsync on this path), and it saves a round of thread-pool jobs per file.
    const closing = Promise.all([closeQuietly(h.fh), h.orig !== h.fh ? closeQuietly(h.orig) : undefined]);
    if (failed) {
      await closing;
      throw failed.err;
    }
    try {
      if (abort) {
        const place = h.created ?? h.stage;
        if (h.created) this.#pending.delete(h.local);
        if (place) await this.#discard(place);
      } else if (h.created) await this.#commitCreate(h, h.created);
      else if (h.stage && h.dirty) await this.#commitReplace(h, h.stage);
      else if (h.stage) await this.#discard(h.stage);
    } finally {
      await closing;
    }
  }

  /** Close every handle without committing anything (source close): unfinished writes vanish. */
  async closeAll(): Promise<void> {
    const all = [...this.#handles.values()];
    this.#handles.clear();
    for (const h of all) {
      if (h.staging) await h.staging.catch(() => undefined);
      await h.writes?.settled();
      await closeQuietly(h.fh);
      if (h.orig !== h.fh) await closeQuietly(h.orig);
      const place = h.created ?? h.stage;
      if (place) await this.#discard(place);
      if (h.created) this.#pending.delete(h.local);
    }
  }

  /**
   * Resolve the directory and `lstat` the name in it, both at once on the path the id map
   * gives (one burst for the thread pool, not two round trips); if the directory turns out
   * to be somewhere else, the name is looked at again there.
   */
  async #dirAndEntry(
    parent: NodeId,
    name: string,
    /** The directory's path as the id map has it (undefined: not mapped). */
    mapped: string | undefined,
  ): Promise<{ dir: Resolved; existing: BigIntStats | undefined }> {
    const resolver = this.#resolver;
    // Settled either way before awaiting the directory, so a failure there leaves no stray rejection.
    const early = mapped === undefined ? undefined : settled(lstatMaybe(resolver.child(mapped, name)));
    const dir = await resolver.resolveDir(parent, 'create');
    if (early === undefined || dir.path !== mapped)
      return { dir, existing: await lstatMaybe(resolver.child(dir.path, name)) };
    return { dir, existing: await unwrap(early) };
  }

  #newHandle(local: number, flags: OpenFlags, writable: boolean): LocalHandle {
    return {
      handle: this.#next++,
      local,
      flags,
      writable,
      mode: 'read',
      fh: undefined as unknown as LocalFd,
      orig: undefined,
      stage: undefined,
      created: undefined,
      dirty: false,
      staging: undefined,
      owners: new Set(),
    };
  }

  /** Open the resolved path without following a symlink and check it is still the same inode. */
  async #openVerified(r: Resolved, flags: number): Promise<LocalFd> {
    const fh = await LocalFd.open(r.path, flags | O_NOFOLLOW | O_NONBLOCK);
    try {
      const st = await fh.stat();
      if (st.ino !== r.st.ino || st.dev !== r.st.dev)
        throw FsError.ESTALE('open', this.#resolver.idOf(r.local).toString());
      if (!st.isFile())
        throw FsError.EINVAL('open', this.#resolver.idOf(r.local).toString(), 'not a regular file');
      return fh;
    } catch (err) {
      await closeQuietly(fh);
      throw err;
    }
  }

  /** Truncating open: the private copy starts empty, with the file's mode and owner. */
  async #stageEmpty(h: LocalHandle, r: Resolved): Promise<void> {
    const tmpName = tempName();
    const tmpPath = this.#tmpPathBeside(r, tmpName);
    const mode = Number(r.st.mode) & 0o7777;
    const fh = await LocalFd.open(tmpPath, tmpFlags(h.flags.append === true), mode);
    try {
      await fh.chmod(mode);
      await fh.chown(Number(r.st.uid), Number(r.st.gid)).catch(() => undefined);
      h.stage = { dir: r.parent, tmpName, st: await fh.stat() };
    } catch (err) {
      await closeQuietly(fh);
      await rm(tmpPath, { force: true });
      throw err;
    }
    this.#resolver.table.addTemp(r.parent, tmpName);
    h.fh = fh;
    h.mode = 'staged';
    h.dirty = true;
  }

  /** First write through a `lazy` handle: copy the file and switch to the copy. */
  async #stageCopy(h: LocalHandle): Promise<void> {
    const r = await this.#resolver.resolve(h.local, 'write');
    if (!r.st.isFile()) throw FsError.ESTALE('write', this.#resolver.idOf(h.local).toString());
    const tmpName = tempName();
    const tmpPath = this.#tmpPathBeside(r, tmpName);
    await copyToNew(r.path, tmpPath);
    let fh: LocalFd | undefined;
    try {
      fh = await LocalFd.open(
        tmpPath,
        (h.flags.append ? constants.O_APPEND : 0) | constants.O_RDWR | O_NOFOLLOW,
      );
      await fh.chown(Number(r.st.uid), Number(r.st.gid)).catch(() => undefined);
      h.stage = { dir: r.parent, tmpName, st: await fh.stat() };
    } catch (err) {
      await closeQuietly(fh);
      await rm(tmpPath, { force: true });
      throw err;
    }
    this.#resolver.table.addTemp(r.parent, tmpName);
    h.orig = h.fh;
    h.fh = fh;
    h.mode = 'staged';
  }

  #tmpPathBeside(r: Resolved, tmpName: string): string {
    return r.path.slice(0, r.path.length - r.name.length) + tmpName;
  }

  async #tmpPath(place: PendingPlace): Promise<string> {
    const dir = await this.#resolver.resolveDir(place.dir, 'close');
    return this.#resolver.child(dir.path, place.tmpName);
  }

  async #discard(place: PendingPlace): Promise<void> {
    const path = await this.#tmpPath(place).catch(() => undefined);
    if (path !== undefined) await rm(path, { force: true }).catch(() => undefined);
    this.#resolver.table.removeTemp(place.dir, place.tmpName);
  }

  async #commitCreate(h: LocalHandle, p: PendingCreate): Promise<void> {
    const table = this.#resolver.table;
    const run = (async () => {
      // The temp file's random name is the check: if it is in the directory the id map
      // names, that is the directory it was created in (no lstat of the directory needed).
      // Otherwise (the directory moved) resolve the directory and publish there.
      const mapped = this.#resolver.dirPath(p.dir);
      if (mapped === undefined || !(await this.#publish(mapped, p, true))) {
        const dir = await this.#resolver.resolveDir(p.dir, 'close');
        await this.#publish(dir.path, p, false);
      }
      table.learn(h.local, p.dir, p.name, false);
    })();
    this.#commits.set(
      h.local,
      run.catch(() => undefined),
    );
    try {
      await run;
    } finally {
      this.#pending.delete(h.local);
      this.#commits.delete(h.local);
      table.removeTemp(p.dir, p.tmpName);
    }
  }

  /**
   * Give a created file its name in the directory at `dirPath`. With `tentative`, a temp
   * file not found there gives false (the directory is elsewhere) and is left alone.
   */
  async #publish(dirPath: string, p: PendingCreate, tentative: boolean): Promise<boolean> {
    const tmpPath = this.#resolver.child(dirPath, p.tmpName);
    const finalPath = this.#resolver.child(dirPath, p.name);
    try {
      // Exclusive: the name only if it is still free (another writer may have taken it).
      if (p.exclusive)
        await renameNoReplace({
          from: tmpPath,
          to: finalPath,
          isDir: false,
          name: p.name,
          op: 'close',
          detail: 'another writer created the file first',
          native: this.#renameNoReplace,
        });
      else await rename(tmpPath, finalPath);
      return true;
    } catch (err) {
      if (tentative && isGone(err)) return false;
      await rm(tmpPath, { force: true }).catch(() => undefined);
      throw err;
    }
  }

  /** Replace the file with its private copy; the id moves to the copy's inode. */
  async #commitReplace(h: LocalHandle, stage: Stage): Promise<void> {
    const prev = this.#commits.get(h.local);
    const run = (async () => {
      if (prev) await prev;
      let target: Resolved;
      try {
        target = await this.#resolver.resolve(h.local, 'close', { noWait: true });
      } catch (err) {
        // The file was removed meanwhile: like writes to an unlinked file, they go nowhere.
        if (FsError.is(err, 'ESTALE')) return this.#discard(stage);
        throw err;
      }
      if (!target.st.isFile()) return this.#discard(stage);
      const tmpPath = await this.#tmpPath(stage);
      try {
        await this.#keepMetadata(target, tmpPath, stage.st);
        await rename(tmpPath, target.path);
      } catch (err) {
        await this.#discard(stage);
        throw err;
      }
      const table = this.#resolver.table;
      table.bind(h.local, table.keyOf(stage.st.dev, stage.st.ino), table.genOf(h.local) ?? genOf(target.st));
      table.removeTemp(stage.dir, stage.tmpName);
    })();
    const settled = run.catch(() => undefined);
    this.#commits.set(h.local, settled);
    try {
      await run;
    } finally {
      if (this.#commits.get(h.local) === settled) this.#commits.delete(h.local);
    }
  }

  /** The copy takes the file's current mode, owner and user xattrs (changed since it was made). */
  async #keepMetadata(target: Resolved, tmpPath: string, tmp: BigIntStats): Promise<void> {
    const mode = Number(target.st.mode) & 0o7777;
    if ((Number(tmp.mode) & 0o7777) !== mode) await chmod(tmpPath, mode);
    if (tmp.uid !== target.st.uid || tmp.gid !== target.st.gid) {
      await lchown(tmpPath, Number(target.st.uid), Number(target.st.gid)).catch(() => undefined);
    }
    const xattr = this.#xattr;
    if (!xattr) return;
    const user = (names: string[]) => names.filter((n) => n.startsWith('user.'));
    const [want, have] = await Promise.all([
      xattr.list(target.path).then(user),
      xattr.list(tmpPath).then(user),
    ]);
    for (const name of want) {
      const value = await xattr.get(target.path, name).catch(() => undefined);
      if (value !== undefined) await xattr.set(tmpPath, name, value);
    }
    for (const name of have)
      if (!want.includes(name)) await xattr.remove(tmpPath, name).catch(() => undefined);
  }
}

function tmpFlags(append: boolean): number {
  return (
    constants.O_CREAT | constants.O_EXCL | constants.O_RDWR | O_NOFOLLOW | (append ? constants.O_APPEND : 0)
  );
}

function checkOpenable(r: Resolved, id: NodeId): void {
  if (r.st.isDirectory()) throw FsError.EISDIR('open', id.toString());
  if (r.st.isSymbolicLink()) throw FsError.ELOOP('open', id.toString(), 'is a symlink (never followed)');
  if (!r.st.isFile()) throw FsError.EINVAL('open', id.toString(), 'not a regular file');
}
