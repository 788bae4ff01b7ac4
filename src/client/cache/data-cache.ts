import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rm, stat, statfs, type FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from '../../core/log.ts';
import { CacheIndex, type IndexRow } from './cache-index.ts';
import { IntervalMap, type Range } from './interval-map.ts';

/** What a cache entry's bytes belong to: revalidation compares these with the file's attrs. */
export interface FileVersion {
  size: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  gen: number;
}

/**
 * Fetches `[start, end)` of the file from the Source, verified against its content hash
 * (rejects when the bytes do not match). Fewer bytes than asked mean the file changed.
 */
export type Fetcher = (start: number, end: number) => Promise<Uint8Array>;

/** Tuning of the data cache; every field has a default (see `DATA_CACHE_DEFAULTS`). */
export interface DataCacheTuning {
  /** Total bytes cached, at most. */
  maxBytes: number;
  /** Free space the cache leaves on its filesystem, at least. */
  minFreeBytes: number;
  /** Files up to this size are fetched whole on first read (full-file mode). */
  fullFileMaxBytes: number;
  /**
   * Block mode fetches whole aligned blocks of this size (a page by default: a random reader
   * fetches no more than it touches; sequential readers fetch ahead in big requests).
   */
  blockBytes: number;
  /** Largest single verified fetch. */
  maxFetchBytes: number;
  /** Past this many disjoint ranges an entry is promoted (see docs/cache.md). */
  maxIntervals: number;
  /**
   * Promotion fetches the whole file when it is at most this big; a bigger file gets its
   * smallest gaps filled (at most 4 × `maxFetchBytes` at a time), and past twice the limit
   * its new ranges are read through rather than cached.
   */
  promoteMaxBytes: number;
  /** Sync filled bytes to disk before the index records them (safe against power loss). */
  durable: boolean;
  /**
   * Fills are recorded in the index in batches, at most this long after they are served
   * (one sync per data file and one transaction per batch instead of one per fill); 0 records
   * each fill before its read returns. A crash loses at most the fills of the last batch.
   */
  commitDelayMs: number;
}

/** Defaults of {@link DataCacheTuning}. */
export const DATA_CACHE_DEFAULTS: DataCacheTuning = {
  maxBytes: 10 * 1024 ** 3,
  minFreeBytes: 1024 ** 3,
  fullFileMaxBytes: 16 * 1024 ** 2,
  blockBytes: 4096,
  maxFetchBytes: 8 * 1024 ** 2,
  maxIntervals: 1000,
  promoteMaxBytes: 256 * 1024 ** 2,
  durable: true,
  commitDelayMs: 50,
};

/** Counters of the data cache (for metrics, tests and the benchmark). */
export interface DataCacheStats {
  /** Reads served wholly from cached bytes. */
  hits: number;
  /** Reads that needed a fetch first. */
  misses: number;
  /** Verified fetches and their bytes. */
  fetches: number;
  fetchedBytes: number;
  /** Fetches whose bytes failed verification (never cached). */
  rejected: number;
  evictions: number;
  /** Entries and bytes currently cached. */
  entries: number;
  bytes: number;
  /** Bytes the index records (what a restart keeps); `bytes` minus fills not yet committed. */
  recordedBytes: number;
}

/** One cached file. Handles pin it; a dead entry is no longer in the cache. */
export class CacheEntry {
  readonly map: IntervalMap;
  pins = 0;
  /** Invalidated: its bytes no longer count and its data file is gone. */
  dead = false;
  /** Possibly changed (an attr or tree invalidation): revalidate before the next read. */
  stale = false;
  lastAccess: number;
  fd: FileHandle | undefined;
  readonly inflight: { start: number; end: number; done: Promise<void> }[] = [];
  /** Fills so far, and whether some are not yet synced and recorded in the index. */
  fills = 0;
  unrecorded = false;
  /** Bytes the index records for this entry. */
  recordedBytes = 0;

  constructor(
    readonly key: string,
    readonly file: string,
    readonly version: FileVersion,
    map: IntervalMap,
    lastAccess: number,
  ) {
    this.map = map;
    this.lastAccess = lastAccess;
  }
}

/** Whether two versions describe the same content. */
export function sameVersion(a: FileVersion, b: FileVersion): boolean {
  return a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs && a.gen === b.gen;
}

/** Data caches in use in this process, by directory (several mounts may share one). */
const SHARED = new Map<string, { cache: DataCache; refs: number; opening: Promise<void> }>();

const alignDown = (n: number, b: number) => n - (n % b);
const alignUp = (n: number, b: number) => alignDown(n + b - 1, b);

/**
 * The on-disk data cache (seed 001 §4.5–4.9): one sparse data file per cached file and an
 * interval map of the bytes present, indexed in SQLite. Small files are fetched whole,
 * large ones by aligned blocks with adjacent missing ranges fetched together; concurrent
 * readers of a range share one fetch; every fetch is verified before it is written; LRU
 * eviction keeps the total under `maxBytes` and the filesystem's free space above
 * `minFreeBytes`. Entries survive a restart and are revalidated by version on use.
 */
export class DataCache {
  readonly tuning: DataCacheTuning;
  readonly #dir: string;
  readonly #logger: Logger | undefined;
  /** Least recently used first (a use moves an entry to the end): eviction takes the front. */
  readonly #entries = new Map<string, CacheEntry>();
  readonly #touched = new Set<string>();
  #index: CacheIndex | undefined;
  #total = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #pending = new Set<CacheEntry>();
  #commitTimer: NodeJS.Timeout | undefined;
  #committing: Promise<void> = Promise.resolve();
  readonly #stats = { hits: 0, misses: 0, fetches: 0, fetchedBytes: 0, rejected: 0, evictions: 0 };

  constructor(opts: { dir: string; tuning?: Partial<DataCacheTuning>; logger?: Logger | undefined }) {
    this.#dir = opts.dir;
    this.#logger = opts.logger;
    this.tuning = { ...DATA_CACHE_DEFAULTS, ...opts.tuning };
  }

  get stats(): DataCacheStats {
    let recordedBytes = 0;
    for (const e of this.#entries.values()) recordedBytes += e.recordedBytes;
    return { ...this.#stats, entries: this.#entries.size, bytes: this.#total, recordedBytes };
  }

  /**
   * The open data cache of `dir` in this process, opened now if nobody holds it: several
   * Sources (mounts) may share one directory, one size cap and one index (their keys differ by
   * scope), and must, since each instance owns every file in its directory. The first
   * holder's tuning applies. Give it back with {@link releaseShared}.
   */
  static async acquireShared(opts: {
    dir: string;
    tuning?: Partial<DataCacheTuning>;
    logger?: Logger | undefined;
  }): Promise<DataCache> {
    const dir = resolve(opts.dir);
    let held = SHARED.get(dir);
    if (held === undefined) {
      const cache = new DataCache({ ...opts, dir });
      held = { cache, refs: 0, opening: cache.open() };
      SHARED.set(dir, held);
      held.opening.catch(() => SHARED.delete(dir));
    }
    held.refs++;
    try {
      await held.opening;
    } catch (err) {
      held.refs--;
      throw err;
    }
    return held.cache;
  }

  /** Give back a cache from {@link acquireShared}; the last holder closes it. */
  async releaseShared(): Promise<void> {
    const dir = resolve(this.#dir);
    const held = SHARED.get(dir);
    if (held?.cache !== this) return;
    if (--held.refs > 0) return;
    SHARED.delete(dir);
    await this.close();
  }

  /** Open the index, drop rows whose data file is missing and data files without a row. */
  async open(): Promise<void> {
    const dataDir = join(this.#dir, 'data');
    await mkdir(dataDir, { recursive: true });
    const { index, fresh } = CacheIndex.open(this.#dir);
    this.#index = index;
    const known = new Set<string>();
    if (!fresh) {
      for (const row of index.all()) {
        const map = IntervalMap.fromBlob(row.ranges);
        const st = await stat(join(dataDir, row.file)).catch(() => undefined);
        const fits = map !== undefined && (map.ranges.at(-1)?.end ?? 0) <= row.size;
        if (map === undefined || st === undefined || st.size !== row.size || !fits) {
          index.delete(row.key);
          continue;
        }
        const { key, file, size, mtimeNs, ctimeNs, gen, lastAccess } = row;
        const entry = new CacheEntry(key, file, { size, mtimeNs, ctimeNs, gen }, map, lastAccess);
        entry.recordedBytes = map.bytes;
        this.#entries.set(key, entry);
        this.#total += map.bytes;
        known.add(file);
      }
    }
    // Data files the index does not name were being filled when the process stopped.
    for (const name of await readdir(dataDir)) {
      if (!known.has(name)) await rm(join(dataDir, name), { force: true });
    }
    this.#timer = setInterval(() => this.#flushTouches(), 5000);
    this.#timer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    clearTimeout(this.#commitTimer);
    await this.#commit();
    this.#flushTouches();
    for (const e of this.#entries.values()) await closeFd(e);
    this.#index?.close();
    this.#index = undefined;
  }

  /** Whether a file of `size` bytes is cached at all (bigger ones are read straight through). */
  cacheable(size: number): boolean {
    return size > 0 && size <= this.tuning.maxBytes / 2;
  }

  /**
   * The entry for `key` at `version`, pinned (release it with {@link release}). An entry of
   * another version is dropped and a fresh one made; a stale one of the same version is kept.
   */
  async acquire(key: string, version: FileVersion): Promise<CacheEntry> {
    let entry = this.#entries.get(key);
    if (entry !== undefined && (entry.dead || !sameVersion(entry.version, version))) {
      void this.#kill(entry);
      entry = undefined;
    }
    if (entry === undefined) {
      const file = `${createHash('sha256').update(key).digest('hex').slice(0, 24)}-${randomBytes(4).toString('hex')}`;
      entry = new CacheEntry(key, file, version, new IntervalMap(), Date.now());
      this.#entries.set(key, entry);
    }
    entry.stale = false;
    entry.pins++;
    if (entry.fd === undefined) {
      const path = join(this.#dir, 'data', entry.file);
      try {
        const fd = await open(path, 'r+').catch(async () => {
          const created = await open(path, 'w+');
          await created.truncate(version.size);
          return created;
        });
        if (entry.fd === undefined) entry.fd = fd;
        else await fd.close();
      } catch (err) {
        entry.pins--;
        throw err;
      }
    }
    return entry;
  }

  /**
   * Unpin an entry; its data file closes when nobody holds it, and an entry that got no bytes
   * (opened but not read, or its fills failed) goes with its empty data file.
   */
  async release(entry: CacheEntry): Promise<void> {
    entry.pins--;
    if (!idle(entry)) return;
    if (!entry.dead && entry.map.count === 0) await this.#kill(entry);
    // An entry killed while held (a drop, an eviction) keeps its fd until its last holder goes.
    await closeFd(entry);
  }

  /** Whether `[offset, offset + length)` (cut at the end of the file) is cached. */
  covers(entry: CacheEntry, offset: number, length: number): boolean {
    return entry.map.covers(offset, Math.min(entry.version.size, offset + length));
  }

  /** Forget `key`'s bytes (`drop`: the content changed) or revalidate them first (`stale`). */
  invalidate(key: string, how: 'drop' | 'stale'): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    if (how === 'drop') void this.#kill(entry);
    else entry.stale = true;
  }

  /** Mark every entry whose key starts with `prefix` stale (anything there may have changed). */
  invalidateAll(prefix = ''): void {
    for (const entry of this.#entries.values()) if (entry.key.startsWith(prefix)) entry.stale = true;
  }

  /**
   * Read `[offset, offset + length)` from the cache, fetching what is missing first (and up
   * to `ahead` bytes past it, for sequential readers). Undefined when the bytes cannot be
   * cached now (no room, or the entry died meanwhile): the caller reads from the Source.
   */
  async read(opts: {
    entry: CacheEntry;
    offset: number;
    length: number;
    into?: Uint8Array | undefined;
    ahead?: number | undefined;
    fetch: Fetcher;
  }): Promise<Uint8Array | undefined> {
    const { entry, offset } = opts;
    const end = Math.min(entry.version.size, offset + opts.length);
    if (end <= offset) return new Uint8Array(0);
    if (entry.map.covers(offset, end)) this.#stats.hits++;
    else {
      this.#stats.misses++;
      if (!(await this.#ensure(entry, offset, end, opts.ahead ?? 0, opts.fetch))) return undefined;
    }
    const fd = entry.fd;
    if (entry.dead || fd === undefined) return undefined;
    this.#used(entry);
    this.#touched.add(entry.key);
    const n = end - offset;
    const buf = opts.into ?? Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n) {
      const { bytesRead } = await fd.read(buf, got, n - got, offset + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return got === n ? buf.subarray(0, n) : undefined;
  }

  /** The ranges to have present for a read of `[offset, end)`. */
  #wanted(entry: CacheEntry, offset: number, end: number, ahead: number): Range[] {
    const { size } = entry.version;
    const t = this.tuning;
    if (size <= t.fullFileMaxBytes) return [{ start: 0, end: size }];
    const want = [
      {
        start: alignDown(offset, t.blockBytes),
        end: Math.min(size, alignUp(Math.max(end, offset + ahead), t.blockBytes)),
      },
    ];
    if (entry.map.count <= t.maxIntervals) return want;
    // Promotion: too fragmented. Small enough files are fetched whole; otherwise the smallest
    // gaps are filled, within a budget, towards 90% of the limit.
    if (size <= t.promoteMaxBytes) return [{ start: 0, end: size }];
    let budget = 4 * t.maxFetchBytes;
    const fill: Range[] = [];
    for (const gap of entry.map.gapsBySize(size)) {
      if (entry.map.count - fill.length <= t.maxIntervals * 0.9 || gap.end - gap.start > budget) break;
      budget -= gap.end - gap.start;
      fill.push(gap);
    }
    return [...want, ...fill.sort((a, b) => a.start - b.start)];
  }

  /** Whether an entry is too fragmented to take more ranges (see `promoteMaxBytes`). */
  #overFragmented(entry: CacheEntry): boolean {
    return entry.version.size > this.tuning.promoteMaxBytes && entry.map.count > 2 * this.tuning.maxIntervals;
  }

  async #ensure(
    entry: CacheEntry,
    offset: number,
    end: number,
    ahead: number,
    fetch: Fetcher,
  ): Promise<boolean> {
    if (this.#overFragmented(entry)) return false;
    for (let round = 0; round < 3 && !entry.dead; round++) {
      const waits: Promise<void>[] = [];
      const mine: Range[] = [];
      for (const want of this.#wanted(entry, offset, end, ahead)) {
        for (const gap of entry.map.missing(want.start, want.end)) this.#split(entry, gap, waits, mine);
      }
      if (waits.length === 0 && mine.length === 0) break;
      const fills = mine.map((r) => this.#fill(entry, r, fetch));
      await Promise.allSettled(waits);
      const results = await Promise.allSettled(fills);
      for (const r of results) if (r.status === 'rejected') throw r.reason;
      if (results.some((r) => r.status === 'fulfilled' && !r.value)) return false;
    }
    return !entry.dead && entry.map.covers(offset, end);
  }

  /** Split a missing range into fetches already in flight (to wait for) and new ones. */
  #split(entry: CacheEntry, gap: Range, waits: Promise<void>[], mine: Range[]): void {
    let pos = gap.start;
    const flights = entry.inflight
      .filter((f) => f.end > gap.start && f.start < gap.end)
      .sort((a, b) => a.start - b.start);
    const add = (start: number, stop: number) => {
      for (let s = start; s < stop; s += this.tuning.maxFetchBytes) {
        mine.push({ start: s, end: Math.min(stop, s + this.tuning.maxFetchBytes) });
      }
    };
    for (const f of flights) {
      if (f.start > pos) add(pos, f.start);
      waits.push(f.done);
      pos = Math.max(pos, f.end);
    }
    if (pos < gap.end) add(pos, gap.end);
  }

  /** Fetch, verify and store one range; false when it could not be cached. */
  async #fill(entry: CacheEntry, r: Range, fetch: Fetcher): Promise<boolean> {
    let settle!: () => void;
    const flight = { start: r.start, end: r.end, done: new Promise<void>((res) => (settle = res)) };
    entry.inflight.push(flight);
    try {
      if (!(await this.#makeRoom(r.end - r.start, entry))) return false;
      let bytes: Uint8Array;
      try {
        bytes = await fetch(r.start, r.end);
      } catch (err) {
        this.#stats.rejected++;
        throw err;
      }
      this.#stats.fetches++;
      this.#stats.fetchedBytes += bytes.byteLength;
      if (bytes.byteLength !== r.end - r.start) {
        // The file is not the version the entry describes any more.
        void this.#kill(entry);
        return false;
      }
      const fd = entry.fd;
      if (entry.dead || fd === undefined) return false;
      let written = 0;
      while (written < bytes.byteLength) {
        written += (await fd.write(bytes, written, bytes.byteLength - written, r.start + written))
          .bytesWritten;
      }
      if (entry.dead) return false;
      // Served from now on; recorded in the index with the next batch, after a sync.
      this.#total += entry.map.add(r);
      this.#used(entry);
      entry.fills++;
      entry.unrecorded = true;
      this.#pending.add(entry);
      if (this.tuning.commitDelayMs <= 0) await this.#commit();
      else this.#commitTimer ??= setTimeout(() => void this.#commit(), this.tuning.commitDelayMs);
      return true;
    } finally {
      entry.inflight.splice(entry.inflight.indexOf(flight), 1);
      settle();
      if (idle(entry)) await closeFd(entry);
    }
  }

  /** Record the pending fills: one batch at a time, each in one transaction. */
  #commit(): Promise<void> {
    clearTimeout(this.#commitTimer);
    this.#commitTimer = undefined;
    this.#committing = this.#committing.then(() => this.#commitBatch());
    return this.#committing;
  }

  async #commitBatch(): Promise<void> {
    const batch = [...this.#pending].filter((e) => !e.dead);
    this.#pending.clear();
    // The rows as of now: every range in them has been written; the sync makes it durable.
    const rows = batch.map((entry) => ({ entry, row: rowOf(entry), fills: entry.fills }));
    const synced: typeof rows = [];
    for (const r of rows) {
      try {
        if (this.tuning.durable) await r.entry.fd?.datasync();
        synced.push(r);
      } catch (err) {
        // An entry evicted meanwhile had its file closed: nothing to record anyway.
        if (!r.entry.dead)
          this.#logger?.warn('cache: cannot sync a data file; its fills are not recorded', { error: err });
      }
    }
    const live = synced.filter((r) => !r.entry.dead);
    this.#index?.putMany(live.map((r) => r.row));
    for (const r of live) {
      r.entry.recordedBytes = r.row.bytes;
      if (r.entry.fills === r.fills) r.entry.unrecorded = false;
    }
    for (const r of rows) if (idle(r.entry)) await closeFd(r.entry);
  }

  /** Evict least recently used entries until `need` more bytes fit; false when they cannot. */
  async #makeRoom(need: number, current: CacheEntry): Promise<boolean> {
    const { maxBytes, minFreeBytes } = this.tuning;
    this.#evictWhile(current, () => this.#total + need > maxBytes);
    if (this.#total + need > maxBytes) return false;
    const free = await freeBytes(this.#dir);
    const freed = this.#evictWhile(current, (f) => free + f - need < minFreeBytes);
    if (free + freed - need < minFreeBytes) {
      this.#logger?.debug('cache: free-space floor reached, reading through', { need, free: free + freed });
      return false;
    }
    return true;
  }

  /**
   * Evict entries nobody uses, least recently used first, while `more(freed so far)` holds;
   * returns the bytes freed.
   */
  #evictWhile(current: CacheEntry, more: (freed: number) => boolean): number {
    let freed = 0;
    for (const e of this.#entries.values()) {
      if (!more(freed)) break;
      if (e === current || e.pins > 0 || e.inflight.length > 0 || e.map.count === 0) continue;
      freed += e.map.bytes;
      this.#evict(e);
    }
    return freed;
  }

  /** `entry` was just used: it goes to the most recently used end. */
  #used(entry: CacheEntry): void {
    entry.lastAccess = Date.now();
    if (this.#entries.get(entry.key) !== entry) return;
    this.#entries.delete(entry.key);
    this.#entries.set(entry.key, entry);
  }

  #evict(entry: CacheEntry): void {
    this.#stats.evictions++;
    void this.#kill(entry);
  }

  /**
   * Remove an entry from the cache and its bytes from disk (open readers keep their fd);
   * resolves once the data file is gone.
   */
  #kill(entry: CacheEntry): Promise<void> {
    if (entry.dead) return Promise.resolve();
    entry.dead = true;
    if (this.#entries.get(entry.key) === entry) this.#entries.delete(entry.key);
    this.#total -= entry.map.bytes;
    this.#index?.delete(entry.key);
    this.#touched.delete(entry.key);
    this.#pending.delete(entry);
    entry.unrecorded = false;
    if (idle(entry)) void closeFd(entry);
    return rm(join(this.#dir, 'data', entry.file), { force: true }).catch(() => undefined);
  }

  #flushTouches(): void {
    if (this.#touched.size === 0 || this.#index === undefined) return;
    const times: [string, number][] = [];
    for (const key of this.#touched) {
      const e = this.#entries.get(key);
      if (e !== undefined && e.map.count > 0) times.push([key, e.lastAccess]);
    }
    this.#touched.clear();
    this.#index.touch(times);
  }
}

function rowOf(entry: CacheEntry): IndexRow {
  return {
    key: entry.key,
    file: entry.file,
    ...entry.version,
    ranges: entry.map.toBlob(),
    bytes: entry.map.bytes,
    lastAccess: entry.lastAccess,
  };
}

/** Nobody reads, fills or still has to sync the entry's data file. */
function idle(entry: CacheEntry): boolean {
  return entry.pins <= 0 && entry.inflight.length === 0 && !entry.unrecorded;
}

async function closeFd(entry: CacheEntry): Promise<void> {
  const fd = entry.fd;
  entry.fd = undefined;
  await fd?.close().catch(() => undefined);
}

async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}
