import { createHash } from 'node:crypto';
import { msToNs, nowNs, syntheticAttr, type Attr } from '../../core/attr.ts';
import { FsError } from '../../core/fs-error.ts';
import { localPartOf, makeId, rootId, type NodeId } from '../../core/ids.ts';
import { SingleExportSource } from '../../sources/base-source.ts';
import { DirPager } from '../../sources/dir-pager.ts';
import type { Caps, DirEntry, Entry, Handle, Source, StatFs } from '../../sources/source.ts';
import type { CatalogView, FileDoc } from './catalog-view.ts';
import type { VEntry } from './evaluate.ts';
import type { DirectoriesChange, VirtualDirectories } from './virtual-directories.ts';
import { childPath } from '../../core/names.ts';

/** Where the real files are: a Source that resolves namespace paths (the Namespace). */
export type FileResolver = Pick<Source, 'getattr' | 'openFile' | 'read' | 'closeFile'> & {
  resolve(opts: { path: string }): Promise<Entry>;
};

/** Local ids with this bit set are directories (a hash of their virtual path). */
const DIR_BIT = 1n << 47n;
const LOW47 = DIR_BIT - 1n;

const CAPS: Caps = {
  native_watch: true,
  case_sensitive: true,
  symlink: false,
  xattr: false,
  lock: false,
  hardlink: false,
  max_file_size: Number.MAX_SAFE_INTEGER,
  writable: false,
  posix_attrs: false,
  atomic_write: false,
  persistent_ids: true,
};

function hash47(text: string): bigint {
  const h = createHash('sha256').update(text).digest().readBigUInt64BE(0) & LOW47;
  return h < 2n ? h + 2n : h;
}

/**
 * Virtual directories as a read-only Source (DESIGN §5.1), so they appear in the namespace
 * and every front-end. A file's id comes from its catalog inode — the same file has the same
 * id in every virtual directory and across restarts; a directory's id from its virtual path.
 * Files read through to the real file via the namespace: bytes, and `lookup`/`getattr`
 * attributes, are the real file's; `readdirp` lists attributes from the catalog (no round
 * trip per entry). Everything is read-only: mutations answer `EROFS`.
 */
export class VirtualSource extends SingleExportSource {
  readonly #vfs: VirtualDirectories;
  readonly #catalog: CatalogView;
  readonly #files: FileResolver;
  readonly #dirs = new Map<bigint, string>([[1n, '/']]);
  /** Files whose inode does not fit an id: local part → inode. */
  readonly #hashedFiles = new Map<bigint, bigint>();
  /** Namespace id of a real file by namespace path (re-resolved when stale). */
  readonly #real = new Map<string, NodeId>();
  readonly #handles = new Map<Handle, Handle>();
  readonly #pager = new DirPager();
  readonly #born = nowNs();
  #nextHandle = 1;
  #unsubscribe: (() => void) | undefined;

  constructor(opts: {
    vfs: VirtualDirectories;
    catalog: CatalogView;
    /** The namespace the catalog's files live in. */
    files: FileResolver;
    name?: string;
    exportIndex?: number;
    desc?: string;
  }) {
    const name = opts.name ?? 'vfs';
    super({
      name,
      exportIndex: opts.exportIndex ?? 1,
      ro: true,
      desc: opts.desc ?? 'virtual directories',
      sourceKind: 'virtual',
      sourceId: `virtual:${name}`,
    });
    this.#vfs = opts.vfs;
    this.#catalog = opts.catalog;
    this.#files = opts.files;
  }

  get caps(): Caps {
    return { ...CAPS };
  }

  protected override async doOpen(): Promise<void> {
    this.#vfs.open();
    this.#unsubscribe = this.#vfs.onChange((c) => this.#announce(c));
  }

  protected override async doClose(): Promise<void> {
    this.#unsubscribe?.();
    this.#pager.clear();
    const open = [...this.#handles.values()];
    this.#handles.clear();
    for (const inner of open) await this.#files.closeFile({ handle: inner }).catch(() => undefined);
  }

  /** The id of the directory at a virtual path. */
  dirIdOf(path: string): NodeId {
    if (path === '/') return rootId(this.identity.exportIndex);
    const local = DIR_BIT | hash47(path);
    this.#dirs.set(local, path);
    return makeId(this.identity.exportIndex, local);
  }

  /** The id of a file (from its inode, so the same in every virtual directory). */
  fileIdOf(file: FileDoc): NodeId {
    let local = file.inode;
    if (local < 2n || local >= DIR_BIT) {
      local = hash47(`inode:${file.inode}`);
      this.#hashedFiles.set(local, file.inode);
    }
    return makeId(this.identity.exportIndex, local);
  }

  #what(id: NodeId, op: string): { dir: string } | { file: FileDoc } {
    const local = localPartOf(id);
    if (local === 1n || (local & DIR_BIT) !== 0n) {
      const path = this.#dirs.get(local) ?? this.#rediscover(local);
      if (path === undefined) throw FsError.ESTALE(op, id.toString());
      try {
        this.#vfs.locate({ path });
      } catch (err) {
        if (FsError.is(err, 'ENOENT')) throw FsError.ESTALE(op, path, 'the virtual directory is gone');
        throw err;
      }
      return { dir: path };
    }
    const file = this.#catalog.fileByInode(this.#hashedFiles.get(local) ?? local);
    if (!file) throw FsError.ESTALE(op, id.toString(), 'the file left the catalog');
    return { file };
  }

  /** A directory id not seen since start: walk every virtual directory for it. */
  #rediscover(local: bigint): string | undefined {
    const walk = (path: string, tree: Map<string, Map<string, VEntry>>, rel: string): string | undefined => {
      for (const [name, e] of tree.get(rel) ?? []) {
        if (e.kind !== 'dir' || e.virtual) continue;
        const childRel = rel === '' ? name : `${rel}/${name}`;
        const child = childPath(path, childRel);
        if (this.dirIdOf(child) === makeId(this.identity.exportIndex, local)) return child;
        const found = walk(path, tree, childRel);
        if (found !== undefined) return found;
      }
      return undefined;
    };
    for (const doc of this.#vfs.list()) {
      if (this.dirIdOf(doc.path) === makeId(this.identity.exportIndex, local)) return doc.path;
      const found = walk(doc.path, this.#vfs.tree(doc.path), '');
      if (found !== undefined) return found;
    }
    return undefined;
  }

  #dirAttr(): Attr {
    return syntheticAttr({ kind: 'dir', timeNs: this.#born });
  }

  /** Attributes from the catalog document (listings). */
  #docAttr(file: FileDoc): Attr {
    return syntheticAttr({ kind: 'file', timeNs: msToNs(file.mtimeMs), size: file.size });
  }

  /** The real file's namespace id, resolved by path when unknown or stale. */
  async #realId(file: FileDoc, op: string, fresh = false): Promise<NodeId> {
    const known = fresh ? undefined : this.#real.get(file.nsPath);
    if (known !== undefined) return known;
    try {
      const entry = await this.#files.resolve({ path: file.nsPath });
      if (entry.attr.kind !== 'file') throw FsError.ESTALE(op, file.nsPath, 'no longer a file');
      this.#real.set(file.nsPath, entry.id);
      return entry.id;
    } catch (err) {
      this.#real.delete(file.nsPath);
      if (FsError.is(err, 'ENOENT')) throw FsError.ESTALE(op, file.nsPath, 'the real file is gone');
      throw err;
    }
  }

  /** Run `fn` on the real file, re-resolving once if its namespace id went stale. */
  async #onReal<T>(file: FileDoc, op: string, fn: (id: NodeId) => Promise<T>): Promise<T> {
    try {
      return await fn(await this.#realId(file, op));
    } catch (err) {
      if (!FsError.is(err, 'ESTALE') && !FsError.is(err, 'ENOENT')) throw err;
      return fn(await this.#realId(file, op, true));
    }
  }

  async #realAttr(file: FileDoc, op: string): Promise<Attr> {
    const attr = await this.#onReal(file, op, (id) => this.#files.getattr({ id }));
    return { ...attr, mode: attr.mode & 0o7555, nlink: 1 };
  }

  async #entry(dirPath: string, name: string, e: VEntry, op: string, real: boolean): Promise<Entry> {
    if (e.kind === 'dir') return { id: this.dirIdOf(childPath(dirPath, name)), attr: this.#dirAttr() };
    return {
      id: this.fileIdOf(e.file),
      attr: real ? await this.#realAttr(e.file, op) : this.#docAttr(e.file),
    };
  }

  protected override async doLookup(req: { parent: NodeId; name: string }): Promise<Entry> {
    const w = this.#what(req.parent, 'lookup');
    if (!('dir' in w)) throw FsError.ENOTDIR('lookup', req.parent.toString());
    const e = this.#vfs.entries({ path: w.dir }).get(req.name);
    if (!e) throw FsError.ENOENT('lookup', childPath(w.dir, req.name));
    return this.#entry(w.dir, req.name, e, 'lookup', true);
  }

  protected override async doGetattr(req: { id: NodeId }): Promise<Attr> {
    const w = this.#what(req.id, 'getattr');
    return 'dir' in w ? this.#dirAttr() : this.#realAttr(w.file, 'getattr');
  }

  protected override async doReaddirp(req: {
    dir: NodeId;
    cookie: string;
    max: number;
  }): Promise<{ entries: DirEntry[]; cookie: string; eof: boolean }> {
    const w = this.#what(req.dir, 'readdirp');
    if (!('dir' in w)) throw FsError.ENOTDIR('readdirp', req.dir.toString());
    const page = await this.#pager.page({
      cookie: req.cookie,
      max: req.max,
      list: async () => [...this.#vfs.entries({ path: w.dir }).keys()],
    });
    const now = this.#vfs.entries({ path: w.dir });
    const entries: DirEntry[] = [];
    for (const name of page.names) {
      const e = now.get(name);
      if (e) entries.push({ name, ...(await this.#entry(w.dir, name, e, 'readdirp', false)) });
    }
    return { entries, cookie: page.cookie, eof: page.eof };
  }

  protected override async doOpenFile(req: { id: NodeId }): Promise<{ handle: Handle }> {
    const w = this.#what(req.id, 'open');
    if ('dir' in w) throw FsError.EISDIR('open', w.dir);
    const { handle: inner } = await this.#onReal(w.file, 'open', (id) =>
      this.#files.openFile({ id, flags: { read: true, write: false } }),
    );
    const handle = this.#nextHandle++;
    this.#handles.set(handle, inner);
    return { handle };
  }

  #inner(handle: Handle, op: string): Handle {
    const inner = this.#handles.get(handle);
    if (inner === undefined) throw FsError.EBADF(op, String(handle));
    return inner;
  }

  protected override async doRead(req: {
    handle: Handle;
    offset: number;
    length: number;
    into?: Uint8Array | undefined;
  }): Promise<Uint8Array> {
    return this.#files.read({ ...req, handle: this.#inner(req.handle, 'read') });
  }

  protected override async doFlush(req: { handle: Handle }): Promise<void> {
    this.#inner(req.handle, 'flush');
  }

  protected override async doCloseFile(req: { handle: Handle }): Promise<void> {
    const inner = this.#inner(req.handle, 'close');
    this.#handles.delete(req.handle);
    await this.#files.closeFile({ handle: inner });
  }

  protected override async doStatfs(req: { id: NodeId }): Promise<StatFs> {
    this.#what(req.id, 'statfs');
    return { bsize: 4096, blocks: 0, bfree: 0, bavail: 0, files: 0, ffree: 0, namemax: 255 };
  }

  // Mutations: the base class refuses them with EROFS before these run (the export is
  // read-only); they exist so a write attempt says "read-only", not "not supported".
  protected override async doSetattr(req: { id: NodeId }): Promise<Attr> {
    throw FsError.EROFS('setattr', req.id.toString());
  }
  protected override async doWrite(): Promise<{ written: number }> {
    throw FsError.EROFS('write');
  }
  protected override async doCreate(req: { parent: NodeId }): Promise<Entry & { handle: Handle }> {
    throw FsError.EROFS('create', req.parent.toString());
  }
  protected override async doMkdir(req: { parent: NodeId }): Promise<Entry> {
    throw FsError.EROFS('mkdir', req.parent.toString());
  }
  protected override async doUnlink(req: { parent: NodeId }): Promise<void> {
    throw FsError.EROFS('unlink', req.parent.toString());
  }
  protected override async doRmdir(req: { parent: NodeId }): Promise<void> {
    throw FsError.EROFS('rmdir', req.parent.toString());
  }
  protected override async doRename(req: { parent: NodeId }): Promise<void> {
    throw FsError.EROFS('rename', req.parent.toString());
  }

  /** Turn directory changes into invalidations of the directories' ids. */
  #announce(change: DirectoriesChange): void {
    if (change === undefined) {
      this.hub.emit({ kind: 'tree', id: rootId(this.identity.exportIndex) });
      return;
    }
    if (change.entries === undefined) {
      for (const p of change.paths) this.hub.emit({ kind: 'tree', id: this.dirIdOf(p) });
      return;
    }
    for (const e of change.entries)
      this.hub.emit({ kind: 'entry', parent: this.dirIdOf(e.dir), name: e.name });
  }
}
