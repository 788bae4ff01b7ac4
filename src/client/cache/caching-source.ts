import { createHash } from 'node:crypto';
import type { Attr } from '../../core/attr.ts';
import { FsError } from '../../core/fs-error.ts';
import type { NodeId } from '../../core/ids.ts';
import type { Logger } from '../../core/log.ts';
import { MultiExportSource } from '../../sources/multi-export-source.ts';
import type {
  DirEntry,
  Entry,
  ExportInfo,
  Handle,
  Invalidation,
  LockInfo,
  Source,
  SourceOp,
  StatFs,
  SourceRequest,
} from '../../sources/source.ts';
import { opensForWrite } from '../../sources/source.ts';
import { type CacheEntry, DataCache, type DataCacheStats, type DataCacheTuning } from './data-cache.ts';
import { MetaCache } from './meta-cache.ts';
import { readdirAll } from '../../sources/readdir-pages.ts';
import { BoundedMap } from '../../core/bounded-map.ts';

/** A Source that can hash a file, or a byte range of it, where the bytes live (`HASH`). */
export interface ContentHasher {
  hash(req: {
    id: NodeId;
    offset?: number | undefined;
    length?: number | undefined;
  }): Promise<{ algo: 'sha256'; hex: string; size: number }>;
}

/** What a CachingSource wraps: any Source, better one that hashes and confirms subscriptions. */
export type CacheableSource = Source &
  Partial<ContentHasher> & {
    /** Resolves once pushed invalidations flow (a RemoteSource subscribes asynchronously). */
    subscribed?: () => Promise<void>;
  };

/** Options of {@link CachingSource}. */
export interface CachingSourceOptions {
  inner: CacheableSource;
  /** Directory of the on-disk data cache (index and data files). */
  dir: string;
  /** Total bytes the data cache may hold (default 10 GiB). */
  maxBytes?: number | undefined;
  /** Free space the data cache leaves on its filesystem (default 1 GiB). */
  minFreeBytes?: number | undefined;
  /** Finer tuning of the data cache (block size, full-file threshold, …). */
  tuning?: Partial<DataCacheTuning> | undefined;
  /**
   * Names the Source in cache keys, so caches of several Sources may share `dir` (the mount
   * layer passes the alias). Default: the exports' source ids.
   */
  scope?: string | undefined;
  /**
   * How long cached attrs and listings are trusted without an invalidation (a backstop for a
   * lost push). Default 60 s when the Source watches natively, else 1 s.
   */
  metaTtlMs?: number | undefined;
  /** Entries kept per metadata map (default 200,000). */
  metaMaxEntries?: number | undefined;
  /** Close `inner` on close (default true). */
  ownsInner?: boolean | undefined;
  logger?: Logger | undefined;
}

interface OpenState {
  id: NodeId;
  write: boolean;
  /** Where a file created through this handle appears (at close, if writes are atomic). */
  created?: { parent: NodeId; name: string } | undefined;
  /** The inner handle, once opened (read handles served from cache may never need one). */
  inner: Promise<Handle> | undefined;
  entry: CacheEntry | undefined;
  /** Where a sequential reader's next read starts, and how far to read ahead of it. */
  next: number;
  ahead: number;
}

/** The Source refused a ranged HASH (a node that predates it): block mode reads through. */
class NoRangedHash extends Error {}

const LISTING_PAGE = 5000;
/** Listings kept for readers paging through them (a reader holds a cookie into one). */
const MAX_SNAPSHOTS = 256;
/** Sequential readers fetch ahead up to this far. */
const MAX_AHEAD = 8 * 1024 * 1024;

/**
 * The client cache (DESIGN §4.3) as a Source wrapper: attributes, names and directory listings
 * are cached in memory with close-to-open consistency (every open revalidates the file's attrs
 * with the Source) and dropped by the Source's pushed invalidations; file data is cached on
 * disk by {@link DataCache}, each fill verified against the Source's content hash. Writes go
 * straight through and invalidate what they touch.
 */
export class CachingSource extends MultiExportSource {
  readonly #inner: CacheableSource;
  readonly #opts: CachingSourceOptions;
  readonly #handles = new Map<Handle, OpenState>();
  readonly #snapshots = new BoundedMap<number, readonly DirEntry[]>({ max: MAX_SNAPSHOTS });
  #nextHandle = 1;
  #nextSnapshot = 1;
  #scope = '';
  #meta: MetaCache | undefined;
  #dataCache: DataCache | undefined;
  #unwatch: (() => void) | undefined;
  #warnedUnverified = false;
  /** Whether the Source hashes byte ranges (until it refuses once). */
  #rangedHash = true;

  constructor(opts: CachingSourceOptions) {
    super();
    this.#inner = opts.inner;
    this.#opts = opts;
  }

  /** The wrapped Source. */
  get inner(): Source {
    return this.#inner;
  }

  /** Counters of the data cache. */
  /** Counters of the data cache (shared by every Source using the same `dir`). */
  get stats(): DataCacheStats {
    return this.#data.stats;
  }

  get #data(): DataCache {
    if (this.#dataCache === undefined) throw FsError.ENOTCONN('cache', undefined, 'source is not open');
    return this.#dataCache;
  }

  override supportsOperation(op: SourceOp): boolean {
    return this.#inner.supportsOperation(op);
  }

  /** The Source's exports, asked again (the last known ones when it cannot answer now). */
  override async listExports(): Promise<ExportInfo[]> {
    if (this.isOpen) this.knownExports = await this.#inner.listExports().catch(() => this.knownExports);
    return super.listExports();
  }

  protected override async doOpen(): Promise<void> {
    await this.#inner.open();
    this.knownExports = await this.#inner.listExports();
    this.#scope =
      this.#opts.scope ??
      this.knownExports
        .map((e) => e.source_id)
        .sort()
        .join(',');
    const native = this.knownExports.some((e) => e.caps.native_watch);
    this.#meta = new MetaCache({
      ttlMs: this.#opts.metaTtlMs ?? (native ? 60_000 : 1000),
      maxEntries: this.#opts.metaMaxEntries ?? 200_000,
    });
    const { maxBytes, minFreeBytes } = this.#opts;
    this.#dataCache = await DataCache.acquireShared({
      dir: this.#opts.dir,
      logger: this.#opts.logger,
      tuning: {
        ...this.#opts.tuning,
        ...(maxBytes !== undefined ? { maxBytes } : {}),
        ...(minFreeBytes !== undefined ? { minFreeBytes } : {}),
      },
    });
    this.#unwatch = this.#inner.watch((ev) => {
      this.#apply(ev);
      this.hub.emit(ev);
    });
    await this.#inner.subscribed?.();
    if (this.#inner.hash === undefined) {
      this.#opts.logger?.warn('cache: the source cannot hash; cache fills are not verified');
    }
  }

  protected override async doClose(): Promise<void> {
    this.#unwatch?.();
    for (const st of this.#handles.values()) if (st.entry) await this.#data.release(st.entry);
    this.#handles.clear();
    await this.#data.releaseShared();
    this.#dataCache = undefined;
    if (this.#opts.ownsInner ?? true) await this.#inner.close();
  }

  /**
   * Forget every cached attr and listing and revalidate every cached file before its next
   * read (the mount layer calls this after reconnecting, when pushes may have been missed).
   */
  invalidateAll(): void {
    this.#meta?.clear();
    this.#dataCache?.invalidateAll(`${this.#scope}/`);
  }

  #key(id: NodeId): string {
    return `${this.#scope}/${id}`;
  }

  get #m(): MetaCache {
    if (this.#meta === undefined) throw FsError.ENOTCONN('cache', undefined, 'source is not open');
    return this.#meta;
  }

  /** Keep the caches true to a pushed invalidation. */
  #apply(ev: Invalidation): void {
    const meta = this.#meta;
    if (meta === undefined) return;
    switch (ev.kind) {
      case 'data':
        meta.dropAttr(ev.id);
        this.#dataCache?.invalidate(this.#key(ev.id), 'drop');
        break;
      case 'attr':
        meta.dropAttr(ev.id);
        this.#dataCache?.invalidate(this.#key(ev.id), 'stale');
        break;
      case 'entry':
        meta.dropEntry(ev.parent, ev.name);
        break;
      case 'tree':
        this.invalidateAll();
        break;
    }
  }

  // Metadata: served from the caches, fetched and remembered on a miss.

  protected override async doLookup(req: SourceRequest<'lookup'>): Promise<Entry> {
    const cached = this.#m.lookup(req.parent, req.name);
    if (cached === null) throw FsError.ENOENT('lookup', req.name);
    if (cached !== undefined) return cached;
    const epoch = this.#m.epoch;
    const entry = await this.#inner.lookup(req);
    this.#m.putEntry(req.parent, req.name, entry, epoch);
    return entry;
  }

  protected override async doGetattr(req: SourceRequest<'getattr'>): Promise<Attr> {
    return this.#m.attr(req.id) ?? this.#fetchAttr(req.id);
  }

  async #fetchAttr(id: NodeId): Promise<Attr> {
    const epoch = this.#m.epoch;
    const attr = await this.#inner.getattr({ id });
    this.#m.putAttr(id, attr, epoch);
    return attr;
  }

  /**
   * Pages come from a snapshot of the whole listing (cached, or fetched now), so a reader
   * sees every entry exactly once however the directory changes meanwhile. Cookies name the
   * snapshot: `s<snapshot>:<position>`.
   */
  protected override async doReaddirp(
    req: SourceRequest<'readdirp'>,
  ): Promise<{ entries: DirEntry[]; cookie: string; eof: boolean }> {
    let snap: number;
    let pos: number;
    if (req.cookie === '') {
      const entries = this.#m.listing(req.dir)?.entries ?? (await this.#fetchListing(req.dir));
      snap = this.#nextSnapshot++;
      pos = 0;
      this.#snapshots.set(snap, entries);
    } else {
      const m = /^s([0-9]+):([0-9]+)$/.exec(req.cookie);
      if (m === null)
        throw FsError.EINVAL(
          'readdirp',
          req.cookie,
          'malformed readdir cookie (expected one this listing gave out)',
        );
      snap = Number(m[1]);
      pos = Number(m[2]);
    }
    const entries = this.#snapshots.get(snap);
    if (entries === undefined) {
      throw FsError.EINVAL('readdirp', req.dir.toString(), 'the listing this cookie belongs to expired');
    }
    const page = entries.slice(pos, pos + req.max);
    const eof = pos + page.length >= entries.length;
    if (eof) this.#snapshots.delete(snap);
    return { entries: page.map((e) => ({ ...e })), cookie: eof ? '' : `s${snap}:${pos + page.length}`, eof };
  }

  async #fetchListing(dir: NodeId): Promise<DirEntry[]> {
    const epoch = this.#m.epoch;
    const all = await readdirAll({ source: this.#inner, dir, max: LISTING_PAGE });
    this.#m.putListing(dir, all, epoch);
    return all;
  }

  // Files.

  protected override async doOpenFile(req: SourceRequest<'openFile'>): Promise<{ handle: Handle }> {
    const { flags } = req;
    const writes = opensForWrite(flags);
    const st: OpenState = {
      id: req.id,
      write: writes,
      inner: undefined,
      entry: undefined,
      next: -1,
      ahead: 0,
    };
    if (writes) {
      this.#changed(req.id, 'drop');
      st.inner = Promise.resolve((await this.#inner.openFile(req)).handle);
      return { handle: this.#register(st) };
    }
    // Close-to-open: the attrs are asked for at every open, so a cached copy of an older
    // version is never served.
    const attr = await this.#fetchAttr(req.id);
    if (attr.kind === 'file' && this.#data.cacheable(attr.size)) {
      st.entry = await this.#data.acquire(this.#key(req.id), attr);
    }
    if (st.entry === undefined || !this.#data.covers(st.entry, 0, attr.size)) {
      try {
        st.inner = Promise.resolve((await this.#inner.openFile(req)).handle);
      } catch (err) {
        if (st.entry) await this.#data.release(st.entry);
        throw err;
      }
    }
    return { handle: this.#register(st) };
  }

  #register(st: OpenState): Handle {
    const handle = this.#nextHandle++;
    this.#handles.set(handle, st);
    return handle;
  }

  #state(op: string, handle: Handle): OpenState {
    const st = this.#handles.get(handle);
    if (st === undefined) throw FsError.EBADF(op, undefined, `no open handle ${handle}`);
    return st;
  }

  /** The inner handle, opened now for read handles that were served from cache so far. */
  #innerHandle(st: OpenState): Promise<Handle> {
    st.inner ??= this.#inner
      .openFile({ id: st.id, flags: { read: true, write: false } })
      .then((r) => r.handle);
    return st.inner;
  }

  protected override async doRead(req: SourceRequest<'read'>): Promise<Uint8Array> {
    const st = this.#state('read', req.handle);
    if (st.entry !== undefined && !st.write) {
      if (st.entry.dead || st.entry.stale) await this.#revalidate(st);
      const entry = st.entry;
      if (entry !== undefined && (this.#rangedHash || this.#fetchedWhole(entry.version.size))) {
        // Sequential readers fetch ahead, doubling up to MAX_AHEAD; a seek starts over.
        st.ahead = req.offset === st.next ? Math.min(MAX_AHEAD, Math.max(st.ahead * 2, req.length * 2)) : 0;
        st.next = req.offset + req.length;
        const got = await this.#data
          .read({
            entry,
            offset: req.offset,
            length: req.length,
            into: req.into,
            ahead: st.ahead,
            fetch: (start, end) => this.#fetch(st, start, end),
          })
          .catch((err: unknown) => {
            if (err instanceof NoRangedHash) return undefined;
            throw err;
          });
        if (got !== undefined) return got;
      }
    }
    const handle = await this.#innerHandle(st);
    return this.#inner.read({ ...req, handle });
  }

  /**
   * Whether a file of `size` is filled by one fetch of the whole file, verifiable by the
   * whole-file HASH (without ranged HASH, other files are read through).
   */
  #fetchedWhole(size: number): boolean {
    const { fullFileMaxBytes, maxFetchBytes } = this.#data.tuning;
    return size <= fullFileMaxBytes && size <= maxFetchBytes;
  }

  /** The handle's cached file changed or may have: find out which version is there now. */
  async #revalidate(st: OpenState): Promise<void> {
    const old = st.entry;
    st.entry = undefined;
    const attr = await this.#fetchAttr(st.id);
    if (attr.kind === 'file' && this.#data.cacheable(attr.size)) {
      st.entry = await this.#data.acquire(this.#key(st.id), attr);
    }
    if (old) await this.#data.release(old);
  }

  /** Fetch a range for the data cache, verified against the Source's hash of the same range. */
  async #fetch(st: OpenState, start: number, end: number): Promise<Uint8Array> {
    const handle = await this.#innerHandle(st);
    const length = end - start;
    const whole = start === 0 && st.entry !== undefined && end === st.entry.version.size;
    const hasher = this.#inner.hash?.bind(this.#inner);
    const [bytes, expected] = await Promise.all([
      this.#inner.read({ handle, offset: start, length }),
      // The whole-file form also works with nodes that predate ranged HASH.
      hasher?.(whole ? { id: st.id } : { id: st.id, offset: start, length }).catch((err: unknown) => {
        if (whole || !FsError.is(err, 'EPROTO')) throw err;
        if (this.#rangedHash) {
          this.#rangedHash = false;
          this.#opts.logger?.warn('cache: the source cannot hash byte ranges; large files are read through');
        }
        throw new NoRangedHash();
      }),
    ]);
    if (expected === undefined) {
      if (!this.#warnedUnverified) this.#opts.logger?.debug('cache: unverified fill', { id: `${st.id}` });
      this.#warnedUnverified = true;
      return bytes;
    }
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (expected.size !== bytes.byteLength || expected.hex !== actual) {
      this.#opts.logger?.warn('cache: fill rejected, bytes do not match the source hash', {
        id: `${st.id}`,
        offset: start,
        length,
      });
      throw FsError.EIO('read', st.id.toString(), 'cache fill failed verification against the source hash');
    }
    return bytes;
  }

  protected override async doWrite(req: SourceRequest<'write'>): Promise<{ written: number }> {
    const st = this.#state('write', req.handle);
    const handle = await this.#innerHandle(st);
    try {
      return await this.#inner.write({ ...req, handle });
    } finally {
      this.#changed(st.id, 'drop');
    }
  }

  protected override async doFlush(req: SourceRequest<'flush'>): Promise<void> {
    const st = this.#state('flush', req.handle);
    if (st.inner !== undefined) await this.#inner.flush({ handle: await st.inner });
  }

  /** A close's last write goes to the inner Source with it (one request to a remote one). */
  protected override get closeCarriesWrite(): boolean {
    return true;
  }

  protected override async doCloseFile(req: SourceRequest<'closeFile'>): Promise<void> {
    const st = this.#state('closeFile', req.handle);
    if (req.write !== undefined) {
      // A failed write leaves the handle open (and what it wrote before is no longer cached).
      const handle = await this.#innerHandle(st);
      try {
        await this.#inner.closeFile({ handle, write: req.write });
      } catch (err) {
        this.#changed(st.id, 'drop');
        throw err;
      }
    }
    this.#handles.delete(req.handle);
    if (st.entry) await this.#data.release(st.entry);
    try {
      // A lazy open that failed left nothing to close (its error went to the read that needed it).
      const handle = req.write === undefined ? await st.inner?.catch(() => undefined) : undefined;
      if (handle !== undefined)
        await this.#inner.closeFile({ handle, ...(req.abort ? { abort: true } : {}) });
    } finally {
      // Close-to-open: what this handle wrote is visible to the next open.
      if (st.write) this.#changed(st.id, 'drop');
      if (st.created) this.#entryChanged(st.created.parent, st.created.name);
    }
  }

  protected override async doSetattr(req: SourceRequest<'setattr'>): Promise<Attr> {
    const handle =
      req.handle === undefined ? undefined : await this.#innerHandle(this.#state('setattr', req.handle));
    try {
      return await this.#inner.setattr({ ...req, handle });
    } finally {
      this.#changed(req.id, req.size !== undefined ? 'drop' : 'stale');
    }
  }

  protected override async doLock(req: SourceRequest<'lock'>): Promise<LockInfo | null> {
    const handle = await this.#innerHandle(this.#state('lock', req.handle));
    return this.#inner.lock({ ...req, handle });
  }

  /** This client changed `id`: its attrs go, its data goes or is revalidated. */
  #changed(id: NodeId, how: 'drop' | 'stale'): void {
    this.#meta?.dropAttr(id);
    this.#dataCache?.invalidate(this.#key(id), how);
  }

  /** This client changed entry `name` of `parent`. */
  #entryChanged(parent: NodeId, name: string): void {
    this.#meta?.dropEntry(parent, name);
  }

  // Namespace changes: straight through, then the caches forget the names they touched and
  // remember which id a new name is bound to.

  async #entryOp<T extends Entry | void>(
    names: [parent: NodeId, name: string][],
    run: () => Promise<T>,
  ): Promise<T> {
    let result: T;
    try {
      result = await run();
    } finally {
      for (const [parent, name] of names) this.#entryChanged(parent, name);
    }
    if (result !== undefined) this.#m.bind(names[0]![0], names[0]![1], result.id);
    return result;
  }

  protected override async doCreate(req: SourceRequest<'create'>): Promise<Entry & { handle: Handle }> {
    const res = await this.#entryOp([[req.parent, req.name]], () => this.#inner.create(req));
    const st: OpenState = {
      id: res.id,
      write: true,
      created: { parent: req.parent, name: req.name },
      inner: Promise.resolve(res.handle),
      entry: undefined,
      next: -1,
      ahead: 0,
    };
    this.#changed(res.id, 'drop');
    return { id: res.id, attr: res.attr, handle: this.#register(st) };
  }
  protected override doMkdir(req: SourceRequest<'mkdir'>): Promise<Entry> {
    return this.#entryOp([[req.parent, req.name]], () => this.#inner.mkdir(req));
  }
  protected override doUnlink(req: SourceRequest<'unlink'>): Promise<void> {
    return this.#entryOp([[req.parent, req.name]], () => this.#inner.unlink(req));
  }
  protected override doRmdir(req: SourceRequest<'rmdir'>): Promise<void> {
    return this.#entryOp([[req.parent, req.name]], () => this.#inner.rmdir(req));
  }
  protected override doRename(req: SourceRequest<'rename'>): Promise<void> {
    const names: [NodeId, string][] = [
      [req.parent, req.name],
      [req.newParent, req.newName],
    ];
    return this.#entryOp(names, () => this.#inner.rename(req));
  }
  protected override doSymlink(req: SourceRequest<'symlink'>): Promise<Entry> {
    return this.#entryOp([[req.parent, req.name]], () => this.#inner.symlink(req));
  }
  protected override async doLink(req: SourceRequest<'link'>): Promise<Entry> {
    try {
      return await this.#entryOp([[req.newParent, req.newName]], () => this.#inner.link(req));
    } finally {
      this.#changed(req.id, 'stale');
    }
  }
  protected override doReadlink(req: SourceRequest<'readlink'>): Promise<string> {
    return this.#inner.readlink(req);
  }

  // Extended attributes and statfs are not cached.

  protected override doGetxattr(req: SourceRequest<'getxattr'>): Promise<Uint8Array> {
    return this.#inner.getxattr(req);
  }
  protected override async doSetxattr(req: SourceRequest<'setxattr'>): Promise<void> {
    try {
      await this.#inner.setxattr(req);
    } finally {
      this.#changed(req.id, 'stale');
    }
  }
  protected override doListxattr(req: SourceRequest<'listxattr'>): Promise<string[]> {
    return this.#inner.listxattr(req);
  }
  protected override async doRemovexattr(req: SourceRequest<'removexattr'>): Promise<void> {
    try {
      await this.#inner.removexattr(req);
    } finally {
      this.#changed(req.id, 'stale');
    }
  }
  protected override doStatfs(req: SourceRequest<'statfs'>): Promise<StatFs> {
    return this.#inner.statfs(req);
  }
}
