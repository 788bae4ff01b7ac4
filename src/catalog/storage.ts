import type { StatFs } from '../sources/source.ts';
import type { CatalogStore } from './store.ts';

/** Utilization of one mount's export at one moment. */
export interface StorageSample {
  mount: string;
  node: string;
  export: string;
  /** ms since the epoch. */
  at: number;
  totalBytes: number;
  usedBytes: number;
  availBytes: number;
  files: number;
  ffree: number;
}

/** Samples older than this are dropped when a new one is recorded. */
const KEEP_MS = 400 * 24 * 3600 * 1000;

/** Record a `statfs` answer as a sample (sources without real numbers answer zeros: kept as such). */
export function recordStorage(
  store: CatalogStore,
  opts: { mount: string; node: string; export: string; statfs: StatFs; at?: number | undefined },
): StorageSample {
  const s = opts.statfs;
  const at = opts.at ?? Date.now();
  const sample: StorageSample = {
    mount: opts.mount,
    node: opts.node,
    export: opts.export,
    at,
    totalBytes: s.blocks * s.bsize,
    usedBytes: (s.blocks - s.bfree) * s.bsize,
    availBytes: s.bavail * s.bsize,
    files: s.files,
    ffree: s.ffree,
  };
  store.transaction(() => {
    store
      .stmt(
        'INSERT OR REPLACE INTO storage_samples (mount, at, node, export, total_bytes, used_bytes, avail_bytes, files, ffree) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
        sample.mount,
        at,
        sample.node,
        sample.export,
        sample.totalBytes,
        sample.usedBytes,
        sample.availBytes,
        s.files,
        s.ffree,
      );
    store.stmt('DELETE FROM storage_samples WHERE at < ?').run(at - KEEP_MS);
  });
  return sample;
}

interface Row {
  mount: string;
  node: string;
  export: string;
  at: number;
  total_bytes: number;
  used_bytes: number;
  avail_bytes: number;
  files: number;
  ffree: number;
}

const toSample = (r: Row): StorageSample => ({
  mount: r.mount,
  node: r.node,
  export: r.export,
  at: r.at,
  totalBytes: r.total_bytes,
  usedBytes: r.used_bytes,
  availBytes: r.avail_bytes,
  files: r.files,
  ffree: r.ffree,
});

/** The newest sample of every mount. */
export function storageLatest(store: CatalogStore): StorageSample[] {
  return (
    store
      .stmt(
        'SELECT s.* FROM storage_samples s JOIN (SELECT mount, max(at) AS at FROM storage_samples GROUP BY mount) m ' +
          'ON s.mount = m.mount AND s.at = m.at ORDER BY s.mount',
      )
      .all() as Row[]
  ).map(toSample);
}

/** Samples over time, oldest first, optionally of one mount and since a moment. */
export function storageHistory(
  store: CatalogStore,
  opts: { mount?: string | undefined; since?: number | undefined } = {},
): StorageSample[] {
  return (
    store
      .stmt('SELECT * FROM storage_samples WHERE (? IS NULL OR mount = ?) AND at >= ? ORDER BY mount, at')
      .all(opts.mount ?? null, opts.mount ?? null, opts.since ?? 0) as Row[]
  ).map(toSample);
}
