import type { Attr } from '../core/attr.ts';
import { FsError } from '../core/fs-error.ts';
import { exportIndexOf, rootId, type NodeId } from '../core/ids.ts';
import { checkName } from '../core/names.ts';
import type {
  Caps,
  DirEntry,
  Entry,
  ExportInfo,
  Handle,
  InvalidationListener,
  LockInfo,
  Source,
  SourceOp,
  StatFs,
  SourceRequest,
} from './source.ts';
import { MUTATING_OPS, opensForWrite, SOURCE_OPS, writeWhole } from './source.ts';
import { WatchHub } from './watch-hub.ts';

type Res<K extends keyof Source> = Source[K] extends (...args: never[]) => Promise<infer R> ? R : never;

/** Which capability an operation needs, for the ops that depend on one. */
const OP_CAP: Partial<Record<SourceOp, keyof Caps>> = {
  symlink: 'symlink',
  readlink: 'symlink',
  link: 'hardlink',
  getxattr: 'xattr',
  setxattr: 'xattr',
  listxattr: 'xattr',
  removexattr: 'xattr',
  lock: 'lock',
};

/** The driver method behind each operation (`lookup` → `doLookup`), computed once. */
const DRIVER_METHOD = Object.fromEntries(
  SOURCE_OPS.map((op) => [op, `do${op[0]!.toUpperCase()}${op.slice(1)}`]),
) as unknown as Record<SourceOp, keyof BaseSource>;

/** Identity of a single-export Source. */
export interface ExportIdentity {
  /** Export name. */
  name: string;
  /** Export index `k` (ids carry it in their top 16 bits). */
  exportIndex: number;
  ro: boolean;
  desc: string;
  sourceKind: string;
  sourceId: string;
}

/**
 * Shared core of every adapter: lifecycle, argument checks, read-only and capability
 * gating, and error normalization happen here once, so a driver only implements the
 * `do*` methods it supports (the rest reject with `ENOSYS` and `supportsOperation` says
 * so). Anything a driver throws that is not an `FsError` becomes one (unknown → `EIO`).
 */
export abstract class BaseSource implements Source {
  protected readonly hub = new WatchHub();
  #state: 'new' | 'opening' | 'open' | 'closed' = 'new';
  #opening: Promise<void> | undefined;

  /** Capabilities of the export(s) this Source serves. */
  abstract get caps(): Caps;
  /** Exports served. */
  protected abstract exportsInfo(): ExportInfo[];
  /** Whether writes to the export holding `id` are refused. */
  protected abstract readOnlyFor(id: NodeId): boolean;

  /**
   * Whether a rename from the export of `from` into the export of `to` is for the driver to
   * decide (the namespace moves files between mounts by copy when a mount's policy says
   * so); by default a rename between exports is `EXDEV` before the driver sees it.
   */
  protected movesAcrossExports(_from: NodeId, _to: NodeId): boolean {
    return false;
  }

  /**
   * Whether `doCloseFile` carries out a close's `write` itself (a wire Source sends both in
   * one request; a wrapper hands them on together). Otherwise `closeFile` writes through
   * `doWrite` and then closes. A driver that says yes keeps the handle open when the write
   * fails.
   */
  protected get closeCarriesWrite(): boolean {
    return false;
  }

  protected async doOpen(): Promise<void> {}
  protected async doClose(): Promise<void> {}

  async open(): Promise<void> {
    if (this.#state === 'open') return;
    if (this.#state === 'closed') throw FsError.ESHUTDOWN('open', undefined, 'source is closed');
    this.#opening ??= (async () => {
      this.#state = 'opening';
      try {
        await this.doOpen();
        this.#state = 'open';
      } catch (err) {
        this.#state = 'new';
        this.#opening = undefined;
        throw FsError.from(err, 'open');
      }
    })();
    return this.#opening;
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    if (this.#state === 'opening') await this.#opening?.catch(() => undefined);
    const wasOpen = this.#state === 'open';
    this.#state = 'closed';
    this.hub.clear();
    if (wasOpen) await this.doClose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Whether the Source is open. */
  get isOpen(): boolean {
    return this.#state === 'open';
  }

  supportsOperation(op: SourceOp): boolean {
    const cap = OP_CAP[op];
    if (cap !== undefined && !this.caps[cap]) return false;
    if (op === 'listExports' || op === 'watch') return true;
    const impl = DRIVER_METHOD[op];
    return this[impl] !== BaseSource.prototype[impl];
  }

  /**
   * Run one operation with the shared checks around the driver. Not an async function: on
   * the hot path (getattr, read) one promise less per call is measurable.
   */
  #run<T>(op: SourceOp, target: { id?: NodeId; names?: string[] }, fn: () => Promise<T>): Promise<T> {
    let result: Promise<T>;
    try {
      if (this.#state !== 'open') {
        throw this.#state === 'closed'
          ? FsError.ESHUTDOWN(op, undefined, 'source is closed')
          : FsError.ENOTCONN(op, undefined, 'source is not open');
      }
      if (!this.supportsOperation(op)) throw FsError.ENOSYS(op, target.id?.toString());
      if (target.names !== undefined) for (const name of target.names) checkName(op, name);
      if (target.id !== undefined && MUTATING_OPS.has(op) && this.readOnlyFor(target.id)) {
        throw FsError.EROFS(op, target.id.toString());
      }
      result = fn();
    } catch (err) {
      return Promise.reject(FsError.from(err, op, target.id?.toString()));
    }
    return result.then(undefined, (err: unknown) => {
      throw FsError.from(err, op, target.id?.toString());
    });
  }

  async listExports(): Promise<ExportInfo[]> {
    return this.#run('listExports', {}, async () => this.exportsInfo());
  }
  lookup(req: SourceRequest<'lookup'>): Promise<Entry> {
    return this.#run('lookup', { id: req.parent, names: [req.name] }, () => this.doLookup(req));
  }
  getattr(req: SourceRequest<'getattr'>): Promise<Attr> {
    return this.#run('getattr', { id: req.id }, () => this.doGetattr(req));
  }
  setattr(req: SourceRequest<'setattr'>): Promise<Attr> {
    return this.#run('setattr', { id: req.id }, () => {
      if (req.size !== undefined && (!Number.isSafeInteger(req.size) || req.size < 0)) {
        throw FsError.EINVAL('setattr', req.id.toString(), `bad size ${req.size}`);
      }
      if (req.size !== undefined && req.size > this.caps.max_file_size)
        throw FsError.EFBIG('setattr', req.id.toString());
      return this.doSetattr(req);
    });
  }
  readdirp(req: SourceRequest<'readdirp'>): Promise<Res<'readdirp'>> {
    return this.#run('readdirp', { id: req.dir }, () => this.doReaddirp(req));
  }
  openFile(req: SourceRequest<'openFile'>): Promise<{ handle: Handle }> {
    const writes = opensForWrite(req.flags);
    return this.#run('openFile', { id: req.id }, () => {
      if (writes && this.readOnlyFor(req.id)) throw FsError.EROFS('open', req.id.toString());
      return this.doOpenFile(req);
    });
  }
  read(req: SourceRequest<'read'>): Promise<Uint8Array> {
    return this.#run('read', {}, () => {
      checkRange('read', req.offset, req.length);
      if (req.into !== undefined && req.into.byteLength < req.length) {
        throw FsError.EINVAL(
          'read',
          undefined,
          `into holds ${req.into.byteLength} bytes, less than length ${req.length}`,
        );
      }
      return this.doRead(req);
    });
  }
  write(req: SourceRequest<'write'>): Promise<{ written: number }> {
    return this.#run('write', {}, () => {
      checkWrite(req.offset, req.data.byteLength, this.caps.max_file_size);
      return this.doWrite(req);
    });
  }
  flush(req: SourceRequest<'flush'>): Promise<void> {
    return this.#run('flush', {}, () => this.doFlush(req));
  }
  closeFile(req: SourceRequest<'closeFile'>): Promise<void> {
    return this.#run('closeFile', {}, () => {
      const { write } = req;
      if (write === undefined) return this.doCloseFile(req);
      if (req.abort === true) throw FsError.EINVAL('close', undefined, 'abort together with write');
      if (this.closeCarriesWrite) {
        checkWrite(write.offset, write.data.byteLength, this.caps.max_file_size);
        return this.doCloseFile(req);
      }
      return writeWhole({ write: (w) => this.write(w), req: { handle: req.handle, ...write } }).then(() =>
        this.doCloseFile({ handle: req.handle }),
      );
    });
  }
  create(req: SourceRequest<'create'>): Promise<Entry & { handle: Handle }> {
    return this.#run('create', { id: req.parent, names: [req.name] }, () => this.doCreate(req));
  }
  mkdir(req: SourceRequest<'mkdir'>): Promise<Entry> {
    return this.#run('mkdir', { id: req.parent, names: [req.name] }, () => this.doMkdir(req));
  }
  unlink(req: SourceRequest<'unlink'>): Promise<void> {
    return this.#run('unlink', { id: req.parent, names: [req.name] }, () => this.doUnlink(req));
  }
  rmdir(req: SourceRequest<'rmdir'>): Promise<void> {
    return this.#run('rmdir', { id: req.parent, names: [req.name] }, () => this.doRmdir(req));
  }
  rename(req: SourceRequest<'rename'>): Promise<void> {
    return this.#run('rename', { id: req.parent, names: [req.name, req.newName] }, () => {
      if (!this.movesAcrossExports(req.parent, req.newParent))
        checkSameExport('rename', req.parent, req.newParent);
      if (this.readOnlyFor(req.newParent)) throw FsError.EROFS('rename', req.newParent.toString());
      return this.doRename(req);
    });
  }
  symlink(req: SourceRequest<'symlink'>): Promise<Entry> {
    return this.#run('symlink', { id: req.parent, names: [req.name] }, () => {
      if (req.target.length === 0 || req.target.includes('\0')) {
        throw FsError.EINVAL('symlink', req.name, 'symlink target is empty or contains NUL');
      }
      return this.doSymlink(req);
    });
  }
  readlink(req: SourceRequest<'readlink'>): Promise<string> {
    return this.#run('readlink', { id: req.id }, () => this.doReadlink(req));
  }
  link(req: SourceRequest<'link'>): Promise<Entry> {
    return this.#run('link', { id: req.newParent, names: [req.newName] }, () => {
      checkSameExport('link', req.id, req.newParent);
      return this.doLink(req);
    });
  }
  getxattr(req: SourceRequest<'getxattr'>): Promise<Uint8Array> {
    return this.#run('getxattr', { id: req.id }, () =>
      this.doGetxattr({ ...req, name: checkXattrName(req.name) }),
    );
  }
  setxattr(req: SourceRequest<'setxattr'>): Promise<void> {
    return this.#run('setxattr', { id: req.id }, () =>
      this.doSetxattr({ ...req, name: checkXattrName(req.name) }),
    );
  }
  listxattr(req: SourceRequest<'listxattr'>): Promise<string[]> {
    return this.#run('listxattr', { id: req.id }, () => this.doListxattr(req));
  }
  removexattr(req: SourceRequest<'removexattr'>): Promise<void> {
    return this.#run('removexattr', { id: req.id }, () =>
      this.doRemovexattr({ ...req, name: checkXattrName(req.name) }),
    );
  }
  lock(req: SourceRequest<'lock'>): Promise<LockInfo | null> {
    return this.#run('lock', {}, () => {
      checkRange('lock', req.start, req.length);
      if (req.kind === 'flock' && (req.start !== 0 || req.length !== 0)) {
        throw FsError.EINVAL(
          'lock',
          undefined,
          'a flock lock covers the whole file: start and length must be 0',
        );
      }
      if (req.cmd !== 'set' && req.type === 'unlock') {
        throw FsError.EINVAL('lock', undefined, `'${req.cmd}' needs a read or write lock type`);
      }
      return this.doLock(req);
    });
  }
  statfs(req: SourceRequest<'statfs'>): Promise<StatFs> {
    return this.#run('statfs', { id: req.id }, () => this.doStatfs(req));
  }
  watch(listener: InvalidationListener): () => void {
    return this.hub.add(listener);
  }

  // Driver operations. The defaults reject with ENOSYS (and supportsOperation says false).
  protected async doLookup(req: SourceRequest<'lookup'>): Promise<Entry> {
    throw unsupported('lookup', req);
  }
  protected async doGetattr(req: SourceRequest<'getattr'>): Promise<Attr> {
    throw unsupported('getattr', req);
  }
  protected async doSetattr(req: SourceRequest<'setattr'>): Promise<Attr> {
    throw unsupported('setattr', req);
  }
  protected async doReaddirp(
    req: SourceRequest<'readdirp'>,
  ): Promise<{ entries: DirEntry[]; cookie: string; eof: boolean }> {
    throw unsupported('readdirp', req);
  }
  protected async doOpenFile(req: SourceRequest<'openFile'>): Promise<{ handle: Handle }> {
    throw unsupported('openFile', req);
  }
  protected async doRead(req: SourceRequest<'read'>): Promise<Uint8Array> {
    throw unsupported('read', req);
  }
  protected async doWrite(req: SourceRequest<'write'>): Promise<{ written: number }> {
    throw unsupported('write', req);
  }
  protected async doFlush(req: SourceRequest<'flush'>): Promise<void> {
    throw unsupported('flush', req);
  }
  protected async doCloseFile(req: SourceRequest<'closeFile'>): Promise<void> {
    throw unsupported('closeFile', req);
  }
  protected async doCreate(req: SourceRequest<'create'>): Promise<Entry & { handle: Handle }> {
    throw unsupported('create', req);
  }
  protected async doMkdir(req: SourceRequest<'mkdir'>): Promise<Entry> {
    throw unsupported('mkdir', req);
  }
  protected async doUnlink(req: SourceRequest<'unlink'>): Promise<void> {
    throw unsupported('unlink', req);
  }
  protected async doRmdir(req: SourceRequest<'rmdir'>): Promise<void> {
    throw unsupported('rmdir', req);
  }
  protected async doRename(req: SourceRequest<'rename'>): Promise<void> {
    throw unsupported('rename', req);
  }
  protected async doSymlink(req: SourceRequest<'symlink'>): Promise<Entry> {
    throw unsupported('symlink', req);
  }
  protected async doReadlink(req: SourceRequest<'readlink'>): Promise<string> {
    throw unsupported('readlink', req);
  }
  protected async doLink(req: SourceRequest<'link'>): Promise<Entry> {
    throw unsupported('link', req);
  }
  protected async doGetxattr(req: SourceRequest<'getxattr'>): Promise<Uint8Array> {
    throw unsupported('getxattr', req);
  }
  protected async doSetxattr(req: SourceRequest<'setxattr'>): Promise<void> {
    throw unsupported('setxattr', req);
  }
  protected async doListxattr(req: SourceRequest<'listxattr'>): Promise<string[]> {
    throw unsupported('listxattr', req);
  }
  protected async doRemovexattr(req: SourceRequest<'removexattr'>): Promise<void> {
    throw unsupported('removexattr', req);
  }
  protected async doLock(req: SourceRequest<'lock'>): Promise<LockInfo | null> {
    throw unsupported('lock', req);
  }
  protected async doStatfs(req: SourceRequest<'statfs'>): Promise<StatFs> {
    throw unsupported('statfs', req);
  }
}

/** The single-export common case: identity and read-only flag fixed at construction. */
export abstract class SingleExportSource extends BaseSource {
  constructor(protected readonly identity: ExportIdentity) {
    super();
  }
  protected exportsInfo(): ExportInfo[] {
    const { name, exportIndex, ro, desc, sourceKind, sourceId } = this.identity;
    const caps = { ...this.caps, writable: this.caps.writable && !ro };
    return [
      { name, root: rootId(exportIndex), ro, desc, source_kind: sourceKind, source_id: sourceId, caps },
    ];
  }
  protected readOnlyFor(_id: NodeId): boolean {
    return this.identity.ro;
  }
}

function unsupported(op: string, req: unknown): FsError {
  const id = (req as { id?: unknown } | undefined)?.id;
  return FsError.ENOSYS(op, typeof id === 'bigint' ? id.toString() : undefined);
}

/** Renames and links never cross exports: the ids' export indices must match. */
function checkSameExport(op: string, a: NodeId, b: NodeId): void {
  if (exportIndexOf(a) !== exportIndexOf(b)) throw FsError.EXDEV(op, b.toString());
}

function checkRange(op: string, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0)
    throw FsError.EINVAL(op, undefined, `bad offset ${offset}`);
  if (!Number.isSafeInteger(length) || length < 0)
    throw FsError.EINVAL(op, undefined, `bad length ${length}`);
}

function checkWrite(offset: number, length: number, maxFileSize: number): void {
  checkRange('write', offset, length);
  if (offset + length > maxFileSize) throw FsError.EFBIG('write');
}

/** Xattr names are `namespace.name` (user., trusted., security., system.), at most 255 bytes. */
function checkXattrName(name: string): string {
  if (typeof name !== 'string' || name.length === 0 || name.includes('\0') || !name.includes('.')) {
    throw FsError.EINVAL('xattr', name, 'xattr name must look like user.name');
  }
  if (Buffer.byteLength(name) > 255) throw FsError.ERANGE('xattr', name, 'xattr name too long');
  return name;
}
