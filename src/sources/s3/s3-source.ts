import { mkdir } from 'node:fs/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Attr } from '../../core/attr.ts';
import { FsError } from '../../core/fs-error.ts';
import { SingleExportSource } from '../base-source.ts';
import { DirPager } from '../dir-pager.ts';
import type { SourceSpec } from '../registry.ts';
import type {
  Caps,
  DirEntry,
  Entry,
  Handle,
  InvalidationListener,
  OpenFlags,
  Source,
  StatFs,
  SourceRequest,
} from '../source.ts';
import { opensForWrite } from '../source.ts';
import { S3Bucket } from './s3-bucket.ts';
import { mapLimit } from '../../core/map-limit.ts';
import { buildS3Client } from './s3-client.ts';
import { parseS3Spec, type S3Config } from './s3-config.ts';
import { dirAttr, fileAttr, withPosixMeta, type ObjectInfo, type PosixMeta } from './s3-meta.ts';
import { RangeReader } from './s3-range-reader.ts';
import { S3Scanner, type ScanChange } from './s3-scanner.ts';
import { S3Tree, splitRel, type Listed } from './s3-tree.ts';
import { Writer } from './s3-writer.ts';

type OpenHandle =
  | { type: 'read'; rel: string; reader: RangeReader }
  /** A read handle on a file whose only content is another handle's unclosed private copy. */
  | { type: 'pending-read'; rel: string; writer: Writer; reader?: RangeReader | undefined }
  | { type: 'write'; writer: Writer };

const TiB = 1024 ** 4;
/** Directory listings kept for paging; ones a client abandoned part-way are dropped, oldest first. */
const MAX_LISTINGS = 64;
const EMPTY = new Uint8Array(0);

/**
 * A bucket (or a prefix of one) as a tree. Directories are key prefixes up to a '/', plus
 * empty `dir/` marker objects that `mkdir` writes so empty directories exist. Ids are
 * hashes of keys (stable across restarts without stored state); writes are staged in a
 * local spool and uploaded whole at close. See docs/sources-s3.md.
 */
export class S3Source extends SingleExportSource {
  readonly #cfg: S3Config;
  readonly #client: S3Client;
  readonly #bucket: S3Bucket;
  readonly #tree: S3Tree;
  readonly #pager = new DirPager();
  /** Names (with what the listing said) of directories being paged, by directory key. */
  readonly #listings = new Map<string, Map<string, Listed>>();
  readonly #handles = new Map<Handle, OpenHandle>();
  /** Open writers by rel, so a created-but-unclosed file answers getattr by id. */
  readonly #writers = new Map<string, Set<Writer>>();
  readonly #scanner: S3Scanner;
  #nextHandle = 1;

  constructor(spec: SourceSpec, cfg: S3Config) {
    super({
      name: spec.name,
      exportIndex: spec.exportIndex,
      ro: spec.ro,
      desc: `s3://${cfg.bucket}/${cfg.prefix}`,
      sourceKind: 's3',
      sourceId: `s3:${cfg.bucket}/${cfg.prefix}`,
    });
    this.#cfg = cfg;
    this.#client = buildS3Client(cfg);
    this.#bucket = new S3Bucket({
      client: this.#client,
      bucket: cfg.bucket,
      endpoint: cfg.endpoint,
      partSize: cfg.partSize,
      uploadConcurrency: cfg.uploadConcurrency,
      spoolDir: cfg.spoolDir,
    });
    this.#tree = new S3Tree({
      bucket: this.#bucket,
      prefix: cfg.prefix,
      exportIndex: spec.exportIndex,
      idScanLimit: cfg.idScanLimit,
      spoolDir: cfg.spoolDir,
    });
    this.#scanner = new S3Scanner({
      intervalMs: cfg.scanIntervalMs,
      maxDirs: cfg.scanMaxDirs,
      list: async (rel) => (await this.#tree.listDir(rel)).snapshot,
      report: (changes) => this.#report(changes),
    });
  }

  get caps(): Caps {
    return {
      native_watch: false,
      case_sensitive: true,
      symlink: false,
      xattr: false,
      lock: false,
      hardlink: false,
      max_file_size: 5 * TiB,
      writable: !this.identity.ro,
      posix_attrs: false,
      atomic_write: true,
      persistent_ids: true,
    };
  }

  protected override async doOpen(): Promise<void> {
    await mkdir(this.#cfg.spoolDir, { recursive: true, mode: 0o700 });
    // Fails early, with a clear error, on a missing bucket, bad credentials or no endpoint.
    await this.#bucket.listPage(this.#cfg.prefix, { maxKeys: 1 });
    if (this.hub.active) this.#scanner.start();
  }

  protected override async doClose(): Promise<void> {
    await this.#scanner.stop();
    const handles = [...this.#handles.values()];
    this.#handles.clear();
    this.#writers.clear();
    this.#pager.clear();
    for (const h of handles) {
      // Unclosed writes are discarded: nothing half-written ever reaches the bucket.
      if (h.type === 'write') await h.writer.dispose();
      else h.reader?.close();
    }
    this.#client.destroy();
  }

  override watch(listener: InvalidationListener): () => void {
    const off = super.watch(listener);
    if (this.isOpen) this.#scanner.start();
    return () => {
      off();
      if (!this.hub.active) void this.#scanner.stop();
    };
  }

  #report(changes: ScanChange[]): void {
    const seen = new Set<string>();
    for (const c of changes) {
      const tag = `${c.change}\0${c.dirRel}\0${c.name}`;
      if (seen.has(tag)) continue;
      seen.add(tag);
      if (c.change === 'entry')
        this.hub.emit({ kind: 'entry', parent: this.#tree.idOf(c.dirRel), name: c.name });
      else this.hub.emit({ kind: 'data', id: this.#tree.idOf(c.dirRel + c.name) });
    }
  }

  #forgetListed(parentRel: string, name: string): void {
    this.#listings.get(this.#cfg.prefix + parentRel)?.delete(name);
  }

  // ---- handles and writers ----

  #addHandle(h: OpenHandle): Handle {
    const handle = this.#nextHandle++;
    this.#handles.set(handle, h);
    if (h.type === 'write') {
      const set = this.#writers.get(h.writer.rel) ?? new Set<Writer>();
      set.add(h.writer);
      this.#writers.set(h.writer.rel, set);
    }
    return handle;
  }

  #handle(handle: Handle): OpenHandle {
    const h = this.#handles.get(handle);
    if (!h) throw FsError.EBADF('s3', String(handle), 'unknown file handle');
    return h;
  }

  /** The most recent open writer of `rel`, if any. */
  #pendingWriter(rel: string): Writer | undefined {
    let last: Writer | undefined;
    for (const w of this.#writers.get(rel) ?? []) if (!w.closed) last = w;
    return last;
  }

  async #releaseWriter(handle: Handle, w: Writer): Promise<void> {
    this.#handles.delete(handle);
    const set = this.#writers.get(w.rel);
    set?.delete(w);
    if (set?.size === 0) this.#writers.delete(w.rel);
    await w.dispose();
  }

  #newWriter(
    rel: string,
    flags: OpenFlags,
    base: ObjectInfo | Writer | undefined,
    exclusive: boolean,
    mode?: number,
  ): Promise<Writer> {
    return Writer.open({
      spoolDir: this.#cfg.spoolDir,
      rel,
      key: this.#tree.key(rel),
      canRead: flags.read,
      append: flags.append === true,
      truncate: flags.truncate === true,
      exclusive,
      base,
      meta: base === undefined ? withPosixMeta({}, 'file', { mode: (mode ?? 0o644) & 0o7777 }) : base.meta,
      headers: base === undefined ? {} : base.headers,
    });
  }

  // ---- namespace operations ----

  protected override async doLookup({ parent, name }: SourceRequest<'lookup'>): Promise<Entry> {
    const p = await this.#tree.dirNode(parent);
    this.#scanner.touch(p.rel);
    const fileRel = p.rel + name;
    const dirRel = fileRel + '/';
    const [info, first] = await Promise.all([
      this.#tree.head(this.#tree.key(fileRel)),
      this.#bucket.firstKeys(this.#tree.key(dirRel), 1),
    ]);
    if (first[0] !== undefined) {
      return {
        id: this.#tree.idOf(dirRel),
        attr: (await this.#tree.dirAttrFromFirst(dirRel, first[0])) ?? dirAttr(),
      };
    }
    if (info) return { id: this.#tree.idOf(fileRel), attr: fileAttr(info) };
    throw await this.#tree.missing('lookup', p.rel, name);
  }

  protected override async doGetattr({ id }: SourceRequest<'getattr'>): Promise<Attr> {
    const node = await this.#tree.node(id);
    if (node.kind === 'dir') {
      const attr = await this.#tree.dirAttrOf(node.rel);
      if (!attr) throw FsError.ESTALE('getattr', id.toString(), 'directory no longer exists');
      return attr;
    }
    this.#scanner.touch(splitRel(node.rel).parent);
    const info = await this.#tree.head(this.#tree.key(node.rel));
    if (info) return fileAttr(info);
    const w = this.#pendingWriter(node.rel);
    if (w) return w.attr();
    throw FsError.ESTALE('getattr', id.toString(), 'object no longer exists');
  }

  protected override async doReaddirp({
    dir,
    cookie,
    max,
  }: SourceRequest<'readdirp'>): Promise<{ entries: DirEntry[]; cookie: string; eof: boolean }> {
    const d = await this.#tree.dirNode(dir);
    this.#scanner.touch(d.rel);
    const dirKey = this.#tree.key(d.rel);
    const page = await this.#pager.page({
      cookie,
      max,
      list: async () => {
        const { listed, snapshot, exists } = await this.#tree.listDir(d.rel);
        if (!exists) throw FsError.ESTALE('readdirp', dir.toString(), 'directory no longer exists');
        this.#listings.delete(dirKey);
        this.#listings.set(dirKey, listed);
        for (const key of this.#listings.keys()) {
          if (this.#listings.size <= MAX_LISTINGS) break;
          this.#listings.delete(key);
        }
        this.#scanner.seed(d.rel, snapshot);
        return [...listed.keys()];
      },
    });
    const listed = this.#listings.get(dirKey);
    const entries = await mapLimit(page.names, 16, async (name): Promise<DirEntry | undefined> => {
      const l = listed?.get(name);
      if (l === undefined) {
        // The listing was dropped: look the name up afresh (it may have gone meanwhile).
        return this.doLookup({ parent: dir, name }).then(
          (e) => ({ name, ...e }),
          (err: unknown) => {
            if (FsError.is(err, 'ENOENT')) return undefined;
            throw err;
          },
        );
      }
      if (l.kind === 'dir') {
        const rel = d.rel + name + '/';
        const attr = await this.#tree.childDirAttr(rel);
        return attr ? { name, id: this.#tree.idOf(rel), attr } : undefined;
      }
      const info = l.obj
        ? await this.#tree.infoFor(l.obj)
        : await this.#tree.head(this.#tree.key(d.rel + name));
      return info ? { name, id: this.#tree.idOf(d.rel + name), attr: fileAttr(info) } : undefined;
    });
    if (page.eof) this.#listings.delete(dirKey);
    return { entries: entries.filter((e) => e !== undefined), cookie: page.cookie, eof: page.eof };
  }

  protected override async doCreate({
    parent,
    name,
    mode,
    exclusive,
    flags,
  }: SourceRequest<'create'>): Promise<Entry & { handle: Handle }> {
    const p = await this.#tree.dirNode(parent);
    const rel = p.rel + name;
    const [info, first, parentOk] = await Promise.all([
      this.#tree.head(this.#tree.key(rel)),
      this.#bucket.firstKeys(this.#tree.key(rel + '/'), 1),
      this.#tree.dirExists(p.rel),
    ]);
    if (!parentOk) throw FsError.ESTALE('create', parent.toString(), 'directory no longer exists');
    if (first.length > 0) throw exclusive ? FsError.EEXIST('create', rel) : FsError.EISDIR('create', rel);
    if (info && exclusive) throw FsError.EEXIST('create', rel);
    const f: OpenFlags = {
      read: flags?.read ?? false,
      write: true,
      truncate: flags?.truncate,
      append: flags?.append,
    };
    const writer = await this.#newWriter(rel, f, info, exclusive === true, mode);
    const handle = this.#addHandle({ type: 'write', writer });
    return { id: this.#tree.idOf(rel), attr: writer.attr(), handle };
  }

  protected override async doMkdir({ parent, name, mode }: SourceRequest<'mkdir'>): Promise<Entry> {
    const p = await this.#tree.dirNode(parent);
    const rel = p.rel + name + '/';
    const key = this.#tree.key(rel);
    const [info, first, parentOk] = await Promise.all([
      this.#bucket.head(this.#tree.key(p.rel + name)),
      this.#bucket.firstKeys(key, 1),
      this.#tree.dirExists(p.rel),
    ]);
    if (!parentOk) throw FsError.ESTALE('mkdir', parent.toString(), 'directory no longer exists');
    if (info || first.length > 0) throw FsError.EEXIST('mkdir', rel);
    const meta = withPosixMeta({}, 'dir', { mode: mode & 0o7777 });
    const { etag } = await this.#bucket.put({ key, data: EMPTY, meta, headers: {} });
    this.#tree.remember(key, { etag, meta, headers: {} });
    return { id: this.#tree.idOf(rel), attr: dirAttr({ lastModifiedMs: Date.now(), meta }) };
  }

  protected override async doUnlink({ parent, name }: SourceRequest<'unlink'>): Promise<void> {
    const p = await this.#tree.dirNode(parent);
    const rel = p.rel + name;
    const key = this.#tree.key(rel);
    const [info, first] = await Promise.all([
      this.#bucket.head(key),
      this.#bucket.firstKeys(this.#tree.key(rel + '/'), 1),
    ]);
    if (first.length > 0) throw FsError.EISDIR('unlink', rel);
    if (!info) throw await this.#tree.missing('unlink', p.rel, name);
    await this.#tree.keepDir(p.rel);
    await this.#bucket.delete(key);
    this.#tree.forget(key);
    this.#forgetListed(p.rel, name);
  }

  protected override async doRmdir({ parent, name }: SourceRequest<'rmdir'>): Promise<void> {
    const p = await this.#tree.dirNode(parent);
    const rel = p.rel + name + '/';
    const key = this.#tree.key(rel);
    const [first, info] = await Promise.all([
      this.#bucket.firstKeys(key, 2),
      this.#bucket.head(this.#tree.key(p.rel + name)),
    ]);
    if (first.length === 0) {
      if (info) throw FsError.ENOTDIR('rmdir', rel);
      throw await this.#tree.missing('rmdir', p.rel, name);
    }
    if (first.some((o) => o.key !== key)) throw FsError.ENOTEMPTY('rmdir', rel);
    await this.#tree.keepDir(p.rel);
    await this.#bucket.delete(key);
    this.#tree.rememberNoMarker(key);
    this.#forgetListed(p.rel, name);
  }

  protected override async doRename({
    parent,
    name,
    newParent,
    newName,
    noreplace,
  }: SourceRequest<'rename'>): Promise<void> {
    const [p, np] = await Promise.all([this.#tree.dirNode(parent), this.#tree.dirNode(newParent)]);
    const srcRel = p.rel + name;
    const dstRel = np.rel + newName;
    const [src, dst, dstParentOk] = await Promise.all([
      this.#tree.kindAt(srcRel),
      this.#tree.kindAt(dstRel),
      this.#tree.dirExists(np.rel),
    ]);
    if (!src) throw await this.#tree.missing('rename', p.rel, name);
    if (!dstParentOk) throw FsError.ESTALE('rename', newParent.toString(), 'directory no longer exists');
    if (srcRel === dstRel) return;
    if (src.kind === 'dir' && (dstRel + '/').startsWith(srcRel + '/')) {
      throw FsError.EINVAL('rename', srcRel, 'cannot move a directory into itself');
    }
    if (dst && noreplace) throw FsError.EEXIST('rename', dstRel);
    if (dst?.kind === 'dir' && src.kind === 'file') throw FsError.EISDIR('rename', dstRel);
    if (dst?.kind === 'file' && src.kind === 'dir') throw FsError.ENOTDIR('rename', dstRel);
    if (dst?.kind === 'dir' && dst.first.some((o) => o.key !== this.#tree.key(dstRel + '/'))) {
      throw FsError.ENOTEMPTY('rename', dstRel);
    }
    await this.#tree.keepDir(p.rel);
    if (src.kind === 'file') {
      await this.#tree.copyKeepingMtime(src.info, this.#tree.key(dstRel));
      await this.#bucket.delete(src.info.key);
      this.#tree.forget(src.info.key);
    } else {
      await this.#tree.moveDir(srcRel + '/', dstRel + '/');
    }
    this.#forgetListed(p.rel, name);
  }

  protected override async doSetattr(req: SourceRequest<'setattr'>): Promise<Attr> {
    const node = await this.#tree.node(req.id);
    const changes: PosixMeta = { mode: req.mode, uid: req.uid, gid: req.gid, mtimeNs: req.mtimeNs };
    const metaChange = Object.values(changes).some((v) => v !== undefined);
    if (node.kind === 'dir') {
      if (req.size !== undefined) throw FsError.EISDIR('setattr', req.id.toString());
      // The bucket root has no marker to keep attributes in: it stays synthetic.
      const attr =
        metaChange && (node.rel !== '' || this.#cfg.prefix !== '')
          ? await this.#tree.setDirPosix(node.rel, changes)
          : await this.#tree.dirAttrOf(node.rel);
      if (!attr) throw FsError.ESTALE('setattr', req.id.toString(), 'directory no longer exists');
      return attr;
    }
    if (req.handle !== undefined) {
      const h = this.#handle(req.handle);
      if (h.type !== 'write' || h.writer.rel !== node.rel) {
        throw FsError.EBADF('setattr', String(req.handle), 'handle is not open for writing on this file');
      }
      if (req.size !== undefined) await h.writer.truncate(this.#bucket, req.size);
      if (metaChange) h.writer.setPosix(changes);
      return h.writer.attr();
    }
    const info = await this.#tree.head(this.#tree.key(node.rel));
    // Open private copies keep the new attributes when they replace the object at close.
    if (metaChange) for (const w of this.#writers.get(node.rel) ?? []) w.setPosix(changes);
    if (!info) {
      const w = this.#pendingWriter(node.rel);
      if (!w) throw FsError.ESTALE('setattr', req.id.toString(), 'object no longer exists');
      if (req.size !== undefined) await w.truncate(this.#bucket, req.size);
      return w.attr();
    }
    if (req.size !== undefined && req.size !== info.size)
      return this.#tree.truncateObject(info, req.size, changes);
    return metaChange ? this.#tree.setFilePosix(info, changes) : fileAttr(info);
  }

  // ---- file operations ----

  protected override async doOpenFile({ id, flags }: SourceRequest<'openFile'>): Promise<{ handle: Handle }> {
    const node = await this.#tree.node(id);
    if (node.kind === 'dir') throw FsError.EISDIR('open', id.toString());
    const writes = opensForWrite(flags);
    const key = this.#tree.key(node.rel);
    const info = await this.#tree.head(key);
    const pending = info ? undefined : this.#pendingWriter(node.rel);
    if (!writes) {
      if (info)
        return {
          handle: this.#addHandle({
            type: 'read',
            rel: node.rel,
            reader: new RangeReader(this.#bucket, key),
          }),
        };
      if (pending)
        return { handle: this.#addHandle({ type: 'pending-read', rel: node.rel, writer: pending }) };
    } else if (info || pending) {
      const writer = await this.#newWriter(node.rel, flags, info ?? pending, false);
      return { handle: this.#addHandle({ type: 'write', writer }) };
    }
    throw FsError.ESTALE('open', id.toString(), 'object no longer exists');
  }

  protected override async doRead({ handle, offset, length }: SourceRequest<'read'>): Promise<Uint8Array> {
    const h = this.#handle(handle);
    if (h.type === 'read') return h.reader.read(offset, length);
    if (h.type === 'pending-read') {
      if (!h.writer.closed) return h.writer.read(this.#bucket, offset, length);
      h.reader ??= new RangeReader(this.#bucket, this.#tree.key(h.rel));
      return h.reader.read(offset, length);
    }
    if (!h.writer.canRead) throw FsError.EBADF('read', String(handle), 'handle is not open for reading');
    return h.writer.read(this.#bucket, offset, length);
  }

  protected override async doWrite({
    handle,
    offset,
    data,
  }: SourceRequest<'write'>): Promise<{ written: number }> {
    const h = this.#handle(handle);
    if (h.type !== 'write') throw FsError.EBADF('write', String(handle), 'handle is not open for writing');
    if (h.writer.closing) throw FsError.EBADF('write', String(handle), 'handle is being closed');
    return { written: await h.writer.write(this.#bucket, offset, data) };
  }

  protected override async doFlush({ handle }: SourceRequest<'flush'>): Promise<void> {
    // Nothing to push early: the object appears whole at close (atomic_write).
    this.#handle(handle);
  }

  protected override async doCloseFile(req: SourceRequest<'closeFile'>): Promise<void> {
    const { handle } = req;
    const h = this.#handle(handle);
    if (h.type !== 'write') {
      this.#handles.delete(handle);
      h.reader?.close();
      return;
    }
    const w = h.writer;
    if (w.closing) throw FsError.EBADF('close', String(handle), 'handle is already being closed');
    w.closing = true;
    const abort = (req as { abort?: boolean | undefined }).abort === true;
    try {
      if (!abort && (w.dirty || w.createdNew)) await this.#commit(w);
    } catch (err) {
      const e = this.#bucket.error(err, 'close', w.key);
      // A transient failure keeps the handle (and its data) so close can be retried.
      if (e.retryable) {
        w.closing = false;
        throw e;
      }
      await this.#releaseWriter(handle, w);
      throw e;
    }
    await this.#releaseWriter(handle, w);
  }

  /** Upload a writer's private copy as its object. */
  async #commit(w: Writer): Promise<void> {
    await w.load(this.#bucket);
    if (w.exclusive) {
      const [info, first] = await Promise.all([
        this.#tree.head(w.key),
        this.#bucket.firstKeys(w.key + '/', 1),
      ]);
      if (info || first.length > 0)
        throw FsError.EEXIST('close', w.rel, 'the name was created by someone else meanwhile');
    }
    const { etag } = await this.#bucket.upload({
      key: w.key,
      fh: w.spool.fh,
      size: w.spool.size,
      meta: w.meta,
      headers: w.headers,
      ifNoneMatch: w.exclusive,
    });
    this.#tree.remember(w.key, { etag, meta: w.meta, headers: w.headers });
  }

  protected override async doStatfs({ id }: SourceRequest<'statfs'>): Promise<StatFs> {
    await this.#tree.node(id);
    // S3 reports no capacity: synthetic, effectively unlimited figures (see the docs).
    const bsize = 4096;
    const blocks = 2 ** 40;
    return { bsize, blocks, bfree: blocks, bavail: blocks, files: 2 ** 40, ffree: 2 ** 40, namemax: 255 };
  }
}

/** Build the Source for an `s3` export (registry entry point). */
export function createSource(spec: SourceSpec): Source {
  return new S3Source(spec, parseS3Spec(spec));
}
