import { nsToMs } from '../core/attr.ts';
import { FsError } from '../core/fs-error.ts';
import { localPartOf, type NodeId } from '../core/ids.ts';
import type { DirEntry, Source } from '../sources/source.ts';
import type { CatalogStore, CatalogWrite, FileSighting, WriteResult } from './store.ts';
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

/** The sighting of a directory entry at `path`. */
export function sightingOf(
  target: MountTarget,
  path: string,
  e: { id: NodeId; attr: DirEntry['attr'] },
): FileSighting {
  return {
    mount: target.mount,
    local: Number(localPartOf(e.id)),
    node: target.node,
    export: target.export,
    path,
    kind: e.attr.kind,
    size: e.attr.size,
    mtimeMs: nsToMs(e.attr.mtimeNs),
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
 */
export async function crawl(opts: CrawlOptions): Promise<CrawlResult> {
  const { store, source, target } = opts;
  const batchSize = opts.batch ?? 1000;
  const result: CrawlResult = {
    inserted: 0,
    updated: 0,
    moved: 0,
    removed: 0,
    unchanged: 0,
    seen: 0,
    dirs: 0,
  };
  let pending: CatalogWrite[] = [];
  const removals: CatalogWrite[] = [];
  const flush = (ops: CatalogWrite[]): void => {
    const r = store.write(ops);
    for (const k of ['inserted', 'updated', 'moved', 'removed', 'unchanged'] as const) result[k] += r[k];
  };
  const queue: { id: NodeId; path: string }[] = [{ id: opts.dir, path: opts.path }];
  const listDir = async (dir: { id: NodeId; path: string }): Promise<void> => {
    const known = store.childStatsOf(dir.path);
    const stopped = () => FsError.ECANCELED('crawl', dir.path, 'the crawl was stopped');
    if (opts.signal?.aborted) throw stopped();
    for await (const entries of readdirPages({ source, dir: dir.id, max: PAGE })) {
      for (const e of entries) {
        result.seen++;
        const path = childPath(dir.path, e.name);
        const doc = known.get(e.name);
        known.delete(e.name);
        if (e.attr.kind === 'dir') queue.push({ id: e.id, path });
        const s = sightingOf(target, path, e);
        if (
          doc &&
          doc.local === s.local &&
          doc.kind === s.kind &&
          doc.size === s.size &&
          doc.mtimeMs === s.mtimeMs
        ) {
          result.unchanged++;
          continue;
        }
        pending.push({ op: 'upsert', file: s });
      }
      if (pending.length >= batchSize) {
        const ops = pending;
        pending = [];
        flush(ops);
        opts.onProgress?.(result.seen);
      }
      if (opts.signal?.aborted) throw stopped();
    }
    for (const doc of known.values()) removals.push({ op: 'remove', path: doc.path, local: doc.local });
    result.dirs++;
  };
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
  if (failure !== undefined) {
    if (pending.length > 0) flush(pending); // Keep what was seen; the next crawl goes on from there.
    throw FsError.from(failure, 'crawl', opts.path);
  }
  flush([...pending, ...removals]);
  opts.onProgress?.(result.seen);
  return result;
}
