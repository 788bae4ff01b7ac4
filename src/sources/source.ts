import type { Attr } from '../core/attr.ts';
import { FsError } from '../core/fs-error.ts';
import type { NodeId } from '../core/ids.ts';

/**
 * Capabilities a Source declares per export. Callers and tests gate behaviour on these,
 * never on the kind of adapter. Snake case because they travel in `EXPORTS` as the seed
 * specifies.
 */
export interface Caps {
  /** Changes made behind the Source's back are pushed promptly by a native mechanism. */
  native_watch: boolean;
  /** Names differing only in case are different files. */
  case_sensitive: boolean;
  symlink: boolean;
  xattr: boolean;
  /** Advisory byte-range locks. */
  lock: boolean;
  hardlink: boolean;
  /** Largest file the Source can hold, in bytes. */
  max_file_size: number;
  /** Writes are allowed (false for read-only exports and read-only sources). */
  writable: boolean;
  /** Mode, uid, gid, nlink and ctime are real rather than synthetic defaults. */
  posix_attrs: boolean;
  /** A file written through a handle becomes visible whole at close, never half-written. */
  atomic_write: boolean;
  /** Ids stay the same across a restart of the Source. */
  persistent_ids: boolean;
}

/** One export of a Source, as `EXPORTS` describes it. */
export interface ExportInfo {
  name: string;
  /** Root id: `(k << 48) | 1` for export index `k`. */
  root: NodeId;
  ro: boolean;
  desc: string;
  /** `linux`, `posix`, `windows`, `s3`, `memory`, `namespace`, `remote`, … */
  source_kind: string;
  /** Stable identifier of this source instance, e.g. `linux:work`. */
  source_id: string;
  caps: Caps;
}

/** A directory entry with its id and attributes (`lookup`, `readdirp`, `mkdir`, …). */
export interface Entry {
  id: NodeId;
  attr: Attr;
}

/** A named directory entry, as `readdirp` returns it. */
export interface DirEntry extends Entry {
  name: string;
}

/** How a file is opened. */
export interface OpenFlags {
  read: boolean;
  write: boolean;
  /** Discard the current content (`O_TRUNC`). */
  truncate?: boolean;
  /** Every write goes to the end of the file (`O_APPEND`). */
  append?: boolean;
}

/**
 * Write all of `req.data` through `write` (a Source's `write`, or a driver's own), as a close
 * carrying a write must before it closes: a short write is `EIO`.
 */
export async function writeWhole(opts: {
  write: (req: { handle: Handle; offset: number; data: Uint8Array }) => Promise<{ written: number }>;
  req: { handle: Handle; offset: number; data: Uint8Array };
}): Promise<void> {
  const { write, req } = opts;
  const { written } = await write(req);
  const want = req.data.byteLength;
  if (written < want)
    throw FsError.EIO('write', String(req.handle), `short write (${written} of ${want} bytes)`);
}

/**
 * A wrapper's close of a handle it maps to another Source's: `forget` drops its own entry,
 * `close` closes the inner handle. The entry goes first (a failed close still ends the handle),
 * but for a close carrying a write only once it succeeded: a failed write leaves the handle
 * open, at every layer.
 */
export async function closeThrough(opts: {
  req: { write?: unknown };
  forget: () => void;
  close: () => Promise<void>;
}): Promise<void> {
  const { req, forget, close } = opts;
  if (req.write === undefined) {
    forget();
    return close();
  }
  await close();
  forget();
}

/** Whether opening with `flags` may change the file: writing, truncating or appending. */
export function opensForWrite(flags: OpenFlags): boolean {
  return flags.write || flags.truncate === true || flags.append === true;
}

/** An open file, by a per-Source handle number. */
export type Handle = number;

/** Filesystem statistics (`statfs`). Block counts are in units of `bsize`. */
export interface StatFs {
  bsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  namemax: number;
}

/** Lock kinds: shared, exclusive, or release. */
export type LockType = 'read' | 'write' | 'unlock';

/**
 * Which lock space a lock lives in: `posix` for byte-range record locks (fcntl, lockf, OFD),
 * `flock` for whole-file `flock(2)` locks. As on Linux, the two never conflict with each other.
 */
export type LockKind = 'posix' | 'flock';

/** A held or conflicting byte-range lock. `length` 0 means "to the end of the file". */
export interface LockInfo {
  type: 'read' | 'write';
  start: number;
  length: number;
  /** Owner token of the holder (the handle unless the caller gave one). */
  owner: string;
}

/** What changed, pushed by `watch`. */
export type Invalidation =
  /** The content or attributes of `id` changed. */
  | { kind: 'data' | 'attr'; id: NodeId }
  /** The entry `name` in directory `parent` appeared, vanished or was replaced. */
  | { kind: 'entry'; parent: NodeId; name: string }
  /** Anything under `id` may have changed (overflow, rescan). */
  | { kind: 'tree'; id: NodeId };

/** Receives invalidations. */
export type InvalidationListener = (event: Invalidation) => void;

/** Names of every operation of the contract (and of the wire ops that carry them). */
export const SOURCE_OPS = [
  'listExports',
  'lookup',
  'getattr',
  'setattr',
  'readdirp',
  'openFile',
  'read',
  'write',
  'flush',
  'closeFile',
  'create',
  'mkdir',
  'unlink',
  'rmdir',
  'rename',
  'symlink',
  'readlink',
  'link',
  'getxattr',
  'setxattr',
  'listxattr',
  'removexattr',
  'lock',
  'statfs',
  'watch',
] as const;

/** One operation of the contract. */
export type SourceOp = (typeof SOURCE_OPS)[number];

/** Operations that change the Source (refused with `EROFS` on a read-only export). */
export const MUTATING_OPS: ReadonlySet<SourceOp> = new Set<SourceOp>([
  'setattr',
  'write',
  'create',
  'mkdir',
  'unlink',
  'rmdir',
  'rename',
  'symlink',
  'link',
  'setxattr',
  'removexattr',
]);

/** The request object of Source operation `K` (`SourceRequest<'read'>` is read's argument). */
export type SourceRequest<K extends keyof Source> = Source[K] extends (req: infer R) => unknown ? R : never;

/**
 * The SourceAdapter contract (DESIGN §4.1). Every backend — memory, local, S3, a remote node,
 * the namespace, zones, virtual directories, snapshots — implements it and passes the one
 * conformance suite, limited by the caps it declares.
 *
 * Every operation takes one request object (the same shape the wire protocol carries) and
 * rejects with an `FsError`. An operation the Source does not support rejects with `ENOSYS`
 * and `supportsOperation` answers false for it. An id whose file is gone rejects with
 * `ESTALE`. Mutations on a read-only export reject with `EROFS`.
 *
 * Lifecycle: `open()` and `close()` are idempotent; `Symbol.asyncDispose` closes.
 */
export interface Source extends AsyncDisposable {
  open(): Promise<void>;
  close(): Promise<void>;

  /** Whether this Source implements `op` (unsupported ones reject with `ENOSYS`). */
  supportsOperation(op: SourceOp): boolean;

  listExports(): Promise<ExportInfo[]>;
  lookup(req: { parent: NodeId; name: string }): Promise<Entry>;
  getattr(req: { id: NodeId }): Promise<Attr>;
  /**
   * Change attributes. `size` truncates or extends; times are nanoseconds since the epoch.
   * With `handle`, a size change applies to that open file (visible to its reads).
   */
  setattr(req: {
    id: NodeId;
    handle?: Handle | undefined;
    mode?: number | undefined;
    uid?: number | undefined;
    gid?: number | undefined;
    size?: number | undefined;
    atimeNs?: bigint | undefined;
    mtimeNs?: bigint | undefined;
  }): Promise<Attr>;
  /**
   * List a directory a page at a time. `cookie` is `''` for the first page and the
   * returned cookie afterwards. Every entry present for the whole listing is returned
   * exactly once, even while entries are added or removed; `.` and `..` are not listed.
   */
  readdirp(req: { dir: NodeId; cookie: string; max: number }): Promise<{
    entries: DirEntry[];
    cookie: string;
    eof: boolean;
  }>;

  openFile(req: { id: NodeId; flags: OpenFlags }): Promise<{ handle: Handle }>;
  /**
   * Read up to `length` bytes; fewer only at the end of the file. With `into` (at least
   * `length` bytes long) a Source may read into it and return a view of it, sparing a fresh
   * allocation per call (a FUSE read hands over a buffer to fill); callers use the returned
   * bytes either way, and a Source may ignore `into`.
   */
  read(req: {
    handle: Handle;
    offset: number;
    length: number;
    into?: Uint8Array | undefined;
  }): Promise<Uint8Array>;
  /**
   * Write `data` at `offset`. The caller may reuse `data` once the promise settles (a node
   * receives WRITE bytes into pooled buffers): a Source that keeps bytes copies them.
   */
  write(req: { handle: Handle; offset: number; data: Uint8Array }): Promise<{ written: number }>;
  flush(req: { handle: Handle }): Promise<void>;
  /**
   * Close a handle. A file written through it becomes visible whole now (if `atomic_write`).
   * With `abort`, what was written through the handle is discarded instead: a created file
   * never appears and an existing file keeps its old content (a node closes the handles of
   * an abandoned session this way). A Source that cannot discard treats it as a normal close.
   *
   * With `write`, those bytes are written through the handle first and the close follows
   * only if the write succeeded (a short write is `EIO`): a failing write rejects with its
   * error and leaves the handle open, exactly as `write` then `closeFile` would. Over the
   * wire both travel in one request, so a file's last bytes cost no round trip of their own.
   * `abort` together with `write` is `EINVAL`.
   */
  closeFile(req: {
    handle: Handle;
    abort?: boolean | undefined;
    write?: { offset: number; data: Uint8Array } | undefined;
  }): Promise<void>;

  /**
   * Create a regular file and open it for writing. With `exclusive`, an existing name gives
   * `EEXIST` (also if another writer makes the name visible first).
   */
  create(req: {
    parent: NodeId;
    name: string;
    mode: number;
    exclusive?: boolean | undefined;
    flags?: OpenFlags | undefined;
  }): Promise<Entry & { handle: Handle }>;
  mkdir(req: { parent: NodeId; name: string; mode: number }): Promise<Entry>;
  unlink(req: { parent: NodeId; name: string }): Promise<void>;
  rmdir(req: { parent: NodeId; name: string }): Promise<void>;
  /**
   * Rename within the Source. `noreplace` gives `EEXIST` when the target exists. A target
   * in another export or Source gives `EXDEV`.
   */
  rename(req: {
    parent: NodeId;
    name: string;
    newParent: NodeId;
    newName: string;
    noreplace?: boolean | undefined;
  }): Promise<void>;
  symlink(req: { parent: NodeId; name: string; target: string }): Promise<Entry>;
  readlink(req: { id: NodeId }): Promise<string>;
  link(req: { id: NodeId; newParent: NodeId; newName: string }): Promise<Entry>;

  getxattr(req: { id: NodeId; name: string }): Promise<Uint8Array>;
  setxattr(req: {
    id: NodeId;
    name: string;
    value: Uint8Array;
    /** `create`: fail with EEXIST if set; `replace`: fail with ENODATA if not set. */
    mode?: 'create' | 'replace' | undefined;
  }): Promise<void>;
  listxattr(req: { id: NodeId }): Promise<string[]>;
  removexattr(req: { id: NodeId; name: string }): Promise<void>;

  /**
   * Advisory locks on an open file. `cmd: 'test'` returns the first lock that would conflict
   * (or null); `'set'` takes or releases it now or fails with `EAGAIN`; `'wait'` waits for
   * conflicting locks to go. Locks of one owner never conflict with each other; a handle's
   * locks are released when it is closed. `kind` (default `posix`) picks the lock space:
   * `flock` locks are whole-file (`start` and `length` 0, anything else is `EINVAL`) and
   * never conflict with `posix` ones, nor `posix` with them.
   */
  lock(req: {
    handle: Handle;
    cmd: 'test' | 'set' | 'wait';
    type: LockType;
    start: number;
    length: number;
    owner?: string | undefined;
    kind?: LockKind | undefined;
  }): Promise<LockInfo | null>;

  statfs(req: { id: NodeId }): Promise<StatFs>;

  /** Subscribe to invalidations; returns the unsubscribe function. */
  watch(listener: InvalidationListener): () => void;
}
