import { randomBytes } from 'node:crypto';
import { type Attr, fullMode, nowNs } from '../../core/attr.ts';
import { FsError } from '../../core/fs-error.ts';
import type { NodeId } from '../../core/ids.ts';
import type { Logger } from '../../core/log.ts';
import type { Entry, Invalidation, LockType, OpenFlags, Source } from '../../sources/source.ts';
import { EntryCache } from './entry-cache.ts';
import {
  type Dispatch,
  type FuseBinding,
  type FuseSession,
  MAX_IO,
  NARGS,
  Op,
  type Req,
} from './fuse-binding.ts';
import {
  type Dirent,
  type DirentAttrs,
  fuseErrnoOf,
  packDirents,
  packDirentsPlus,
  putStat,
  putStatfs,
  timespecToNs,
} from './fuse-encode.ts';
import { OpenFile } from './open-file.ts';

// Linux constants the kernel hands us.
const O_ACCMODE = 0o3;
const O_WRONLY = 0o1;
const O_RDONLY = 0o0;
const O_APPEND = 0o2000;
const O_EXCL = 0o200;
const O_TRUNC = 0o1000;
const RENAME_NOREPLACE = 1;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const F_RDLCK = 0;
const F_WRLCK = 1;
const F_UNLCK = 2;
const LOCK_SH = 1;
const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;
const XATTR_CREATE = 1;
const XATTR_REPLACE = 2;
const SET_MODE = 1 << 0;
const SET_UID = 1 << 1;
const SET_GID = 1 << 2;
const SET_SIZE = 1 << 3;
const SET_ATIME = 1 << 4;
const SET_MTIME = 1 << 5;
const SET_ATIME_NOW = 1 << 7;
const SET_MTIME_NOW = 1 << 8;

/** Seconds a directory listed to the end (or made here) answers for missing names. */
const COMPLETE_SECONDS = 10;

/** Entries asked for per READDIRP page while listing a directory. */
const DIR_PAGE = 2000;
/** Write requests whose bytes the addon can hand over in a slot of its own (`MAX_IO` each). */
const WRITE_SLOTS = 16;

/** Options of {@link FuseOps}. */
export interface FuseOpsOptions {
  source: Source;
  binding: FuseBinding;
  /** Seconds the kernel may trust a name (`entry_timeout`). */
  entryTimeout: number;
  /** Seconds the kernel may trust attributes (`attr_timeout`). */
  attrTimeout: number;
  logger?: Logger | undefined;
}

interface OpenDir {
  id: NodeId;
  entries: Dirent[];
  cookie: string;
  eof: boolean;
  /** A page being fetched (concurrent READDIRs of one handle wait for the same one). */
  fetching: Promise<void> | undefined;
  /** Whether nothing invalidated the directory while it was listed. */
  listedFromStart: boolean;
}

/** Arguments of one request, copied out of the shared in-args array before any await. */
type Args = Float64Array;

/**
 * The FUSE operations over a Source: inode numbers are the Source's node ids (the namespace
 * root, id 1, is FUSE's root inode 1), file handles map to Source handles, every failure is
 * answered with the errno of the table. Each request is handled asynchronously and answered
 * exactly once; the session's loop never waits for JavaScript.
 */
export class FuseOps {
  readonly #source: Source;
  readonly #b: FuseBinding;
  readonly #entryTimeout: number;
  readonly #attrTimeout: number;
  readonly #log: Logger | undefined;
  readonly inArgs = new Float64Array(NARGS);
  readonly outArgs = new Float64Array(NARGS);
  /** The addon copies written bytes here (see {@link Dispatch}); each slot is reused. */
  readonly writeSlots = Buffer.alloc(WRITE_SLOTS * MAX_IO);
  readonly #cache: EntryCache;
  /** Blocking lock waits in progress by id, each with what gives it up (see {@link #lock}). */
  readonly #waits = new Map<number, () => void>();
  /** Waits interrupted before their request came, and the highest wait id seen. */
  readonly #interruptedEarly = new Set<number>();
  #lastWaitId = 0;
  readonly #files = new Map<bigint, OpenFile>();
  readonly #filesById = new Map<NodeId, Set<OpenFile>>();
  readonly #dirs = new Map<bigint, OpenDir>();
  /** Files created through this mount and still open, by `parent/name` (see #publish). */
  readonly #created = new Map<string, { parent: NodeId; file: OpenFile }>();
  #nextFh = 1n;
  /** Distinguishes this mount's lock owners from other clients' (kernel owners are pointers). */
  readonly #ownerPrefix = `fuse:${randomBytes(6).toString('hex')}:`;
  #session: FuseSession | undefined;
  #pending = 0;
  #idle: (() => void) | undefined;
  #exited: (() => void) | undefined;
  readonly exited: Promise<void>;

  constructor(opts: FuseOpsOptions) {
    this.#source = opts.source;
    this.#b = opts.binding;
    this.#entryTimeout = opts.entryTimeout;
    this.#attrTimeout = opts.attrTimeout;
    this.#log = opts.logger;
    // A complete directory stays complete longer than a name: invalidations tell of names
    // added elsewhere, and `cp -r` into a new directory looks up every name before making it.
    this.#cache = new EntryCache({
      ttlMs: Math.max(opts.entryTimeout, 1) * 1000,
      completeMs: Math.max(opts.entryTimeout, COMPLETE_SECONDS) * 1000,
    });
    this.exited = new Promise((resolve) => (this.#exited = resolve));
  }

  /** Attach the mounted session (replies and notifications go to it). */
  attach(session: FuseSession): void {
    this.#session = session;
  }

  /** Resolves when no request is waiting for an answer. */
  async idle(): Promise<void> {
    if (this.#pending === 0) return;
    await new Promise<void>((resolve) => (this.#idle = resolve));
  }

  /** Open files and directories, for a clean shutdown. */
  async closeAll(): Promise<void> {
    const files = [...this.#files.values()];
    this.#files.clear();
    this.#filesById.clear();
    this.#dirs.clear();
    await Promise.all(files.map((f) => f.close().catch(() => undefined)));
  }

  /** Apply a Source invalidation to the kernel's caches and ours. */
  invalidate(ev: Invalidation): void {
    const s = this.#session;
    switch (ev.kind) {
      case 'entry':
        this.#cache.forgetName(ev.parent, ev.name);
        for (const d of this.#dirs.values()) if (d.id === ev.parent) d.listedFromStart = false;
        if (s) this.#b.notifyEntry(s, ev.parent, ev.name);
        break;
      case 'data':
        this.#changed(ev.id);
        if (s) this.#b.notifyInode(s, ev.id, 0, 0);
        break;
      case 'attr':
        this.#cache.forgetId(ev.id);
        if (s) this.#b.notifyInode(s, ev.id, -1, 0);
        break;
      case 'tree':
        this.#cache.clear();
        for (const d of this.#dirs.values()) d.listedFromStart = false;
        for (const f of this.#files.values()) f.dropReadAhead();
        if (s) this.#b.notifyInode(s, ev.id, 0, 0);
        break;
    }
  }

  /** The addon's dispatch callback. Never throws: every request is answered. */
  readonly dispatch: Dispatch = (op, req, ino, fh, owner, name, name2, data) => {
    if (op === Op.EXITED) {
      this.#exited?.();
      return;
    }
    if (op === Op.INTERRUPT) {
      this.#interrupt(Number(fh));
      return;
    }
    this.#pending++;
    const args = this.inArgs.slice();
    this.#handle(op, req, ino, fh, owner, name ?? '', name2 ?? '', data, args).catch((err: unknown) => {
      const errno = fuseErrnoOf(err, opName(op));
      if (errno === 5) this.#log?.warn('fuse: operation failed', { op: opName(op), error: String(err) });
      this.#answer(() => this.#b.replyErr(this.#s, req, errno));
    });
  };

  get #s(): FuseSession {
    if (!this.#session) throw FsError.ENOTCONN('fuse', undefined, 'not mounted');
    return this.#session;
  }

  /** Send a reply and count the request answered. */
  #answer(reply: () => number): void {
    try {
      reply();
    } finally {
      this.#pending--;
      if (this.#pending === 0 && this.#idle) {
        const idle = this.#idle;
        this.#idle = undefined;
        idle();
      }
    }
  }

  #ok(req: Req): void {
    this.#answer(() => this.#b.replyErr(this.#s, req, 0));
  }

  #entry(req: Req, e: Entry): void {
    this.#answer(() => {
      putStat(this.outArgs, e.attr);
      return this.#b.replyEntry(this.#s, req, e.id, e.attr.gen + 1, this.#entryTimeout, this.#attrTimeout);
    });
  }

  #file(fh: bigint): OpenFile {
    const f = this.#files.get(fh);
    if (!f) throw FsError.EBADF('fuse', undefined, `no open file ${fh}`);
    return f;
  }

  #addFile(f: OpenFile): bigint {
    const fh = this.#nextFh++;
    this.#files.set(fh, f);
    let set = this.#filesById.get(f.id);
    if (!set) this.#filesById.set(f.id, (set = new Set()));
    set.add(f);
    return fh;
  }

  #removeFile(fh: bigint): OpenFile | undefined {
    const f = this.#files.get(fh);
    if (!f) return undefined;
    this.#files.delete(fh);
    const set = this.#filesById.get(f.id);
    set?.delete(f);
    if (set?.size === 0) this.#filesById.delete(f.id);
    return f;
  }

  /**
   * A created file becomes visible on the Source when its handle closes (atomic write), but
   * POSIX programs use it at once: `git` chmods its lock file before closing it, `ls` lists
   * it. Any operation that reaches such a file by id or name publishes it first (commit the
   * handle; later writes go through a fresh one).
   */
  async #publishId(id: NodeId): Promise<void> {
    for (const f of this.#filesById.get(id) ?? []) if (f.unpublished) await f.commit();
  }

  #unpublishedAttr(id: NodeId): Attr | undefined {
    for (const f of this.#filesById.get(id) ?? []) if (f.unpublished) return f.localAttr();
    return undefined;
  }

  async #publishName(parent: NodeId, name: string): Promise<void> {
    const key = `${parent}/${name}`;
    const hit = this.#created.get(key);
    if (!hit) return;
    this.#created.delete(key);
    if (hit.file.unpublished) await hit.file.commit();
  }

  async #publishIn(parent: NodeId): Promise<void> {
    for (const [key, hit] of this.#created) {
      if (hit.parent !== parent) continue;
      this.#created.delete(key);
      if (hit.file.unpublished) await hit.file.commit();
    }
  }

  /** Written bytes of `id` still on their way reach the Source before its attributes are read. */
  async #settle(id: NodeId): Promise<void> {
    const set = this.#filesById.get(id);
    if (!set) return;
    for (const f of set) if (f.dirty) await f.drain();
  }

  /** `id` changed: forget its cached entries, and its open handles their read-ahead. */
  #changed(id: NodeId): void {
    this.#cache.forgetId(id);
    for (const f of this.#filesById.get(id) ?? []) f.dropReadAhead();
  }

  /**
   * The entry, or undefined when it does not exist. A file open here may have written bytes
   * still on their way: its attributes are read after they arrive.
   */
  async #lookup(parent: NodeId, name: string): Promise<Entry | undefined> {
    if (this.#cache.knownAbsent(parent, name)) return undefined;
    let entry = this.#cache.get(parent, name);
    if (entry === undefined) {
      try {
        entry = await this.#source.lookup({ parent, name });
      } catch (err) {
        if (FsError.is(err, 'ENOENT')) return undefined;
        throw err;
      }
      this.#cache.put(parent, name, entry);
    }
    if (!this.#filesById.get(entry.id)?.size) return entry;
    return { id: entry.id, attr: await this.#settledAttr(entry.id) };
  }

  /** The Source's attributes of `id`, once bytes written here have reached it. */
  async #settledAttr(id: NodeId): Promise<Attr> {
    await this.#settle(id);
    return this.#source.getattr({ id });
  }

  async #handle(
    op: number,
    req: Req,
    ino: bigint,
    fh: bigint,
    owner: bigint,
    name: string,
    name2: string,
    data: Buffer | undefined,
    a: Args,
  ): Promise<void> {
    const src = this.#source;
    switch (op) {
      case Op.LOOKUP: {
        await this.#publishName(ino, name);
        const entry = await this.#lookup(ino, name);
        if (entry) return this.#entry(req, entry);
        // A negative entry: the kernel remembers the name is missing (invalidations undo it).
        return this.#answer(() => {
          this.outArgs.fill(0);
          return this.#b.replyEntry(this.#s, req, 0n, 0, this.#entryTimeout, 0);
        });
      }
      case Op.GETATTR: {
        // A file created here and still being written is not on the Source yet: its
        // attributes are the ones it was created with, at the size written so far.
        const attr = this.#unpublishedAttr(ino) ?? (await this.#settledAttr(ino));
        return this.#answer(() => {
          putStat(this.outArgs, attr);
          return this.#b.replyAttr(this.#s, req, ino, this.#attrTimeout);
        });
      }
      case Op.SETATTR:
        return this.#setattr(req, ino, fh, a);
      case Op.READLINK: {
        const target = await src.readlink({ id: ino });
        return this.#answer(() => this.#b.replyReadlink(this.#s, req, target));
      }
      case Op.MKNOD: {
        await this.#publishName(ino, name);
        if ((a[0]! & S_IFMT) !== S_IFREG)
          throw FsError.EPERM('mknod', name, 'only regular files can be made here');
        const made = await src.create({ parent: ino, name, mode: a[0]! & 0o7777, exclusive: true });
        await src.closeFile({ handle: made.handle });
        this.#cache.put(ino, name, made);
        return this.#entry(req, made);
      }
      case Op.MKDIR: {
        await this.#publishName(ino, name);
        const made = await src.mkdir({ parent: ino, name, mode: a[0]! & 0o7777 });
        this.#cache.put(ino, name, made);
        this.#cache.markComplete(made.id);
        return this.#entry(req, made);
      }
      case Op.UNLINK:
        await this.#publishName(ino, name);
        await src.unlink({ parent: ino, name });
        this.#cache.removed(ino, name);
        return this.#ok(req);
      case Op.RMDIR:
        await src.rmdir({ parent: ino, name });
        this.#cache.removed(ino, name);
        return this.#ok(req);
      case Op.SYMLINK: {
        await this.#publishName(ino, name);
        const made = await src.symlink({ parent: ino, name, target: name2 });
        this.#cache.put(ino, name, made);
        return this.#entry(req, made);
      }
      case Op.RENAME: {
        const flags = a[0]!;
        // RENAME_EXCHANGE and RENAME_WHITEOUT have no Source operation.
        if (flags & ~RENAME_NOREPLACE)
          throw FsError.EINVAL('rename', name, `unsupported renameat2 flags ${flags}`);
        await this.#publishName(ino, name);
        await this.#publishName(fh, name2);
        await src.rename({
          parent: ino,
          name,
          newParent: fh,
          newName: name2,
          noreplace: (flags & RENAME_NOREPLACE) !== 0,
        });
        const moved = this.#cache.get(ino, name);
        this.#cache.removed(ino, name);
        if (moved) this.#cache.put(fh, name2, moved);
        else this.#cache.forgetName(fh, name2);
        return this.#ok(req);
      }
      case Op.LINK: {
        await this.#publishId(ino);
        await this.#publishName(fh, name);
        const made = await src.link({ id: ino, newParent: fh, newName: name });
        this.#changed(ino);
        this.#cache.put(fh, name, made);
        return this.#entry(req, made);
      }
      case Op.OPEN: {
        await this.#publishId(ino);
        const flags = openFlagsOf(a[0]!);
        const { handle } = await src.openFile({ id: ino, flags });
        const f = this.#addFile(new OpenFile({ source: src, id: ino, handle, flags }));
        return this.#answer(() => this.#b.replyOpen(this.#s, req, f, 0));
      }
      case Op.CREATE: {
        await this.#publishName(ino, name);
        const flags = { ...openFlagsOf(a[1]!), write: true };
        const made = await src.create({
          parent: ino,
          name,
          mode: a[0]! & 0o7777,
          exclusive: (a[1]! & O_EXCL) !== 0,
          flags,
        });
        this.#cache.put(ino, name, made);
        const f = this.#addFile(
          new OpenFile({ source: src, id: made.id, handle: made.handle, flags, created: made.attr }),
        );
        this.#created.set(`${ino}/${name}`, { parent: ino, file: this.#files.get(f)! });
        return this.#answer(() => {
          putStat(this.outArgs, made.attr);
          return this.#b.replyCreate(
            this.#s,
            req,
            made.id,
            made.attr.gen + 1,
            this.#entryTimeout,
            this.#attrTimeout,
            f,
            0,
          );
        });
      }
      case Op.READ: {
        const bytes = await this.#file(fh).read(a[1]!, a[0]!);
        return this.#answer(() => this.#b.replyBuf(this.#s, req, bytes));
      }
      case Op.WRITE: {
        const slot = a[2]! - 1;
        const bytes =
          slot >= 0
            ? this.writeSlots.subarray(slot * MAX_IO, slot * MAX_IO + a[3]!)
            : (data ?? Buffer.alloc(0));
        if (a[4] !== 1) {
          const n = await this.#write(fh, a[1]!, bytes, slot);
          return this.#answer(() => this.#b.replyWrite(this.#s, req, n));
        }
        // The addon answered already: never again, not even with an error. The writer was told
        // it worked, so a failure is kept for its next write, flush or fsync.
        try {
          await this.#write(fh, a[1]!, bytes, slot);
        } catch (err) {
          this.#files.get(fh)?.keepError(err);
          if (this.#session) this.#b.writeFailed(this.#session, fh);
        }
        return this.#answer(() => 0);
      }
      case Op.FLUSH: {
        const f = this.#file(fh);
        // close() releases the POSIX locks of the closing process on this file.
        if (f.locked) {
          await src.lock({
            handle: await f.lockHandle(),
            cmd: 'set',
            type: 'unlock',
            start: 0,
            length: 0,
            owner: this.#owner(owner),
          });
        }
        await f.commit();
        this.#changed(f.id);
        return this.#ok(req);
      }
      case Op.RELEASE: {
        const f = this.#removeFile(fh);
        for (const [key, hit] of this.#created) if (hit.file === f) this.#created.delete(key);
        await f?.close();
        return this.#ok(req);
      }
      case Op.FSYNC: {
        const f = this.#file(fh);
        await f.drain();
        await src.flush({ handle: await f.handle() });
        return this.#ok(req);
      }
      case Op.OPENDIR: {
        await this.#publishIn(ino);
        const dirFh = this.#nextFh++;
        this.#dirs.set(dirFh, {
          id: ino,
          entries: [
            { name: '.', ino, mode: S_IFDIR },
            { name: '..', ino, mode: S_IFDIR },
          ],
          cookie: '',
          eof: false,
          fetching: undefined,
          listedFromStart: true,
        });
        return this.#answer(() => this.#b.replyOpen(this.#s, req, dirFh, 0));
      }
      case Op.READDIR:
        return this.#readdir(req, fh, a[0]!, a[1]!, false);
      case Op.READDIRPLUS:
        return this.#readdir(req, fh, a[0]!, a[1]!, true);
      case Op.RELEASEDIR:
        this.#dirs.delete(fh);
        return this.#ok(req);
      case Op.FSYNCDIR:
        return this.#ok(req);
      case Op.STATFS: {
        const st = await src.statfs({ id: ino });
        return this.#answer(() => {
          putStatfs(this.outArgs, st);
          return this.#b.replyStatfs(this.#s, req);
        });
      }
      case Op.SETXATTR: {
        await this.#publishId(ino);
        const flags = a[0]!;
        const mode = flags & XATTR_CREATE ? 'create' : flags & XATTR_REPLACE ? 'replace' : undefined;
        await src.setxattr({ id: ino, name, value: data ?? Buffer.alloc(0), mode });
        this.#changed(ino);
        return this.#ok(req);
      }
      case Op.GETXATTR: {
        await this.#publishId(ino);
        const value = await src.getxattr({ id: ino, name });
        return this.#sized(
          'getxattr',
          req,
          a[0]!,
          Buffer.from(value.buffer, value.byteOffset, value.byteLength),
        );
      }
      case Op.LISTXATTR: {
        await this.#publishId(ino);
        const names = await src.listxattr({ id: ino });
        return this.#sized('listxattr', req, a[0]!, Buffer.from(names.map((n) => `${n}\0`).join(''), 'utf8'));
      }
      case Op.REMOVEXATTR:
        await this.#publishId(ino);
        await src.removexattr({ id: ino, name });
        this.#changed(ino);
        return this.#ok(req);
      case Op.GETLK: {
        const f = this.#file(fh);
        const conflict = await src.lock({
          handle: await f.lockHandle(),
          cmd: 'test',
          type: lockTypeOf(a[0]!),
          start: a[1]!,
          length: a[2]!,
          owner: this.#owner(owner),
        });
        return this.#answer(() =>
          conflict === null
            ? this.#b.replyLock(this.#s, req, F_UNLCK, a[1]!, a[2]!, 0)
            : this.#b.replyLock(
                this.#s,
                req,
                conflict.type === 'read' ? F_RDLCK : F_WRLCK,
                conflict.start,
                conflict.length,
                0,
              ),
        );
      }
      case Op.SETLK: {
        const f = this.#file(fh);
        const type = lockTypeOf(a[0]!);
        await this.#lock(a[4]! ? a[5]! : undefined, {
          handle: await f.lockHandle(),
          cmd: a[4]! ? 'wait' : 'set',
          type,
          start: a[1]!,
          length: a[2]!,
          owner: this.#owner(owner),
        });
        if (type !== 'unlock') f.locked = true;
        return this.#ok(req);
      }
      case Op.FLOCK: {
        const f = this.#file(fh);
        const how = a[0]!;
        const type: LockType =
          how & LOCK_UN ? 'unlock' : how & LOCK_EX ? 'write' : how & LOCK_SH ? 'read' : 'unlock';
        const wait = !(how & LOCK_NB) && type !== 'unlock';
        await this.#lock(wait ? a[5]! : undefined, {
          handle: await f.lockHandle(),
          cmd: wait ? 'wait' : 'set',
          type,
          start: 0,
          length: 0,
          // Its own lock space (as on Linux) and its own owner name: a v1 node, which has one
          // space only, still keeps a process's flock apart from its fcntl locks.
          owner: `${this.#owner(owner)}:flock`,
          kind: 'flock',
        });
        return this.#ok(req);
      }
      default:
        throw FsError.ENOSYS('fuse', undefined, `operation ${op}`);
    }
  }

  /**
   * Take (or release) a lock; `waitId` (the addon's id of a blocking wait) when it may wait for
   * conflicting locks to go. A signal (Ctrl-C) interrupts such a wait: the process gets EINTR
   * at once. The node's wait cannot be called off, so should it be granted later, the range is
   * released again for the owner, who no longer waits for it (an owner's older lock on that
   * range goes with it: the one way this differs from a local file).
   */
  async #lock(waitId: number | undefined, lock: Parameters<Source['lock']>[0]): Promise<void> {
    if (waitId === undefined) {
      await this.#source.lock(lock);
      return;
    }
    this.#lastWaitId = Math.max(this.#lastWaitId, waitId);
    if (this.#interruptedEarly.delete(waitId))
      throw FsError.EINTR('lock', undefined, 'interrupted by a signal');
    const granted = this.#source.lock(lock);
    const interrupted = new Promise<void>((resolve) => this.#waits.set(waitId, resolve));
    try {
      if (!(await Promise.race([granted.then(() => false), interrupted.then(() => true)]))) return;
    } finally {
      this.#waits.delete(waitId);
    }
    granted
      .then(() => this.#source.lock({ ...lock, cmd: 'set', type: 'unlock' }))
      .catch((err: unknown) => {
        if (!FsError.is(err, 'EBADF'))
          this.#log?.debug('fuse: an interrupted lock wait ended', { error: String(err) });
      });
    throw FsError.EINTR('lock', undefined, 'interrupted by a signal');
  }

  /** A signal interrupted blocking lock wait `id` (see {@link #lock}). */
  #interrupt(id: number): void {
    const stop = this.#waits.get(id);
    if (stop) stop();
    // Interrupted before its request reached us (the addon reports that first).
    else if (id > this.#lastWaitId) this.#interruptedEarly.add(id);
  }

  #owner(owner: bigint): string {
    return `${this.#ownerPrefix}${owner.toString(16)}`;
  }

  /** getxattr/listxattr: size 0 asks how big the answer is; too small a buffer is ERANGE. */
  #sized(op: string, req: Req, size: number, bytes: Buffer): void {
    if (size === 0) return this.#answer(() => this.#b.replyXattr(this.#s, req, bytes.length));
    if (bytes.length > size)
      throw FsError.ERANGE(op, undefined, `the answer needs ${bytes.length} bytes, the buffer holds ${size}`);
    return this.#answer(() => this.#b.replyBuf(this.#s, req, bytes));
  }

  async #setattr(req: Req, ino: bigint, fh: bigint, a: Args): Promise<void> {
    const toSet = a[0]!;
    const file = a[9] ? this.#files.get(fh) : undefined;
    await this.#publishId(ino);
    await this.#settle(ino);
    const now = toSet & (SET_ATIME_NOW | SET_MTIME_NOW) ? nowNs() : 0n;
    const attr = await this.#source.setattr({
      id: ino,
      handle: toSet & SET_SIZE && file ? await file.handle() : undefined,
      mode: toSet & SET_MODE ? a[1]! & 0o7777 : undefined,
      uid: toSet & SET_UID ? a[2]! : undefined,
      gid: toSet & SET_GID ? a[3]! : undefined,
      size: toSet & SET_SIZE ? a[4]! : undefined,
      atimeNs: toSet & SET_ATIME_NOW ? now : toSet & SET_ATIME ? timespecToNs(a[5]!, a[6]!) : undefined,
      mtimeNs: toSet & SET_MTIME_NOW ? now : toSet & SET_MTIME ? timespecToNs(a[7]!, a[8]!) : undefined,
    });
    if (file && toSet & SET_SIZE) file.modified = true;
    this.#changed(ino);
    this.#answer(() => {
      putStat(this.outArgs, attr);
      return this.#b.replyAttr(this.#s, req, ino, this.#attrTimeout);
    });
  }

  /** Buffer a write; a write slot is given back once the bytes are taken. */
  async #write(fh: bigint, offset: number, bytes: Buffer, slot: number): Promise<number> {
    try {
      const f = this.#file(fh);
      this.#changed(f.id);
      // write() copies the bytes before its first await (a slot is no larger than a chunk), so
      // what follows in the queue (flush, getattr) finds them buffered.
      return await f.write(offset, bytes);
    } finally {
      if (slot >= 0 && this.#session) this.#b.releaseSlot(this.#session, slot);
    }
  }

  async #readdir(req: Req, fh: bigint, size: number, offset: number, plus: boolean): Promise<void> {
    const dir = this.#dirs.get(fh);
    if (!dir) throw FsError.EBADF('readdir', undefined, `no open directory ${fh}`);
    while (offset >= dir.entries.length && !dir.eof) {
      dir.fetching ??= this.#fetchPage(dir).finally(() => (dir.fetching = undefined));
      await dir.fetching;
    }
    const bytes = plus
      ? packDirentsPlus(
          dir.entries,
          offset,
          size,
          (e) => this.#listedAttrs(dir.id, e),
          this.#entryTimeout,
          this.#attrTimeout,
        )
      : packDirents(dir.entries, offset, size);
    this.#answer(() => this.#b.replyBuf(this.#s, req, bytes));
  }

  /**
   * The entry READDIRPLUS hands the kernel with a listed name: the cached one (a change seen
   * since the page was fetched dropped it), never for a file open here or made here and not
   * yet published (their attributes are answered by LOOKUP and GETATTR, after pending writes).
   */
  #listedAttrs(dir: NodeId, e: Dirent): DirentAttrs | undefined {
    if (this.#filesById.has(e.ino) || this.#created.has(`${dir}/${e.name}`)) return undefined;
    const cached = this.#cache.get(dir, e.name);
    if (cached === undefined || cached.id !== e.ino) return undefined;
    return { attr: cached.attr, generation: cached.attr.gen + 1 };
  }

  async #fetchPage(dir: OpenDir): Promise<void> {
    const page = await this.#source.readdirp({ dir: dir.id, cookie: dir.cookie, max: DIR_PAGE });
    for (const e of page.entries) {
      dir.entries.push({ name: e.name, ino: e.id, mode: fullMode({ kind: e.attr.kind, mode: 0 }) });
      this.#cache.put(dir.id, e.name, { id: e.id, attr: e.attr });
    }
    dir.cookie = page.cookie;
    dir.eof = page.eof || page.entries.length === 0;
    if (dir.eof && dir.listedFromStart) this.#cache.markComplete(dir.id);
  }
}

function openFlagsOf(flags: number): OpenFlags {
  const acc = flags & O_ACCMODE;
  return {
    read: acc !== O_WRONLY,
    write: acc !== O_RDONLY,
    append: (flags & O_APPEND) !== 0,
    truncate: (flags & O_TRUNC) !== 0,
  };
}

function lockTypeOf(type: number): LockType {
  if (type === F_RDLCK) return 'read';
  if (type === F_WRLCK) return 'write';
  return 'unlock';
}

const OP_NAMES = new Map<number, string>(Object.entries(Op).map(([k, v]) => [v, k.toLowerCase()]));

function opName(op: number): string {
  return OP_NAMES.get(op) ?? `op${op}`;
}
