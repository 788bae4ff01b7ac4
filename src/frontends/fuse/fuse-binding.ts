/**
 * Typed wrapper over the `tessera_fuse` N-API addon (`native/tessera_fuse.c`): libfuse 3's
 * low-level, inode-based API (the system's `libfuse3.so.3`, loaded when mounting). Requests arrive through one dispatch callback with their numeric
 * fields in a shared `Float64Array` (read them before awaiting anything); answers go back
 * through the `reply*` functions, in any order, from the JavaScript thread.
 *
 * @module
 */
import { loadAddon } from '../../core/native-addon.ts';

/** Operation codes of the dispatch callback (`native/tessera_fuse.c` has the same). */
export const Op = {
  LOOKUP: 1,
  GETATTR: 2,
  SETATTR: 3,
  READLINK: 4,
  MKNOD: 5,
  MKDIR: 6,
  UNLINK: 7,
  RMDIR: 8,
  SYMLINK: 9,
  RENAME: 10,
  LINK: 11,
  OPEN: 12,
  READ: 13,
  WRITE: 14,
  FLUSH: 15,
  RELEASE: 16,
  FSYNC: 17,
  OPENDIR: 18,
  READDIR: 19,
  RELEASEDIR: 20,
  FSYNCDIR: 21,
  STATFS: 22,
  SETXATTR: 23,
  GETXATTR: 24,
  LISTXATTR: 25,
  REMOVEXATTR: 26,
  CREATE: 27,
  GETLK: 28,
  SETLK: 29,
  FLOCK: 30,
  READDIRPLUS: 31,
  /** Not a request (nothing to answer): a signal interrupted the blocking lock wait `fh`. */
  INTERRUPT: 99,
  /** The session loop ended (the mount is gone); no request follows. */
  EXITED: 100,
} as const;

/**
 * Largest FUSE read and write request: libfuse 3's buffer (256 pages) and the kernel's default
 * `max_pages` limit.
 */
export const MAX_IO = 1024 * 1024;

/** Size of the shared numeric argument arrays. */
export const NARGS = 16;

/** Flags of `replyOpen` / `replyCreate`. */
export const OpenReply = { DIRECT_IO: 1, KEEP_CACHE: 2, NONSEEKABLE: 4 } as const;

declare const sessionBrand: unique symbol;
/** A mounted FUSE session (an opaque native handle). */
export type FuseSession = { readonly [sessionBrand]: true };

/** A request handle (a pointer, as a bigint); every request gets exactly one reply. */
export type Req = bigint;

/**
 * The dispatch callback: `op`, request, inode, file handle (or the second inode of rename and
 * link), lock owner, name, second name (rename's new name, symlink's target), bytes (write,
 * setxattr). Numbers are in the session's in-args array (see each op in the C source). A
 * write's bytes usually come in a write slot instead of `data`: in-args 2 is the slot + 1 (0:
 * none) and 3 the length; the slot must be given back with `releaseSlot`. In-args 4 is 1 when
 * the addon has answered the write already (then JavaScript must not; a failure is reported
 * with `writeFailed` and kept for the file's next write, flush or fsync).
 */
export type Dispatch = (
  op: number,
  req: Req,
  ino: bigint,
  fh: bigint,
  owner: bigint,
  name: string | undefined,
  name2: string | undefined,
  data: Buffer | undefined,
) => void;

/** The raw addon surface; see `native/tessera_fuse.c`. */
export interface FuseBinding {
  mount(
    mountpoint: string,
    options: string,
    dispatch: Dispatch,
    inArgs: Float64Array,
    outArgs: Float64Array,
    maxBackground: number,
    writeSlots: Buffer,
    slotSize: number,
  ): FuseSession;
  /** Give back a write slot (see {@link Dispatch}) once its bytes are copied. */
  releaseSlot(s: FuseSession, slot: number): void;
  /** A write of file handle `fh` failed: its writes are no longer answered by the addon. */
  writeFailed(s: FuseSession, fh: bigint): void;
  /** Detach the mount; 0 or an errno. */
  unmount(mountpoint: string): number;
  destroy(session: FuseSession): void;
  replyErr(s: FuseSession, req: Req, errno: number): number;
  replyEntry(
    s: FuseSession,
    req: Req,
    ino: bigint,
    gen: number,
    entryTimeout: number,
    attrTimeout: number,
  ): number;
  replyCreate(
    s: FuseSession,
    req: Req,
    ino: bigint,
    gen: number,
    entryTimeout: number,
    attrTimeout: number,
    fh: bigint,
    openFlags: number,
  ): number;
  replyAttr(s: FuseSession, req: Req, ino: bigint, attrTimeout: number): number;
  replyOpen(s: FuseSession, req: Req, fh: bigint, openFlags: number): number;
  replyBuf(s: FuseSession, req: Req, bytes: Uint8Array | undefined): number;
  replyWrite(s: FuseSession, req: Req, count: number): number;
  replyReadlink(s: FuseSession, req: Req, target: string): number;
  replyStatfs(s: FuseSession, req: Req): number;
  replyXattr(s: FuseSession, req: Req, size: number): number;
  replyLock(s: FuseSession, req: Req, type: number, start: number, len: number, pid: number): number;
  notifyInode(s: FuseSession, ino: bigint, off: number, len: number): void;
  notifyEntry(s: FuseSession, parent: bigint, name: string): void;
  /** What the kernel and libfuse agreed at INIT (`protoMajor` 0: no INIT yet). */
  connInfo(s: FuseSession): ConnInfo;
}

/** The kernel protocol a mount speaks (see {@link FuseBinding.connInfo}). */
export interface ConnInfo {
  /** The kernel's FUSE protocol version (libfuse speaks the lower of it and its own). */
  protoMajor: number;
  protoMinor: number;
  /** Largest WRITE request. */
  maxWrite: number;
  /** Listings carry each entry's attributes (READDIRPLUS). */
  readdirplus: boolean;
}

/** Every call of {@link FuseBinding}. */
const BINDING_CALLS = [
  'mount',
  'unmount',
  'destroy',
  'replyErr',
  'replyEntry',
  'replyCreate',
  'replyAttr',
  'replyOpen',
  'replyBuf',
  'replyWrite',
  'replyReadlink',
  'replyStatfs',
  'replyXattr',
  'replyLock',
  'notifyInode',
  'notifyEntry',
  'releaseSlot',
  'writeFailed',
  'connInfo',
] as const satisfies readonly (keyof FuseBinding)[];

/** What {@link loadFuseBinding} found. */
export interface LoadedFuseBinding {
  binding?: FuseBinding;
  /** Why the addon cannot be used. */
  error?: Error;
  /** The addon loads but was built from an older `native/tessera_fuse.c` (a build to redo). */
  outdated?: boolean;
}

let cached: LoadedFuseBinding | undefined;

/**
 * The addon, or why it cannot be used here (not Linux, not built, out of date). Without
 * libfuse 3 installed it loads, and mounting fails with a message that says to install it.
 */
export function loadFuseBinding(): LoadedFuseBinding {
  if (cached) return cached;
  if (process.platform !== 'linux') {
    cached = { error: new Error(`FUSE mounts are Linux-only (platform: ${process.platform})`) };
    return cached;
  }
  const { exports, error, file } = loadAddon({ name: 'tessera_fuse' });
  if (!exports) {
    cached = { error };
    return cached;
  }
  const binding = exports as Partial<FuseBinding>;
  // An addon built from an older native/tessera_fuse.c lacks newer calls: say so up front.
  const missing = BINDING_CALLS.filter((name) => typeof binding[name] !== 'function');
  cached =
    missing.length > 0
      ? {
          outdated: true,
          error: new Error(
            `the tessera_fuse addon at ${file} is out of date (no ${missing.join(', ')}): rebuild it with \`node native/install.mjs\``,
          ),
        }
      : { binding: binding as FuseBinding };
  return cached;
}
