import { mkdir } from 'node:fs/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Attr } from '../../core/attr.ts';
import { FsError } from '../../core/fs-error.ts';
import { exportIndexOf, localPartOf, makeId, rootId, type NodeId } from '../../core/ids.ts';
import { checkName } from '../../core/names.ts';
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
} from '../source.ts';
import { mapLimit, S3Bucket, type ListedObject } from './s3-bucket.ts';
import { buildS3Client } from './s3-client.ts';
import { parseS3Spec, type S3Config } from './s3-config.ts';
import {
  dirAttr,
  fileAttr,
  formatMtime,
  withPosixMeta,
  type ObjectHeaders,
  type ObjectInfo,
  type PosixMeta,
} from './s3-meta.ts';
import { RangeReader } from './s3-range-reader.ts';
import { S3Scanner, type DirSnapshot, type ScanChange } from './s3-scanner.ts';
import { IdMap } from './s3-ids.ts';
import { Spool } from './s3-spool.ts';
import { Writer } from './s3-writer.ts';

type Req<K extends keyof Source> = Source[K] extends (req: infer R) => unknown ? R : never;

/** A file or directory of the export, by key relative to the prefix ('' = root; dirs end with '/'). */
interface NodeRef {
  kind: 'file' | 'dir';
  rel: string;
}

/** A name in a directory listing. */
interface Listed {
  kind: 'file' | 'dir';
  obj?: ListedObject | undefined;
}

/** What the adapter remembers of an object's metadata, keyed by key, validated by ETag. */
type CachedMeta =
  | {
      absent: false;
      etag: string;
      lastModifiedMs: number | undefined;
      meta: Record<string, string>;
      headers: ObjectHeaders;
    }
  | { absent: true };

type OpenHandle =
  | { type: 'read'; rel: string; reader: RangeReader }
  /** A read handle on a file whose only content is another handle's unclosed private copy. */
  | { type: 'pending-read'; rel: string; writer: Writer; reader?: RangeReader | undefined }
  | { type: 'write'; writer: Writer };

const S3_MAX_KEY_BYTES = 1024;
const META_CACHE_MAX = 100_000;
const MAX_LISTINGS = 64;
const TiB = 1024 ** 4;
/** How long a full scan for unknown ids answers for (repeated unknown ids do not rescan). */
const ID_SCAN_REUSE_MS = 5000;

function isValidName(name: string): boolean {
  try {
    checkName('list', name);
    return true;
  } catch {
    return false;
  }
}

/** Split a rel into its parent directory rel and its name. */
function splitRel(rel: string): { parent: string; name: string } {
  const bare = rel.endsWith('/') ? rel.slice(0, -1) : rel;
  const cut = bare.lastIndexOf('/');
  return { parent: cut < 0 ? '' : bare.slice(0, cut + 1), name: bare.slice(cut + 1) };
}

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
  readonly #ids = new IdMap();
  readonly #pager = new DirPager();
  readonly #meta = new Map<string, CachedMeta>();
  /** Names (with what the listing said) of directories being paged, by directory key. */
  readonly #listings = new Map<string, Map<string, Listed>>();
  readonly #handles = new Map<Handle, OpenHandle>();
  /** Open writers by rel, so a created-but-unclosed file answers getattr by id. */
  readonly #writers = new Map<string, Set<Writer>>();
  readonly #scanner: S3Scanner;
  #nextHandle = 1;
  #idScan: Promise<void> | undefined;
  #idScanDoneMs = -Infinity;

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
    this.#scanner = new S3Scanner({
      intervalMs: cfg.scanIntervalMs,
      list: async (rel) => (await this.#listDir(rel)).snapshot,
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

  // ---- ids and keys ----

  #key(rel: string): string {
    const key = this.#cfg.prefix + rel;
    if (Buffer.byteLength(key, 'utf8') > S3_MAX_KEY_BYTES) {
      throw FsError.ENAMETOOLONG('s3', rel, `object key would exceed ${S3_MAX_KEY_BYTES} bytes`);
    }
    return key;
  }

  #idOf(rel: string): NodeId {
    return rel === ''
      ? rootId(this.identity.exportIndex)
      : makeId(this.identity.exportIndex, this.#ids.idFor(rel));
  }

  async #node(id: NodeId): Promise<NodeRef> {
    if (exportIndexOf(id) !== this.identity.exportIndex)
      throw FsError.ESTALE('s3', id.toString(), 'id of another export');
    const local = localPartOf(id);
    if (local === 1n) return { kind: 'dir', rel: '' };
    const rel = this.#ids.relOf(local) ?? (await this.#resolveUnknown(local));
    if (rel === undefined) throw FsError.ESTALE('s3', id.toString(), 'no object has this id');
    return { kind: rel.endsWith('/') ? 'dir' : 'file', rel };
  }

  async #dirNode(id: NodeId): Promise<NodeRef> {
    const node = await this.#node(id);
    if (node.kind !== 'dir') throw FsError.ENOTDIR('s3', id.toString());
    return node;
  }

  /**
   * An id this process has not handed out (e.g. from before a restart): list the export
   * once (up to `id_scan_limit` keys) registering every key's id. Scans are shared and
   * reused for a few seconds, so a burst of stale ids costs one listing.
   */
  async #resolveUnknown(local: bigint): Promise<string | undefined> {
    if (this.#cfg.idScanLimit === 0) return undefined;
    if (!this.#idScan && Date.now() - this.#idScanDoneMs > ID_SCAN_REUSE_MS) {
      this.#idScan = this.#scanAllKeys().finally(() => {
        this.#idScan = undefined;
        this.#idScanDoneMs = Date.now();
      });
    }
    await this.#idScan;
    return this.#ids.relOf(local);
  }

  async #scanAllKeys(): Promise<void> {
    const prefix = this.#cfg.prefix;
    let seen = 0;
    for await (const page of this.#bucket.list(prefix)) {
      for (const obj of page.objects) {
        const parts = obj.key.slice(prefix.length).split('/');
        let rel = '';
        for (let i = 0; i < parts.length; i++) {
          const part = parts[i]!;
          if (i === parts.length - 1 && part === '') break; // a marker: its dir is registered
          if (!isValidName(part)) break;
          rel += part;
          if (i < parts.length - 1) rel += '/';
          this.#ids.idFor(rel);
        }
        if (++seen >= this.#cfg.idScanLimit) return;
      }
    }
  }

  // ---- metadata ----

  #remember(info: ObjectInfo): void {
    this.#cacheSet(info.key, {
      absent: false,
      etag: info.etag,
      lastModifiedMs: info.lastModifiedMs,
      meta: info.meta,
      headers: info.headers,
    });
  }

  #cacheSet(key: string, value: CachedMeta): void {
    this.#meta.delete(key);
    this.#meta.set(key, value);
    if (this.#meta.size > META_CACHE_MAX) {
      const oldest = this.#meta.keys().next().value;
      if (oldest !== undefined) this.#meta.delete(oldest);
    }
  }

  async #head(key: string): Promise<ObjectInfo | undefined> {
    const info = await this.#bucket.head(key);
    if (info) this.#remember(info);
    else this.#meta.delete(key);
    return info;
  }

  /** Full info for a listed object: metadata from the cache when its ETag still matches, else HEAD. */
  async #infoFor(obj: ListedObject): Promise<ObjectInfo | undefined> {
    const c = this.#meta.get(obj.key);
    if (
      c &&
      !c.absent &&
      c.etag === obj.etag &&
      (c.lastModifiedMs === undefined || c.lastModifiedMs === obj.lastModifiedMs)
    ) {
      c.lastModifiedMs = obj.lastModifiedMs;
      return { ...obj, meta: c.meta, headers: c.headers };
    }
    return this.#head(obj.key);
  }

  /** Attributes of the directory `rel`, or undefined when it does not exist. */
  async #dirAttrOf(rel: string): Promise<Attr | undefined> {
    if (rel === '' && this.#cfg.prefix === '') return dirAttr();
    const key = this.#key(rel);
    const first = await this.#bucket.firstKeys(key, 1);
    return this.#dirAttrFromFirst(rel, first[0]);
  }

  /** Directory attributes given the first key under it (the marker sorts first when present). */
  async #dirAttrFromFirst(rel: string, first: ListedObject | undefined): Promise<Attr | undefined> {
    const key = this.#key(rel);
    if (first === undefined) return rel === '' ? dirAttr() : undefined;
    if (first.key !== key) {
      this.#cacheSet(key, { absent: true });
      return dirAttr();
    }
    return dirAttr(await this.#infoFor(first));
  }

  /** Directory attributes for a listing: the remembered marker, else a lookup of it. */
  async #childDirAttr(rel: string): Promise<Attr | undefined> {
    const c = this.#meta.get(this.#key(rel));
    if (c?.absent) return dirAttr();
    if (c && c.lastModifiedMs !== undefined)
      return dirAttr({ lastModifiedMs: c.lastModifiedMs, meta: c.meta });
    return this.#dirAttrOf(rel);
  }

  async #dirExists(rel: string): Promise<boolean> {
    if (rel === '') return true;
    const key = this.#key(rel);
    // A marker known to exist is checked with a HEAD, which stays cheap however big the directory.
    const c = this.#meta.get(key);
    if (c && !c.absent && (await this.#head(key)) !== undefined) return true;
    return (await this.#bucket.firstKeys(key, 1)).length > 0;
  }

  /** ENOENT for a missing name, or ESTALE when its parent directory itself is gone. */
  async #missing(op: string, parentRel: string, name: string): Promise<FsError> {
    if (!(await this.#dirExists(parentRel)))
      return FsError.ESTALE(op, parentRel, 'directory no longer exists');
    return FsError.ENOENT(op, parentRel + name);
  }

  /**
   * A directory that exists only through its keys vanishes with its last entry; give it a
   * marker so removing a file does not remove its directory.
   */
  async #keepDir(rel: string): Promise<void> {
    if (rel === '') return;
    const key = this.#key(rel);
    const c = this.#meta.get(key);
    if (c && !c.absent) return;
    if ((await this.#bucket.firstKeys(key, 1)).length > 0) return;
    const { etag } = await this.#bucket.put({ key, data: new Uint8Array(0), meta: {}, headers: {} });
    this.#cacheSet(key, { absent: false, etag, lastModifiedMs: undefined, meta: {}, headers: {} });
  }

  // ---- listing ----

  async #listDir(
    rel: string,
  ): Promise<{ listed: Map<string, Listed>; snapshot: DirSnapshot; exists: boolean }> {
    const dirKey = this.#key(rel);
    const listed = new Map<string, Listed>();
    let any = false;
    for await (const page of this.#bucket.list(dirKey, '/')) {
      for (const obj of page.objects) {
        any = true;
        const name = obj.key.slice(dirKey.length);
        if (name === '' || !isValidName(name)) continue;
        if (!listed.has(name)) listed.set(name, { kind: 'file', obj });
      }
      for (const p of page.prefixes) {
        any = true;
        const name = p.slice(dirKey.length, -1);
        // A file and a directory of the same name: the directory is what the tree shows.
        if (isValidName(name)) listed.set(name, { kind: 'dir' });
      }
    }
    const snapshot: DirSnapshot = new Map();
    for (const [name, l] of listed) {
      snapshot.set(name, {
        kind: l.kind,
        sig: l.obj ? `${l.obj.etag}|${l.obj.size}|${l.obj.lastModifiedMs}` : '',
        lastModifiedMs: l.obj?.lastModifiedMs ?? 0,
      });
    }
    return { listed, snapshot, exists: any || rel === '' };
  }

  #report(changes: ScanChange[]): void {
    const seen = new Set<string>();
    for (const c of changes) {
      const tag = `${c.change}\0${c.dirRel}\0${c.name}`;
      if (seen.has(tag)) continue;
      seen.add(tag);
      if (c.change === 'entry') this.hub.emit({ kind: 'entry', parent: this.#idOf(c.dirRel), name: c.name });
      else this.hub.emit({ kind: 'data', id: this.#idOf(c.dirRel + c.name) });
    }
  }

  #forgetListed(parentRel: string, name: string): void {
    this.#listings.get(this.#cfg.prefix + parentRel)?.delete(name);
  }

  // ---- writers and handles ----

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

  #dropWriter(w: Writer): void {
    const set = this.#writers.get(w.rel);
    set?.delete(w);
    if (set?.size === 0) this.#writers.delete(w.rel);
  }

  // ---- operations ----

  protected override async doLookup({ parent, name }: Req<'lookup'>): Promise<Entry> {
    const p = await this.#dirNode(parent);
    this.#scanner.touch(p.rel);
    const fileRel = p.rel + name;
    const dirRel = fileRel + '/';
    const [info, first] = await Promise.all([
      this.#head(this.#key(fileRel)),
      this.#bucket.firstKeys(this.#key(dirRel), 1),
    ]);
    if (first[0] !== undefined)
      return { id: this.#idOf(dirRel), attr: (await this.#dirAttrFromFirst(dirRel, first[0])) ?? dirAttr() };
    if (info) return { id: this.#idOf(fileRel), attr: fileAttr(info) };
    throw await this.#missing('lookup', p.rel, name);
  }

  protected override async doGetattr({ id }: Req<'getattr'>): Promise<Attr> {
    const node = await this.#node(id);
    if (node.kind === 'dir') {
      const attr = await this.#dirAttrOf(node.rel);
      if (!attr) throw FsError.ESTALE('getattr', id.toString(), 'directory no longer exists');
      return attr;
    }
    this.#scanner.touch(splitRel(node.rel).parent);
    const info = await this.#head(this.#key(node.rel));
    if (info) return fileAttr(info);
    const w = this.#pendingWriter(node.rel);
    if (w) return w.attr();
    throw FsError.ESTALE('getattr', id.toString(), 'object no longer exists');
  }

  protected override async doReaddirp({
    dir,
    cookie,
    max,
  }: Req<'readdirp'>): Promise<{ entries: DirEntry[]; cookie: string; eof: boolean }> {
    const d = await this.#dirNode(dir);
    this.#scanner.touch(d.rel);
    const dirKey = this.#key(d.rel);
    const page = await this.#pager.page({
      cookie,
      max,
      list: async () => {
        const { listed, snapshot, exists } = await this.#listDir(d.rel);
        if (!exists) throw FsError.ESTALE('readdirp', dir.toString(), 'directory no longer exists');
        this.#listings.delete(dirKey);
        this.#listings.set(dirKey, listed);
        // Listings a client abandoned part-way are dropped, oldest first.
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
        try {
          return { name, ...(await this.doLookup({ parent: dir, name })) };
        } catch (err) {
          if (FsError.is(err, 'ENOENT')) return undefined;
          throw err;
        }
      }
      if (l.kind === 'dir') {
        const rel = d.rel + name + '/';
        const attr = await this.#childDirAttr(rel);
        return attr ? { name, id: this.#idOf(rel), attr } : undefined;
      }
      const info = l.obj ? await this.#infoFor(l.obj) : await this.#head(this.#key(d.rel + name));
      return info ? { name, id: this.#idOf(d.rel + name), attr: fileAttr(info) } : undefined;
    });
    if (page.eof) this.#listings.delete(dirKey);
    return {
      entries: entries.filter((e): e is DirEntry => e !== undefined),
      cookie: page.cookie,
      eof: page.eof,
    };
  }

  protected override async doOpenFile({ id, flags }: Req<'openFile'>): Promise<{ handle: Handle }> {
    const node = await this.#node(id);
    if (node.kind === 'dir') throw FsError.EISDIR('open', id.toString());
    const writes = flags.write || flags.truncate === true || flags.append === true;
    const key = this.#key(node.rel);
    const info = await this.#head(key);
    const pending = info ? undefined : this.#pendingWriter(node.rel);
    if (!info && !pending) throw FsError.ESTALE('open', id.toString(), 'object no longer exists');
    if (!writes) {
      if (info)
        return {
          handle: this.#addHandle({
            type: 'read',
            rel: node.rel,
            reader: new RangeReader(this.#bucket, key),
          }),
        };
      return { handle: this.#addHandle({ type: 'pending-read', rel: node.rel, writer: pending! }) };
    }
    const writer = await this.#newWriter(node.rel, flags, info ?? pending, false);
    return { handle: this.#addHandle({ type: 'write', writer }) };
  }

  #newWriter(
    rel: string,
    flags: OpenFlags,
    base: ObjectInfo | Writer | undefined,
    exclusive: boolean,
    mode?: number,
  ): Promise<Writer> {
    const meta =
      base === undefined ? withPosixMeta({}, 'file', { mode: (mode ?? 0o644) & 0o7777 }) : base.meta;
    return Writer.open({
      spoolDir: this.#cfg.spoolDir,
      rel,
      key: this.#key(rel),
      canRead: flags.read,
      append: flags.append === true,
      truncate: flags.truncate === true,
      exclusive,
      base,
      meta,
      headers: base === undefined ? {} : base.headers,
    });
  }

  protected override async doRead({ handle, offset, length }: Req<'read'>): Promise<Uint8Array> {
    const h = this.#handle(handle);
    if (h.type === 'read') return h.reader.read(offset, length);
    if (h.type === 'pending-read') {
      if (!h.writer.closed) return h.writer.read(this.#bucket, offset, length);
      h.reader ??= new RangeReader(this.#bucket, this.#key(h.rel));
      return h.reader.read(offset, length);
    }
    if (!h.writer.canRead) throw FsError.EBADF('read', String(handle), 'handle is not open for reading');
    return h.writer.read(this.#bucket, offset, length);
  }

  protected override async doWrite({ handle, offset, data }: Req<'write'>): Promise<{ written: number }> {
    const h = this.#handle(handle);
    if (h.type !== 'write') throw FsError.EBADF('write', String(handle), 'handle is not open for writing');
    return { written: await h.writer.write(this.#bucket, offset, data) };
  }

  protected override async doFlush({ handle }: Req<'flush'>): Promise<void> {
    // Nothing to push early: the object appears whole at close (atomic_write).
    this.#handle(handle);
  }

  protected override async doCloseFile({ handle }: Req<'closeFile'>): Promise<void> {
    const h = this.#handle(handle);
    if (h.type !== 'write') {
      this.#handles.delete(handle);
      if (h.type === 'read') h.reader.close();
      else h.reader?.close();
      return;
    }
    const w = h.writer;
    if (w.closing) throw FsError.EBADF('close', String(handle), 'handle is already being closed');
    w.closing = true;
    try {
      if (w.dirty || w.createdNew) await this.#commit(w);
    } catch (err) {
      const e = this.#bucket.error(err, 'close', w.key);
      // A transient failure keeps the handle (and its data) so close can be retried.
      if (e.retryable) {
        w.closing = false;
        throw e;
      }
      this.#handles.delete(handle);
      this.#dropWriter(w);
      await w.dispose();
      throw e;
    }
    this.#handles.delete(handle);
    this.#dropWriter(w);
    await w.dispose();
  }

  /** Upload a writer's private copy as its object. */
  async #commit(w: Writer): Promise<void> {
    await w.load(this.#bucket);
    if (w.exclusive) {
      const [info, first] = await Promise.all([this.#head(w.key), this.#bucket.firstKeys(w.key + '/', 1)]);
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
    this.#cacheSet(w.key, {
      absent: false,
      etag,
      lastModifiedMs: undefined,
      meta: w.meta,
      headers: w.headers,
    });
  }

  protected override async doCreate({
    parent,
    name,
    mode,
    exclusive,
    flags,
  }: Req<'create'>): Promise<Entry & { handle: Handle }> {
    const p = await this.#dirNode(parent);
    const rel = p.rel + name;
    const key = this.#key(rel);
    const [info, first, parentOk] = await Promise.all([
      this.#head(key),
      this.#bucket.firstKeys(this.#key(rel + '/'), 1),
      this.#dirExists(p.rel),
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
    return { id: this.#idOf(rel), attr: writer.attr(), handle };
  }

  protected override async doMkdir({ parent, name, mode }: Req<'mkdir'>): Promise<Entry> {
    const p = await this.#dirNode(parent);
    const rel = p.rel + name + '/';
    const key = this.#key(rel);
    const [info, first, parentOk] = await Promise.all([
      this.#bucket.head(this.#key(p.rel + name)),
      this.#bucket.firstKeys(key, 1),
      this.#dirExists(p.rel),
    ]);
    if (!parentOk) throw FsError.ESTALE('mkdir', parent.toString(), 'directory no longer exists');
    if (info || first.length > 0) throw FsError.EEXIST('mkdir', rel);
    const meta = withPosixMeta({}, 'dir', { mode: mode & 0o7777 });
    const { etag } = await this.#bucket.put({ key, data: new Uint8Array(0), meta, headers: {} });
    this.#cacheSet(key, { absent: false, etag, lastModifiedMs: undefined, meta, headers: {} });
    return { id: this.#idOf(rel), attr: dirAttr({ lastModifiedMs: Date.now(), meta }) };
  }

  protected override async doUnlink({ parent, name }: Req<'unlink'>): Promise<void> {
    const p = await this.#dirNode(parent);
    const rel = p.rel + name;
    const key = this.#key(rel);
    const [info, first] = await Promise.all([
      this.#bucket.head(key),
      this.#bucket.firstKeys(this.#key(rel + '/'), 1),
    ]);
    if (first.length > 0) throw FsError.EISDIR('unlink', rel);
    if (!info) throw await this.#missing('unlink', p.rel, name);
    await this.#bucket.delete(key);
    this.#meta.delete(key);
    this.#forgetListed(p.rel, name);
    await this.#keepDir(p.rel);
  }

  protected override async doRmdir({ parent, name }: Req<'rmdir'>): Promise<void> {
    const p = await this.#dirNode(parent);
    const rel = p.rel + name + '/';
    const key = this.#key(rel);
    const [first, info] = await Promise.all([
      this.#bucket.firstKeys(key, 2),
      this.#bucket.head(this.#key(p.rel + name)),
    ]);
    if (first.length === 0) {
      if (info) throw FsError.ENOTDIR('rmdir', rel);
      throw await this.#missing('rmdir', p.rel, name);
    }
    if (first.some((o) => o.key !== key)) throw FsError.ENOTEMPTY('rmdir', rel);
    await this.#bucket.delete(key);
    this.#cacheSet(key, { absent: true });
    this.#forgetListed(p.rel, name);
    await this.#keepDir(p.rel);
  }

  /** What a name in a directory is: a directory wins over a file of the same name. */
  async #kindAt(
    rel: string,
  ): Promise<{ kind: 'file'; info: ObjectInfo } | { kind: 'dir'; first: ListedObject[] } | undefined> {
    const [info, first] = await Promise.all([
      this.#head(this.#key(rel)),
      this.#bucket.firstKeys(this.#key(rel + '/'), 2),
    ]);
    if (first.length > 0) return { kind: 'dir', first };
    return info ? { kind: 'file', info } : undefined;
  }

  protected override async doRename({
    parent,
    name,
    newParent,
    newName,
    noreplace,
  }: Req<'rename'>): Promise<void> {
    const [p, np] = await Promise.all([this.#dirNode(parent), this.#dirNode(newParent)]);
    const srcRel = p.rel + name;
    const dstRel = np.rel + newName;
    const [src, dst, dstParentOk] = await Promise.all([
      this.#kindAt(srcRel),
      this.#kindAt(dstRel),
      this.#dirExists(np.rel),
    ]);
    if (!src) throw await this.#missing('rename', p.rel, name);
    if (!dstParentOk) throw FsError.ESTALE('rename', newParent.toString(), 'directory no longer exists');
    if (srcRel === dstRel) return;
    if (src.kind === 'dir' && (dstRel + '/').startsWith(srcRel + '/')) {
      throw FsError.EINVAL('rename', srcRel, 'cannot move a directory into itself');
    }
    if (dst && noreplace) throw FsError.EEXIST('rename', dstRel);
    if (dst?.kind === 'dir' && src.kind === 'file') throw FsError.EISDIR('rename', dstRel);
    if (dst?.kind === 'file' && src.kind === 'dir') throw FsError.ENOTDIR('rename', dstRel);
    if (dst?.kind === 'dir' && dst.first.some((o) => o.key !== this.#key(dstRel + '/'))) {
      throw FsError.ENOTEMPTY('rename', dstRel);
    }
    if (src.kind === 'file') {
      await this.#copyKeepingMtime(src.info, this.#key(dstRel));
      await this.#bucket.delete(src.info.key);
      this.#meta.delete(src.info.key);
    } else {
      await this.#renameDir(srcRel + '/', dstRel + '/');
    }
    this.#forgetListed(p.rel, name);
    await this.#keepDir(p.rel);
  }

  /** Copy an object, storing its mtime in metadata so the copy's new LastModified does not change it. */
  async #copyKeepingMtime(info: ObjectInfo, dstKey: string): Promise<void> {
    const meta =
      info.meta.mtime !== undefined
        ? info.meta
        : { ...info.meta, mtime: formatMtime(BigInt(info.lastModifiedMs) * 1_000_000n) };
    const { etag, lastModifiedMs } = await this.#bucket.copy(info, dstKey, meta);
    this.#cacheSet(dstKey, { absent: false, etag, lastModifiedMs, meta, headers: info.headers });
  }

  /**
   * Move every key under a directory prefix: all copies first, then the deletes, so a
   * failure part-way leaves objects duplicated, never lost. Not atomic (see the docs).
   */
  async #renameDir(srcRel: string, dstRel: string): Promise<void> {
    const srcKey = this.#key(srcRel);
    const dstKey = this.#key(dstRel);
    const objects: ListedObject[] = [];
    for await (const page of this.#bucket.list(srcKey)) objects.push(...page.objects);
    await mapLimit(objects, 8, async (obj) => {
      const target = dstKey + obj.key.slice(srcKey.length);
      if (Buffer.byteLength(target, 'utf8') > S3_MAX_KEY_BYTES) throw FsError.ENAMETOOLONG('rename', target);
      const info = await this.#infoFor(obj);
      if (info) await this.#copyKeepingMtime(info, target);
    });
    await this.#bucket.deleteMany(objects.map((o) => o.key));
    for (const o of objects) this.#meta.delete(o.key);
  }

  protected override async doSetattr(req: Req<'setattr'>): Promise<Attr> {
    const node = await this.#node(req.id);
    const changes: PosixMeta = { mode: req.mode, uid: req.uid, gid: req.gid, mtimeNs: req.mtimeNs };
    const metaChange =
      req.mode !== undefined || req.uid !== undefined || req.gid !== undefined || req.mtimeNs !== undefined;
    if (node.kind === 'dir') {
      if (req.size !== undefined) throw FsError.EISDIR('setattr', req.id.toString());
      return this.#setDirAttr(node.rel, req.id, metaChange ? changes : undefined);
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
    const key = this.#key(node.rel);
    const info = await this.#head(key);
    const writers = [...(this.#writers.get(node.rel) ?? [])];
    // Open private copies keep the new attributes when they replace the object at close.
    if (metaChange) for (const w of writers) w.setPosix(changes);
    if (!info) {
      const w = this.#pendingWriter(node.rel);
      if (!w) throw FsError.ESTALE('setattr', req.id.toString(), 'object no longer exists');
      if (req.size !== undefined) await w.truncate(this.#bucket, req.size);
      return w.attr();
    }
    if (req.size !== undefined && req.size !== info.size)
      return this.#truncateObject(info, req.size, changes);
    if (!metaChange) return fileAttr(info);
    const meta = withPosixMeta(info.meta, 'file', changes);
    const r = await this.#bucket.copy(info, key, meta);
    const lastModifiedMs = r.lastModifiedMs ?? info.lastModifiedMs;
    this.#cacheSet(key, { absent: false, etag: r.etag, lastModifiedMs, meta, headers: info.headers });
    return fileAttr({ size: info.size, lastModifiedMs, meta });
  }

  async #setDirAttr(rel: string, id: NodeId, changes: PosixMeta | undefined): Promise<Attr> {
    if (changes === undefined || (rel === '' && this.#cfg.prefix === '')) {
      // The bucket root has no marker to keep attributes in: it stays synthetic.
      const attr = await this.#dirAttrOf(rel);
      if (!attr) throw FsError.ESTALE('setattr', id.toString(), 'directory no longer exists');
      return attr;
    }
    const key = this.#key(rel);
    const first = (await this.#bucket.firstKeys(key, 1))[0];
    if (first === undefined && rel !== '')
      throw FsError.ESTALE('setattr', id.toString(), 'directory no longer exists');
    const marker = first?.key === key ? await this.#infoFor(first) : undefined;
    const meta = withPosixMeta(marker?.meta ?? {}, 'dir', changes);
    const { etag } = await this.#bucket.put({
      key,
      data: new Uint8Array(0),
      meta,
      headers: marker?.headers ?? {},
    });
    this.#cacheSet(key, {
      absent: false,
      etag,
      lastModifiedMs: undefined,
      meta,
      headers: marker?.headers ?? {},
    });
    return dirAttr({ lastModifiedMs: Date.now(), meta });
  }

  /** Truncate or extend an object in place: download what is kept, upload it back. */
  async #truncateObject(info: ObjectInfo, size: number, changes: PosixMeta): Promise<Attr> {
    const base = { ...info.meta };
    delete base.mtime;
    const meta = withPosixMeta(base, 'file', changes);
    const spool = await Spool.create(this.#cfg.spoolDir);
    try {
      if (size > 0) {
        spool.setLoadedSize(await this.#bucket.download(info.key, spool.fh, Math.min(size, info.size)));
        await spool.truncate(size);
      }
      const { etag } = await this.#bucket.upload({
        key: info.key,
        fh: spool.fh,
        size,
        meta,
        headers: info.headers,
      });
      this.#cacheSet(info.key, {
        absent: false,
        etag,
        lastModifiedMs: undefined,
        meta,
        headers: info.headers,
      });
    } finally {
      await spool.dispose();
    }
    return fileAttr({ size, lastModifiedMs: Date.now(), meta });
  }

  protected override async doStatfs({ id }: Req<'statfs'>): Promise<StatFs> {
    await this.#node(id);
    // S3 has no capacity to report: synthetic, effectively unlimited figures.
    const bsize = 4096;
    const blocks = 2 ** 40;
    return { bsize, blocks, bfree: blocks, bavail: blocks, files: 2 ** 40, ffree: 2 ** 40, namemax: 255 };
  }
}

/** Build the Source for an `s3` export (registry entry point). */
export function createSource(spec: SourceSpec): Source {
  return new S3Source(spec, parseS3Spec(spec));
}
