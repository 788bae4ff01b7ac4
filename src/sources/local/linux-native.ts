/**
 * Typed wrapper over the `tessera_linux` N-API addon (`native/tessera_linux.c`): extended
 * attributes, open-file-description byte-range locks, non-blocking `flock(2)` and inotify, which Node has no API for,
 * a batched `lstat` of many names of one directory, and `O_DIRECT` bulk writes.
 *
 * Errors look like Node's own fs errors: `.code` is the errno name (`'ENODATA'`, `'EAGAIN'`,
 * `'ENOTSUP'`…), `.errno` the negative number, `.syscall` the call and `.path` the path if
 * any, so `FsError.from` maps them. Bad arguments reject (or throw, for the sync `Inotify`
 * methods) with code `'EINVAL'`; every call when the addon is not loaded fails with `'ENOSYS'`.
 *
 * @module
 */
import { constants as fsConstants } from 'node:fs';
import { constants as osConstants, endianness } from 'node:os';
import { inspect } from 'node:util';
import { loadAddon } from '../../core/native-addon.ts';
import type { ClosePublishRequest, CreateTempRequest } from './local-platform.ts';

/** The raw addon surface; see `native/tessera_linux.c`. */
interface NativeBinding {
  lgetxattr(path: string, name: string): Promise<Buffer>;
  fgetxattr(fd: number, name: string): Promise<Buffer>;
  lsetxattr(path: string, name: string, value: Uint8Array, flags: number): Promise<void>;
  fsetxattr(fd: number, name: string, value: Uint8Array, flags: number): Promise<void>;
  llistxattr(path: string): Promise<string[]>;
  flistxattr(fd: number): Promise<string[]>;
  lremovexattr(path: string, name: string): Promise<void>;
  fremovexattr(fd: number, name: string): Promise<void>;
  ofdSetLock(fd: number, type: number, start: number, length: number): Promise<void>;
  ofdGetLock(
    fd: number,
    type: number,
    start: number,
    length: number,
  ): Promise<{ type: number; start: number; length: number; pid: number } | null>;
  /** Missing from builds older than the flock lock space. */
  flock?: (fd: number, operation: number) => Promise<void>;
  inotifyOpen(onData: (chunk: Buffer) => void): InotifyHandle;
  inotifyAdd(handle: InotifyHandle, path: string, mask: number): number;
  inotifyRemove(handle: InotifyHandle, wd: number): void;
  inotifyClose(handle: InotifyHandle): void;
  inotifyRef(handle: InotifyHandle, keepAlive: boolean): void;
  statBatch(dir: string, names: string, count: number, out: ArrayBuffer): Promise<void>;
  writeDirect(fd: number, parts: Uint8Array[], offset: number): Promise<void>;
  renameNoReplace(from: string, to: string): Promise<void>;
  createTemp?: (
    dir: string,
    dev: bigint,
    ino: bigint,
    name: string,
    tmpName: string,
    flags: number,
    mode: number,
    out: ArrayBuffer,
  ) => Promise<number>;
  closePublish?: (
    fd: number,
    data: Uint8Array | null,
    offset: number,
    from: string,
    to: string,
    noReplace: boolean,
  ) => Promise<void>;
  constants: Record<string, number>;
}

declare const inotifyHandleBrand: unique symbol;
type InotifyHandle = { readonly [inotifyHandleBrand]: true };

const loaded = loadAddon({ name: 'tessera_linux' });
const native = loaded.exports as NativeBinding | undefined;

/** Whether the addon loaded. `false` (never a throw) on non-Linux or when it was not built. */
export const nativeAvailable: boolean = native !== undefined;
/** Why the addon did not load; `undefined` when it did. */
export const nativeLoadError: Error | undefined = loaded.error;

/** inotify event mask bits (Linux ABI values, identical on every architecture). */
export const IN = {
  ACCESS: 0x1,
  MODIFY: 0x2,
  ATTRIB: 0x4,
  CLOSE_WRITE: 0x8,
  MOVED_FROM: 0x40,
  MOVED_TO: 0x80,
  CREATE: 0x100,
  DELETE: 0x200,
  DELETE_SELF: 0x400,
  MOVE_SELF: 0x800,
  Q_OVERFLOW: 0x4000,
  IGNORED: 0x8000,
  ONLYDIR: 0x1000000,
  DONT_FOLLOW: 0x2000000,
  EXCL_UNLINK: 0x4000000,
  ISDIR: 0x40000000,
} as const;

// Linux ABI values of XATTR_* and F_*LCK (the addon exports the same for a test to compare).
const XATTR_CREATE = 1;
const XATTR_REPLACE = 2;
const LOCK_TYPE = { read: 0, write: 1, unlock: 2 } as const;
const LOCK_NAME: Record<number, 'read' | 'write'> = { 0: 'read', 1: 'write' };
/** `flock(2)` operations LOCK_SH, LOCK_EX, LOCK_UN (Linux ABI values; the addon exports them too). */
export const FLOCK_OP = { read: 1, write: 2, unlock: 8 } as const;

/** A Node-style system error (`code`, `errno`, `syscall`) for failures detected here. */
function sysError(code: 'EINVAL' | 'ENOSYS', message: string, syscall: string): NodeJS.ErrnoException {
  const errno = code === 'EINVAL' ? -22 : -38;
  const err: NodeJS.ErrnoException =
    code === 'EINVAL'
      ? new TypeError(`EINVAL: ${message}, ${syscall}`)
      : new Error(`ENOSYS: ${message}, ${syscall}`);
  return Object.assign(err, { code, errno, syscall });
}

function binding(syscall: string): NativeBinding {
  if (native) return native;
  throw sysError('ENOSYS', `native Linux addon not available (${nativeLoadError?.message})`, syscall);
}

function checkPath(value: unknown, what: string, syscall: string): string {
  if (typeof value !== 'string' || value.includes('\0')) {
    throw sysError('EINVAL', `${what} must be a string without NUL bytes`, syscall);
  }
  return value;
}

function checkFd(fd: unknown, syscall: string): number {
  if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) {
    throw sysError('EINVAL', `fd must be a non-negative integer, got ${inspect(fd)}`, syscall);
  }
  return fd;
}

function checkOffset(value: unknown, what: string, syscall: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw sysError('EINVAL', `${what} must be a non-negative safe integer, got ${inspect(value)}`, syscall);
  }
  return value;
}

function xattrFlags(mode: unknown, syscall: string): number {
  if (mode === undefined) return 0;
  if (mode === 'create') return XATTR_CREATE;
  if (mode === 'replace') return XATTR_REPLACE;
  throw sysError('EINVAL', `mode must be 'create', 'replace' or undefined, got ${inspect(mode)}`, syscall);
}

function checkValue(value: unknown, syscall: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw sysError('EINVAL', 'value must be a Uint8Array', syscall);
  return value;
}

/** Reads extended attribute `name` of `path` without following a final symlink. */
export async function lgetxattr(path: string, name: string): Promise<Buffer> {
  const b = binding('lgetxattr');
  return b.lgetxattr(checkPath(path, 'path', 'lgetxattr'), checkPath(name, 'name', 'lgetxattr'));
}

/** Reads extended attribute `name` of the open file `fd`. */
export async function fgetxattr(fd: number, name: string): Promise<Buffer> {
  const b = binding('fgetxattr');
  return b.fgetxattr(checkFd(fd, 'fgetxattr'), checkPath(name, 'name', 'fgetxattr'));
}

/**
 * Sets extended attribute `name` of `path` (final symlink not followed). `mode` `'create'`
 * fails EEXIST if it exists, `'replace'` fails ENODATA if it does not; default: either.
 */
export async function lsetxattr(
  path: string,
  name: string,
  value: Uint8Array,
  mode?: 'create' | 'replace',
): Promise<void> {
  const b = binding('lsetxattr');
  const s = 'lsetxattr';
  return b.lsetxattr(
    checkPath(path, 'path', s),
    checkPath(name, 'name', s),
    checkValue(value, s),
    xattrFlags(mode, s),
  );
}

/** Sets extended attribute `name` of the open file `fd`; `mode` as for {@link lsetxattr}. */
export async function fsetxattr(
  fd: number,
  name: string,
  value: Uint8Array,
  mode?: 'create' | 'replace',
): Promise<void> {
  const b = binding('fsetxattr');
  const s = 'fsetxattr';
  return b.fsetxattr(checkFd(fd, s), checkPath(name, 'name', s), checkValue(value, s), xattrFlags(mode, s));
}

/** Lists the extended attribute names of `path` (all namespaces the caller may see). */
export async function llistxattr(path: string): Promise<string[]> {
  return binding('llistxattr').llistxattr(checkPath(path, 'path', 'llistxattr'));
}

/** Lists the extended attribute names of the open file `fd`. */
export async function flistxattr(fd: number): Promise<string[]> {
  return binding('flistxattr').flistxattr(checkFd(fd, 'flistxattr'));
}

/** Removes extended attribute `name` of `path`; ENODATA if it does not exist. */
export async function lremovexattr(path: string, name: string): Promise<void> {
  const b = binding('lremovexattr');
  return b.lremovexattr(checkPath(path, 'path', 'lremovexattr'), checkPath(name, 'name', 'lremovexattr'));
}

/** Removes extended attribute `name` of the open file `fd`; ENODATA if it does not exist. */
export async function fremovexattr(fd: number, name: string): Promise<void> {
  const b = binding('fremovexattr');
  return b.fremovexattr(checkFd(fd, 'fremovexattr'), checkPath(name, 'name', 'fremovexattr'));
}

/** A lock found by {@link ofdGetLock}. */
export interface OfdLock {
  type: 'read' | 'write';
  start: number;
  /** 0 means to the end of the file. */
  length: number;
  /** -1 for an OFD lock; the holder's pid for a classic process-associated `F_SETLK` lock. */
  pid: number;
}

/**
 * Places, changes or releases (`'unlock'`) an OFD lock on bytes `[start, start+length)` of
 * `fd` (`length` 0: to end of file), without waiting: a conflicting lock held through another
 * open file description rejects with EAGAIN. OFD locks belong to the open file description,
 * so they are released when its last fd closes, and conflict between two opens in one process.
 */
export async function ofdSetLock(
  fd: number,
  type: 'read' | 'write' | 'unlock',
  start: number,
  length: number,
): Promise<void> {
  const b = binding('fcntl');
  if (type !== 'read' && type !== 'write' && type !== 'unlock') {
    throw sysError('EINVAL', `lock type must be 'read', 'write' or 'unlock', got ${inspect(type)}`, 'fcntl');
  }
  return b.ofdSetLock(
    checkFd(fd, 'fcntl'),
    LOCK_TYPE[type],
    checkOffset(start, 'start', 'fcntl'),
    checkOffset(length, 'length', 'fcntl'),
  );
}

/**
 * Tests whether a `type` lock on `[start, start+length)` of `fd` could be placed: returns the
 * first conflicting lock held through another open file description, or `null` if none.
 */
export async function ofdGetLock(
  fd: number,
  type: 'read' | 'write',
  start: number,
  length: number,
): Promise<OfdLock | null> {
  const b = binding('fcntl');
  if (type !== 'read' && type !== 'write') {
    throw sysError('EINVAL', `lock type must be 'read' or 'write', got ${inspect(type)}`, 'fcntl');
  }
  const found = await b.ofdGetLock(
    checkFd(fd, 'fcntl'),
    LOCK_TYPE[type],
    checkOffset(start, 'start', 'fcntl'),
    checkOffset(length, 'length', 'fcntl'),
  );
  if (found === null) return null;
  const name = LOCK_NAME[found.type];
  if (name === undefined) throw new Error(`fcntl(F_OFD_GETLK) returned unknown lock type ${found.type}`);
  return { type: name, start: found.start, length: found.length, pid: found.pid };
}

/** Whether this build of the addon has {@link flock} (an older build lacks it). */
export const flockAvailable: boolean = typeof native?.flock === 'function';

/**
 * Takes (`'read'`: shared, `'write'`: exclusive), converts or releases a `flock(2)` lock on
 * `fd` without waiting: a conflicting flock held through another open file description rejects
 * with EAGAIN. flock locks belong to the open file description and are a lock space of their
 * own: they never conflict with fcntl/OFD byte-range locks. As in the kernel, converting a lock
 * is not atomic: a conversion that fails has released the old lock.
 */
export async function flock(fd: number, type: 'read' | 'write' | 'unlock'): Promise<void> {
  const op = binding('flock').flock;
  if (op === undefined) {
    throw sysError('ENOSYS', 'this build of the tessera_linux addon has no flock; rebuild it', 'flock');
  }
  if (type !== 'read' && type !== 'write' && type !== 'unlock') {
    throw sysError('EINVAL', `lock type must be 'read', 'write' or 'unlock', got ${inspect(type)}`, 'flock');
  }
  return op(checkFd(fd, 'flock'), FLOCK_OP[type]);
}

/** One inotify event. `name` is the entry name inside a watched directory, '' for the watch itself. */
export interface InotifyEvent {
  wd: number;
  mask: number;
  cookie: number;
  name: string;
}

/** Options of {@link Inotify}. */
export interface InotifyOptions {
  /** Called on the event loop for each event, in kernel order. */
  onEvent: (ev: InotifyEvent) => void;
  /**
   * Called when the kernel queue overflowed and events were lost (rescan everything).
   * Without it, the overflow arrives at `onEvent` as an event with `wd` -1 and `IN.Q_OVERFLOW`.
   */
  onOverflow?: () => void;
}

// struct inotify_event { int wd; uint32_t mask, cookie, len; char name[len]; }, host order.
const EVENT_HEADER = 16;
const littleEndian = endianness() === 'LE';

/**
 * One inotify instance. Events are delivered on the event loop (a libuv poll on the inotify
 * fd; no thread, no polling). Unref'd by default: an open `Inotify` alone does not keep the
 * process alive (see {@link Inotify.ref}). Always call {@link Inotify.close}.
 */
export class Inotify {
  #handle: InotifyHandle;
  #closed = false;
  readonly #onEvent: (ev: InotifyEvent) => void;
  readonly #onOverflow: (() => void) | undefined;

  constructor(opts: InotifyOptions) {
    const b = binding('inotify_init1');
    if (typeof opts?.onEvent !== 'function')
      throw sysError('EINVAL', 'onEvent must be a function', 'inotify_init1');
    if (opts.onOverflow !== undefined && typeof opts.onOverflow !== 'function') {
      throw sysError('EINVAL', 'onOverflow must be a function', 'inotify_init1');
    }
    this.#onEvent = opts.onEvent;
    this.#onOverflow = opts.onOverflow;
    this.#handle = b.inotifyOpen((chunk) => this.#dispatch(chunk));
  }

  /** Whether {@link Inotify.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Watches `path` for the `IN.*` bits in `mask` and returns the watch descriptor (the same
   * one again for a path already watched; the mask then replaces the old one). A final
   * symlink is never followed (IN_DONT_FOLLOW is always added). Throws a Node-style error.
   */
  add(path: string, mask: number): number {
    const b = binding('inotify_add_watch');
    checkPath(path, 'path', 'inotify_add_watch');
    if (!Number.isInteger(mask) || mask <= 0 || mask > 0xffffffff) {
      throw sysError(
        'EINVAL',
        `mask must be a positive 32-bit integer, got ${inspect(mask)}`,
        'inotify_add_watch',
      );
    }
    return b.inotifyAdd(this.#handle, path, mask);
  }

  /** Stops watch `wd`. A watch the kernel already dropped, or any watch after close, is a no-op. */
  remove(wd: number): void {
    const b = binding('inotify_rm_watch');
    if (!Number.isInteger(wd))
      throw sysError('EINVAL', `wd must be an integer, got ${inspect(wd)}`, 'inotify_rm_watch');
    b.inotifyRemove(this.#handle, wd);
  }

  /** Makes this instance keep the event loop alive while open (like `handle.ref()`). */
  ref(): this {
    if (!this.#closed) binding('inotify').inotifyRef(this.#handle, true);
    return this;
  }

  /** Undoes {@link Inotify.ref} (the default state). */
  unref(): this {
    if (!this.#closed) binding('inotify').inotifyRef(this.#handle, false);
    return this;
  }

  /** Closes the inotify fd and drops every watch; no event is delivered afterwards. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    binding('inotify').inotifyClose(this.#handle);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  #dispatch(chunk: Buffer): void {
    for (let off = 0; off + EVENT_HEADER <= chunk.length && !this.#closed;) {
      const wd = littleEndian ? chunk.readInt32LE(off) : chunk.readInt32BE(off);
      const mask = littleEndian ? chunk.readUInt32LE(off + 4) : chunk.readUInt32BE(off + 4);
      const cookie = littleEndian ? chunk.readUInt32LE(off + 8) : chunk.readUInt32BE(off + 8);
      const len = littleEndian ? chunk.readUInt32LE(off + 12) : chunk.readUInt32BE(off + 12);
      const nameStart = off + EVENT_HEADER;
      off = nameStart + len;
      // The name is NUL-padded to an alignment boundary.
      const nul = chunk.indexOf(0, nameStart);
      const name = chunk.toString('utf8', nameStart, nul === -1 || nul > off ? off : nul);
      // One listener's exception must not drop the rest of the batch: report it as an
      // uncaught exception once this dispatch is done, like an EventEmitter listener's.
      try {
        if (mask & IN.Q_OVERFLOW && this.#onOverflow) this.#onOverflow();
        else this.#onEvent({ wd, mask, cookie, name });
      } catch (err) {
        process.nextTick(() => {
          throw err;
        });
      }
    }
  }
}

/** What {@link writeDirect} needs `offset` to be a multiple of. */
export const DIRECT_ALIGN = 4096;

/** Whether the loaded addon has {@link writeDirect} (an addon built from an older checkout does not). */
export const writeDirectAvailable: boolean = typeof native?.writeDirect === 'function';

/**
 * Write all of `parts`, back to back, at `offset` (a multiple of {@link DIRECT_ALIGN}) of the
 * file open as `fd`, the whole blocks bypassing the page cache: through a second descriptor
 * of the same file (`/proc/self/fd/N`) opened with `O_DIRECT`, from a staging buffer each
 * thread-pool thread keeps. The bytes after the last whole block go through `fd`. The job
 * works on a duplicate of `fd` made at the call, so closing `fd` meanwhile (and its number
 * going to another file) cannot redirect the bytes. Rejects like Node's fs: a descriptor
 * that is not open with `EBADF` (`.syscall === 'dup'`); a file that cannot be opened that
 * way with `.syscall === 'open'`, before anything was written: `EINVAL` for a filesystem
 * other than ext2/3/4, xfs, btrfs, f2fs and bcachefs (where `O_DIRECT` would not go straight
 * to a local disk: tmpfs, NFS, FUSE…) or one without `O_DIRECT` support, `EISDIR` for a
 * directory, `EACCES` for a file without write permission.
 */
export async function writeDirect(fd: number, parts: Uint8Array[], offset: number): Promise<void> {
  const b = binding('pwrite');
  if (!Number.isSafeInteger(offset) || offset < 0 || offset % DIRECT_ALIGN !== 0)
    throw sysError(
      'EINVAL',
      `offset must be a multiple of ${DIRECT_ALIGN}, got ${inspect(offset)}`,
      'pwrite',
    );
  if (!Array.isArray(parts) || !parts.every((p) => p instanceof Uint8Array))
    throw sysError('EINVAL', 'parts must be an array of Uint8Array', 'pwrite');
  return b.writeDirect(fd, parts, offset);
}

/** Whether the loaded addon has {@link renameNoReplace} (an addon built from an older checkout does not). */
export const renameNoReplaceAvailable: boolean = typeof native?.renameNoReplace === 'function';

/**
 * `renameat2(from, to, RENAME_NOREPLACE)` on the thread pool: one atomic rename that fails
 * `EEXIST` instead of replacing `to`. Rejects like Node's fs (`.code`, `.syscall === 'rename'`,
 * `.path`); a filesystem without the flag gives `EINVAL` (NFS, CIFS, older FUSE).
 */
export async function renameNoReplace(from: string, to: string): Promise<void> {
  const b = binding('rename');
  return b.renameNoReplace(checkPath(from, 'from', 'rename'), checkPath(to, 'to', 'rename'));
}

/**
 * Whether the loaded addon has {@link lstatBatch} (an addon built from an older checkout does
 * not: rebuild it with `node native/install.mjs`; callers fall back to one lstat per entry).
 */
export const statBatchAvailable: boolean = typeof native?.statBatch === 'function';

/** Names per thread-pool job of {@link lstatBatch}: a big page runs as several jobs at once. */
const STAT_BATCH_CHUNK = 1024;
/** Bytes per entry of the addon's result layout (see `native/tessera_linux.c`). */
const STAT_BATCH_BYTES = 5 * 8 + 6 * 8 + 4;
const ERRNO_NAMES = new Map(Object.entries(osConstants.errno).map(([name, n]) => [n, name]));

/** The figures of one entry of {@link lstatBatch}: what `fs.lstat(…, { bigint: true })` gives. */
export interface BatchStat {
  dev: bigint;
  ino: bigint;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  size: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  birthtimeNs: bigint;
}

/**
 * Entry `i` of a stat-batch result (see `native/tessera_linux.c`): its five numbers in `nums`,
 * its six 64-bit figures in `big`.
 */
function statAt(nums: Float64Array, big: BigInt64Array, i: number): BatchStat {
  const k = 5 * i;
  const j = 6 * i;
  return {
    mode: nums[k]!,
    nlink: nums[k + 1]!,
    uid: nums[k + 2]!,
    gid: nums[k + 3]!,
    size: nums[k + 4]!,
    dev: big[j]!,
    ino: big[j + 1]!,
    atimeNs: big[j + 2]!,
    mtimeNs: big[j + 3]!,
    ctimeNs: big[j + 4]!,
    birthtimeNs: big[j + 5]!,
  };
}

/**
 * `lstat` (statx, as libuv does it) every name of the directory `dir`, in thread-pool jobs of
 * up to 1024 names, and hand each entry to `map` as it is read from the results — no stats
 * object or `Date` per entry. An entry whose stat failed with `gone(code)` true gives
 * undefined; any other failure rejects with a Node-style error naming the path.
 */
export async function lstatBatch<T>(opts: {
  dir: string;
  names: readonly string[];
  map: (st: BatchStat, index: number) => T;
  gone: (code: string) => boolean;
}): Promise<(T | undefined)[]> {
  const b = binding('statx');
  const { dir, names, map } = opts;
  checkPath(dir, 'dir', 'statx');
  // All names before any job starts: a throw after one started would leave it unobserved.
  for (const name of names) {
    if (name.length === 0 || name.includes('/') || name.includes('\0'))
      throw sysError('EINVAL', `not a name in a directory: ${inspect(name)}`, 'statx');
  }
  const out = new Array<T | undefined>(names.length);
  const jobs: Promise<void>[] = [];
  for (let start = 0; start < names.length; start += STAT_BATCH_CHUNK) {
    const chunk = names.slice(start, start + STAT_BATCH_CHUNK);
    const n = chunk.length;
    const buf = new ArrayBuffer(n * STAT_BATCH_BYTES);
    jobs.push(
      b.statBatch(dir, `${chunk.join('\0')}\0`, n, buf).then(() => {
        const nums = new Float64Array(buf, 0, 5 * n);
        const big = new BigInt64Array(buf, 40 * n, 6 * n);
        const errs = new Int32Array(buf, 88 * n, n);
        for (let i = 0; i < n; i++) {
          const err = errs[i]!;
          if (err !== 0) {
            const code = ERRNO_NAMES.get(err) ?? 'EIO';
            if (opts.gone(code)) continue;
            const path = `${dir === '/' ? '' : dir}/${chunk[i]!}`;
            throw Object.assign(new Error(`${code}: lstat failed, statx '${path}'`), {
              code,
              errno: -err,
              syscall: 'statx',
              path,
            });
          }
          out[start + i] = map(statAt(nums, big, i), start + i);
        }
      }),
    );
  }
  await Promise.all(jobs);
  return out;
}

/** Whether the loaded addon has {@link createTemp} and {@link closePublish} (an older build does not). */
export const createPublishAvailable: boolean =
  typeof native?.createTemp === 'function' && typeof native.closePublish === 'function';

/** {@link createTemp}'s answers other than a descriptor (see `native/tessera_linux.c`). */
const CREATE_MOVED = -1;
const CREATE_EXISTS = -2;

/** What {@link createTemp} came to. */
export type CreateTempResult =
  /** The temp file is made and open as `fd`; `st` is its `fstat`. */
  | { kind: 'created'; fd: number; st: BatchStat }
  /** The name exists (nothing was made): `st` is its `lstat`. */
  | { kind: 'exists'; st: BatchStat }
  /** The directory at that path is not the one asked for (nothing was made). */
  | { kind: 'moved' };

function checkName(value: unknown, what: string, syscall: string): string {
  const name = checkPath(value, what, syscall);
  if (name.length === 0 || name.includes('/') || name === '.' || name === '..')
    throw sysError('EINVAL', `${what} must be a name in a directory, got ${inspect(name)}`, syscall);
  return name;
}

/** The figures of entry 0 of a one-entry stat-batch result. */
function statOf(buf: ArrayBuffer): BatchStat {
  return statAt(new Float64Array(buf, 0, 5), new BigInt64Array(buf, 40, 6), 0);
}

/**
 * A new file's first steps in one thread-pool job: the directory at `dir` is opened without
 * following a symlink and must be the directory `dev`/`ino` (else `moved`); `name` in it is
 * `lstat`ed (if it exists: `exists`, with its stat); otherwise `tmpName` is created in it
 * (`O_CREAT|O_EXCL|O_RDWR|O_NOFOLLOW|O_CLOEXEC`, plus `O_APPEND` with `append`) with `mode`,
 * `fstat`ed, and given `mode` exactly if the umask narrowed it. A failure after the open closes
 * the file and removes it before rejecting (Node-style error naming the syscall and path).
 */
export async function createTemp(opts: CreateTempRequest): Promise<CreateTempResult> {
  const s = 'open';
  const fn = binding(s).createTemp;
  if (fn === undefined)
    throw sysError('ENOSYS', 'this build of the tessera_linux addon has no createTemp', s);
  const { dev, ino, mode } = opts;
  if (typeof dev !== 'bigint' || typeof ino !== 'bigint' || dev < 0n || ino < 0n)
    throw sysError('EINVAL', 'dev and ino must be non-negative bigints', s);
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777)
    throw sysError('EINVAL', `mode must be permission bits, got ${inspect(mode)}`, s);
  const out = new ArrayBuffer(STAT_BATCH_BYTES);
  const got = await fn(
    checkPath(opts.dir, 'dir', s),
    dev,
    ino,
    checkName(opts.name, 'name', s),
    checkName(opts.tmpName, 'tmpName', s),
    fsConstants.O_RDWR | (opts.append ? fsConstants.O_APPEND : 0),
    mode,
    out,
  );
  if (got === CREATE_MOVED) return { kind: 'moved' };
  if (got === CREATE_EXISTS) return { kind: 'exists', st: statOf(out) };
  return { kind: 'created', fd: got, st: statOf(out) };
}

/**
 * A created file's close in one thread-pool job: `pwrite` all of `data` (if any) at `offset`
 * of `fd`, `close(fd)`, then rename `from` to `to` (with `noReplace`, renameat2's
 * `RENAME_NOREPLACE`: `EEXIST` instead of replacing). Rejects Node-style with `.syscall`
 * naming the step that failed: `'rename'` (`.path` = `from`) — `fd` is closed; `ENOENT`
 * there means a directory of the path is gone or moved, and `EINVAL`/`ENOSYS`/`ENOTSUP` with
 * `noReplace` a filesystem without the flag. Any other failure (`'pwrite'`, bad arguments)
 * did nothing else: `fd` is still open and the caller's. From the call on, `fd` is the job's:
 * the caller must not use or close it until the promise settles.
 */
export async function closePublish(opts: ClosePublishRequest): Promise<void> {
  const s = 'pwrite';
  const fn = binding(s).closePublish;
  if (fn === undefined)
    throw sysError('ENOSYS', 'this build of the tessera_linux addon has no closePublish', s);
  if (opts.data !== undefined && !(opts.data instanceof Uint8Array))
    throw sysError('EINVAL', 'data must be a Uint8Array', s);
  return fn(
    checkFd(opts.fd, s),
    opts.data ?? null,
    checkOffset(opts.offset, 'offset', s),
    checkPath(opts.from, 'from', s),
    checkPath(opts.to, 'to', s),
    opts.noReplace === true,
  );
}
