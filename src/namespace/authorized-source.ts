import type { Attr } from '../core/attr.ts';
import { FsError } from '../core/fs-error.ts';
import { exportIndexOf, type NodeId } from '../core/ids.ts';
import type {
  DirEntry,
  Entry,
  ExportInfo,
  Handle,
  InvalidationListener,
  LockInfo,
  OpenFlags,
  Source,
  SourceOp,
  StatFs,
  SourceRequest,
} from '../sources/source.ts';
import { closeThrough } from '../sources/source.ts';
import { type Authorizer, type Cap, openNeeds } from './authorization.ts';

interface HandleGrant {
  slot: number;
  read: boolean;
  write: boolean;
}

/**
 * A Source as one principal sees it: every op is checked against the principal's grant
 * (the same rules the protocol's dispatch applies — invisible exports answer `ESTALE`, a
 * missing capability `EACCES`, execute bits cleared without `execute`), and what comes out
 * is filtered. HTTP front-ends (WebDAV, the REST API) serve one of these per authenticated
 * principal over the node's namespace, so they cannot reach past a credential's rights.
 *
 * It does not own `inner`: `open()`/`close()` only close the handles it opened.
 */
export class AuthorizedSource implements Source {
  readonly #inner: Source;
  readonly #authz: Authorizer;
  readonly #handles = new Map<Handle, HandleGrant>();

  constructor(opts: { inner: Source; authz: Authorizer }) {
    this.#inner = opts.inner;
    this.#authz = opts.authz;
  }

  /** The principal this view is for. */
  get principal(): string {
    return this.#authz.grant.principal;
  }

  /** The grant this view enforces. */
  get authz(): Authorizer {
    return this.#authz;
  }

  open(): Promise<void> {
    return Promise.resolve();
  }

  /** Close every handle this view opened and did not close (their writes are discarded). */
  async close(): Promise<void> {
    const open = [...this.#handles.keys()];
    this.#handles.clear();
    await Promise.all(
      open.map((handle) => this.#inner.closeFile({ handle, abort: true }).catch(() => undefined)),
    );
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  supportsOperation(op: SourceOp): boolean {
    return this.#inner.supportsOperation(op);
  }

  #check(id: NodeId, caps: readonly Cap[], op: string): void {
    this.#authz.check({ id, caps, op });
  }

  #handle(handle: Handle, caps: readonly Cap[], op: string): HandleGrant {
    const h = this.#handles.get(handle);
    if (!h) throw FsError.EBADF(op, String(handle));
    this.#authz.checkSlot({ slot: h.slot, caps, op, path: String(handle) });
    if (caps.includes('write') && !h.write) throw FsError.EBADF(op, String(handle), 'not open for writing');
    if (caps.includes('read') && !h.read) throw FsError.EBADF(op, String(handle), 'not open for reading');
    return h;
  }

  async listExports(): Promise<ExportInfo[]> {
    return this.#authz.exports(await this.#inner.listExports());
  }

  async lookup(req: { parent: NodeId; name: string }): Promise<Entry> {
    this.#check(req.parent, ['show'], 'lookup');
    const entry = await this.#inner.lookup(req);
    if (!this.#authz.shows(entry.id)) throw FsError.ENOENT('lookup', req.name);
    return this.#authz.entry(entry);
  }

  async getattr(req: { id: NodeId }): Promise<Attr> {
    this.#check(req.id, ['show'], 'getattr');
    return this.#authz.attr(await this.#inner.getattr(req));
  }

  async setattr(req: SourceRequest<'setattr'>): Promise<Attr> {
    this.#check(req.id, ['write'], 'setattr');
    if (req.mode !== undefined && !this.#authz.canExecute) {
      const { kind } = await this.#inner.getattr({ id: req.id });
      this.#authz.checkSetMode({ mode: req.mode, kind, op: 'setattr', path: req.id.toString() });
    }
    if (req.handle !== undefined) this.#handle(req.handle, ['write'], 'setattr');
    return this.#authz.attr(await this.#inner.setattr(req));
  }

  async readdirp(req: { dir: NodeId; cookie: string; max: number }): Promise<{
    entries: DirEntry[];
    cookie: string;
    eof: boolean;
  }> {
    this.#check(req.dir, ['show'], 'readdirp');
    const page = await this.#inner.readdirp(req);
    return { ...page, entries: this.#authz.entries(page.entries) };
  }

  async openFile(req: { id: NodeId; flags: OpenFlags }): Promise<{ handle: Handle }> {
    const { caps, writing } = openNeeds(req.flags);
    this.#check(req.id, caps, 'open');
    const opened = await this.#inner.openFile(req);
    this.#handles.set(opened.handle, { slot: exportIndexOf(req.id), read: req.flags.read, write: writing });
    return opened;
  }

  read(req: SourceRequest<'read'>): Promise<Uint8Array> {
    this.#handle(req.handle, ['read'], 'read');
    return this.#inner.read(req);
  }

  write(req: { handle: Handle; offset: number; data: Uint8Array }): Promise<{ written: number }> {
    this.#handle(req.handle, ['write'], 'write');
    return this.#inner.write(req);
  }

  flush(req: { handle: Handle }): Promise<void> {
    this.#handle(req.handle, [], 'flush');
    return this.#inner.flush(req);
  }

  async closeFile(req: SourceRequest<'closeFile'>): Promise<void> {
    // A close carrying a write is authorized like a write on the handle.
    if (req.write !== undefined) this.#handle(req.handle, ['write'], 'write');
    else this.#handle(req.handle, [], 'close');
    await closeThrough({
      req,
      forget: () => this.#handles.delete(req.handle),
      close: () => this.#inner.closeFile(req),
    });
  }

  async create(req: SourceRequest<'create'>): Promise<Entry & { handle: Handle }> {
    this.#check(req.parent, req.flags?.read === true ? ['write', 'read'] : ['write'], 'create');
    const mode = this.#authz.createMode({ mode: req.mode, kind: 'file' });
    const created = await this.#inner.create({ ...req, mode });
    this.#handles.set(created.handle, {
      slot: exportIndexOf(created.id),
      read: req.flags?.read === true,
      write: true,
    });
    return { ...created, attr: this.#authz.attr(created.attr) };
  }

  async mkdir(req: { parent: NodeId; name: string; mode: number }): Promise<Entry> {
    this.#check(req.parent, ['write'], 'mkdir');
    return this.#authz.entry(await this.#inner.mkdir(req));
  }

  unlink(req: { parent: NodeId; name: string }): Promise<void> {
    this.#check(req.parent, ['write'], 'unlink');
    return this.#inner.unlink(req);
  }

  rmdir(req: { parent: NodeId; name: string }): Promise<void> {
    this.#check(req.parent, ['write'], 'rmdir');
    return this.#inner.rmdir(req);
  }

  rename(req: SourceRequest<'rename'>): Promise<void> {
    this.#check(req.parent, ['write'], 'rename');
    this.#check(req.newParent, ['write'], 'rename');
    return this.#inner.rename(req);
  }

  async symlink(req: { parent: NodeId; name: string; target: string }): Promise<Entry> {
    this.#check(req.parent, ['write'], 'symlink');
    return this.#authz.entry(await this.#inner.symlink(req));
  }

  readlink(req: { id: NodeId }): Promise<string> {
    this.#check(req.id, ['read'], 'readlink');
    return this.#inner.readlink(req);
  }

  async link(req: { id: NodeId; newParent: NodeId; newName: string }): Promise<Entry> {
    this.#check(req.id, ['show'], 'link');
    this.#check(req.newParent, ['write'], 'link');
    return this.#authz.entry(await this.#inner.link(req));
  }

  getxattr(req: { id: NodeId; name: string }): Promise<Uint8Array> {
    this.#check(req.id, ['read'], 'getxattr');
    return this.#inner.getxattr(req);
  }

  setxattr(req: SourceRequest<'setxattr'>): Promise<void> {
    this.#check(req.id, ['write'], 'setxattr');
    return this.#inner.setxattr(req);
  }

  listxattr(req: { id: NodeId }): Promise<string[]> {
    this.#check(req.id, ['read'], 'listxattr');
    return this.#inner.listxattr(req);
  }

  removexattr(req: { id: NodeId; name: string }): Promise<void> {
    this.#check(req.id, ['write'], 'removexattr');
    return this.#inner.removexattr(req);
  }

  lock(req: SourceRequest<'lock'>): Promise<LockInfo | null> {
    this.#handle(req.handle, [], 'lock');
    return this.#inner.lock(req);
  }

  statfs(req: { id: NodeId }): Promise<StatFs> {
    this.#check(req.id, ['show'], 'statfs');
    return this.#inner.statfs(req);
  }

  /** Invalidations of what this principal may see. */
  watch(listener: InvalidationListener): () => void {
    return this.#inner.watch((ev) => {
      if (this.#authz.showsEvent(ev)) listener(ev);
    });
  }
}
