import { FsError } from '../core/fs-error.ts';
import type { NodeId } from '../core/ids.ts';
import type { DirEntry, Source } from '../sources/source.ts';
import { ListingDigest, localOfId, msOfNs } from './listing-digest.ts';
import type { CatalogStore, CatalogWrite, ChildStat, FileSighting, WriteResult } from './store.ts';
import { readdirPages } from '../sources/readdir-pages.ts';
import { childPath } from '../core/names.ts';

/** Where a mount is and how its documents are identified. */
export interface MountTarget {
  /** Namespace path of the mount. */
  mount: string;
  node: string;
  export: string;
  persistentIds: boolean;
}

/** Options of {@link crawl}. */
export interface CrawlOptions {
  store: CatalogStore;
  /** The namespace (or any Source) the ids and paths belong to. */
  source: Source;
  target: MountTarget;
  /** The directory to crawl and its namespace path (the mount root for a full crawl). */
  dir: NodeId;
  path: string;
  /** Directories listed at once. */
  concurrency?: number | undefined;
  /** Documents written per transaction. */
  batch?: number | undefined;
  /** Called after each written batch with the entries seen so far. */
  onProgress?: ((seen: number) => void) | undefined;
  /** Stop early (the crawl rejects with ECANCELED). */
  signal?: AbortSignal | undefined;
}

/** What a crawl did. */
export interface CrawlResult extends WriteResult {
  seen: number;
  dirs: number;
}

/** Entries per listing page: big pages let the linux source stat a page in one batch. */
const PAGE = 10_000;
/**
 * Documents written per transaction. Each commit rewrites every index page its rows touched
 * (the file id index is keyed by a hash, so most of its pages): 5,000 rather than 1,000
 * cut a first crawl's SQLite CPU by ~20 %, at ~25 ms a transaction.
 */
const DEFAULT_BATCH = 5000;

/** The sighting of a directory entry at `path`. */
export function sightingOf(
  target: MountTarget,
  path: string,
  e: { id: NodeId; attr: DirEntry['attr'] },
): FileSighting {
  return {
    mount: target.mount,
    local: localOfId(e.id),
    node: target.node,
    export: target.export,
    path,
    kind: e.attr.kind,
    size: e.attr.size,
    mtimeMs: msOfNs(e.attr.mtimeNs),
    persistentIds: target.persistentIds,
    exportPath: path.slice(target.mount.length) || '/',
  };
}

/**
 * Crawl a directory subtree into the store: list every directory (several at once), compare
 * each entry with its document (stat fast-path: same Source id, kind, size and mtime → no
 * write), write new and changed documents in batches, and at the end remove the documents
 * of entries no longer listed. Removals wait for the end so a file moved from a directory
 * listed early to one listed late is one move, not a removal and an insertion.
 *
 * Every entry is listed with its attributes (a stat) on every crawl: a file rewritten in
 * place while nobody watched must be seen. Two shortcuts keep the database out of the way:
 * - a mount without documents (its first crawl) inserts every entry without looking for its
 *   document ({@link CatalogWrite} `insert`);
 * - each directory's listing is folded into a {@link ListingDigest}; the digests are stored
 *   with the crawl's last batch, and a later crawl whose listing of a directory gives the
 *   stored digest knows its documents are current without reading them (any write to a
 *   document of the directory drops its digest). Otherwise the directory's documents are
 *   read and compared entry by entry.
 */
export async function crawl(opts: CrawlOptions): Promise<CrawlResult> {
  const { store, source, target } = opts;
  const batchSize = opts.batch ?? DEFAULT_BATCH;
  const result: CrawlResult = {
    inserted: 0,
    updated: 0,
    moved: 0,
    removed: 0,
    unchanged: 0,
    seen: 0,
    dirs: 0,
  };
  const fresh = !store.hasDocsOf(target.mount);
  let pending: CatalogWrite[] = [];
  const removals: CatalogWrite[] = [];
  const digests = new Map<string, string>();
  const flush = (ops: CatalogWrite[], withDigests?: ReadonlyMap<string, string>): void => {
    const r = store.write(ops, { digests: withDigests });
    for (const k of ['inserted', 'updated', 'moved', 'removed', 'unchanged'] as const) result[k] += r[k];
  };
  const queue: { id: NodeId; path: string }[] = [{ id: opts.dir, path: opts.path }];
  /** Queue the writes that make the documents of `entries` of `dir` match them. */
  const compare = (dir: string, entries: readonly DirEntry[], known: Map<string, ChildStat>): void => {
    for (const e of entries) {
      const doc = known.get(e.name);
      if (doc !== undefined) {
        known.delete(e.name);
        if (
          doc.local === localOfId(e.id) &&
          doc.kind === e.attr.kind &&
          doc.size === e.attr.size &&
          doc.mtimeMs === msOfNs(e.attr.mtimeNs)
        ) {
          result.unchanged++;
          continue;
        }
      }
      pending.push({ op: 'upsert', file: sightingOf(target, childPath(dir, e.name), e) });
    }
  };
  const listDir = async (dir: { id: NodeId; path: string }): Promise<void> => {
    const stopped = () => FsError.ECANCELED('crawl', dir.path, 'the crawl was stopped');
    if (opts.signal?.aborted) throw stopped();
    const stored = fresh ? undefined : store.dirDigest(dir.path);
    // Without a stored digest the documents are compared page by page; with one, the pages
    // wait for the digest of the whole listing (compared only if it differs).
    let known = fresh || stored !== undefined ? undefined : store.childStatsOf(dir.path);
    const held: DirEntry[][] = [];
    const digest = new ListingDigest();
    for await (const entries of readdirPages({ source, dir: dir.id, max: PAGE })) {
      result.seen += entries.length;
      for (const e of entries) {
        const { attr } = e;
        digest.add(e.name, e.id, attr.kind, attr.size, attr.mtimeNs);
        if (attr.kind === 'dir') queue.push({ id: e.id, path: childPath(dir.path, e.name) });
        if (fresh) pending.push({ op: 'insert', file: sightingOf(target, childPath(dir.path, e.name), e) });
      }
      if (known !== undefined) compare(dir.path, entries, known);
      else if (!fresh) held.push(entries);
      if (pending.length >= batchSize) {
        const ops = pending;
        pending = [];
        flush(ops);
        opts.onProgress?.(result.seen);
      }
      if (opts.signal?.aborted) throw stopped();
    }
    const value = digest.value();
    if (stored !== undefined) {
      if (value === stored) result.unchanged += digest.size;
      else {
        known = store.childStatsOf(dir.path);
        for (const entries of held) compare(dir.path, entries, known);
      }
    }
    if (known !== undefined)
      for (const doc of known.values()) removals.push({ op: 'remove', path: doc.path, local: doc.local });
    digests.set(dir.path, value);
    result.dirs++;
  };
  const release = store.deferCheckpoints();
  // Built after the last writes: settling duplicate file ids drops the digests.
  const buildIndexes = fresh ? store.deferIndexes() : () => undefined;
  const failure = await listAll({ concurrency: opts.concurrency, queue, listDir });
  release();
  try {
    // Cut short: keep what was seen, the next crawl goes on from there. Done: the documents
    // now match every listing, and the digests go with the last writes.
    if (failure !== undefined) flush(pending);
    else flush([...pending, ...removals], digests);
  } finally {
    buildIndexes();
  }
  if (failure !== undefined) throw FsError.from(failure, 'crawl', opts.path);
  opts.onProgress?.(result.seen);
  return result;
}

/**
 * Run `listDir` on every directory of `queue` (which grows as it runs), `concurrency` at once.
 * Resolves to the first failure that stopped it (undefined: every directory was listed).
 */
async function listAll(opts: {
  concurrency: number | undefined;
  queue: { id: NodeId; path: string }[];
  listDir: (dir: { id: NodeId; path: string }) => Promise<void>;
}): Promise<unknown> {
  const { queue, listDir } = opts;
  const workers = Math.max(1, opts.concurrency ?? 8);
  let active = 0;
  let failure: unknown;
  await new Promise<void>((done) => {
    const pump = (): void => {
      while (failure === undefined && active < workers && queue.length > 0) {
        const dir = queue.shift()!;
        active++;
        listDir(dir)
          .catch((err: unknown) => {
            // A directory that vanished while crawling: its parent's listing accounts for it.
            if (FsError.is(err, 'ENOENT') || FsError.is(err, 'ESTALE') || FsError.is(err, 'ENOTDIR')) return;
            failure ??= err;
          })
          .finally(() => {
            active--;
            pump();
          });
      }
      if (active === 0) done();
    };
    pump();
  });
  return failure;
}
