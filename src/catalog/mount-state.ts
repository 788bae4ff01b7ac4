import type { CatalogStore } from './store.ts';

/** What the indexer of one mount is doing. */
export type MountIndexState =
  | 'pending'
  | 'crawling'
  | 'watching'
  | 'storm'
  | 'offline'
  | 'unmounted'
  /** The node's catalog is closed (the node stopped). */
  | 'stopped';

/** Index state of one mount, as `tessera index status` shows it. */
export interface MountStatus {
  mount: string;
  node: string;
  export: string;
  sourceKind: string;
  state: MountIndexState;
  /** Documents of the mount now (files and other non-directories / directories), counted when read. */
  files: number;
  dirs: number;
  /** Entries seen by the crawl in progress (or the last one). */
  seen: number;
  /** Completed crawls since the catalog was created. */
  crawls: number;
  crawlStartedAt: number | null;
  crawlFinishedAt: number | null;
  /** Duration of the last completed crawl. */
  lastCrawlMs: number | null;
  lastEventAt: number | null;
  lastError: string | null;
  updatedAt: number;
}

interface Row {
  mount: string;
  node: string;
  export: string;
  source_kind: string;
  state: MountIndexState;
  seen: number;
  crawls: number;
  crawl_started_at: number | null;
  crawl_finished_at: number | null;
  last_crawl_ms: number | null;
  last_event_at: number | null;
  last_error: string | null;
  updated_at: number;
}

/** The fields kept in the row (document counts are not: they are counted from `files`). */
type StoredFields = Omit<MountStatus, 'mount' | 'files' | 'dirs'>;

const COLUMNS: Record<keyof StoredFields, keyof Row> = {
  node: 'node',
  export: 'export',
  sourceKind: 'source_kind',
  state: 'state',
  seen: 'seen',
  crawls: 'crawls',
  crawlStartedAt: 'crawl_started_at',
  crawlFinishedAt: 'crawl_finished_at',
  lastCrawlMs: 'last_crawl_ms',
  lastEventAt: 'last_event_at',
  lastError: 'last_error',
  updatedAt: 'updated_at',
};

/** Create or change the state row of a mount (only the given fields change). */
export function updateMountState(
  store: CatalogStore,
  mount: string,
  fields: Partial<Omit<StoredFields, 'updatedAt'>>,
): void {
  const entries = Object.entries({ ...fields, updatedAt: Date.now() }).filter(([, v]) => v !== undefined);
  const cols = entries.map(([k]) => COLUMNS[k as keyof typeof COLUMNS]);
  const values = entries.map(([, v]) => v as unknown);
  // Columns without a default get one on the first insert; an update changes only `cols`.
  const required: [string, string][] = [
    ['node', ''],
    ['export', ''],
    ['source_kind', ''],
    ['state', 'pending'],
  ];
  const defaults = required.filter(([c]) => !cols.includes(c as keyof Row));
  const insertCols = ['mount', ...defaults.map(([c]) => c), ...cols];
  store
    .stmt(
      `INSERT INTO mounts (${insertCols.join(', ')}) VALUES (${insertCols.map(() => '?').join(', ')}) ` +
        `ON CONFLICT (mount) DO UPDATE SET ${cols.map((c) => `${c} = excluded.${c}`).join(', ')}`,
    )
    .run(mount, ...defaults.map(([, v]) => v), ...values);
}

/** Every mount's index state, by mount path, with its document counts computed now. */
export function mountStates(store: CatalogStore): MountStatus[] {
  const counts = new Map(
    (
      store
        .stmt(
          "SELECT mount, sum(kind != 'dir') AS files, sum(kind = 'dir') AS dirs FROM files GROUP BY mount",
        )
        .all() as { mount: string; files: number; dirs: number }[]
    ).map((r) => [r.mount, r]),
  );
  return (store.stmt('SELECT * FROM mounts ORDER BY mount').all() as Row[]).map((r) => ({
    mount: r.mount,
    node: r.node,
    export: r.export,
    sourceKind: r.source_kind,
    state: r.state,
    files: counts.get(r.mount)?.files ?? 0,
    dirs: counts.get(r.mount)?.dirs ?? 0,
    seen: r.seen,
    crawls: r.crawls,
    crawlStartedAt: r.crawl_started_at,
    crawlFinishedAt: r.crawl_finished_at,
    lastCrawlMs: r.last_crawl_ms,
    lastEventAt: r.last_event_at,
    lastError: r.last_error,
    updatedAt: r.updated_at,
  }));
}
