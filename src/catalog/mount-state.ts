import type { CatalogStore } from './store.ts';

/** What the indexer of one mount is doing. */
export type MountIndexState = 'pending' | 'crawling' | 'watching' | 'storm' | 'offline' | 'unmounted';

/** Index state of one mount, as `tessera index status` shows it. */
export interface MountStatus {
  mount: string;
  node: string;
  export: string;
  sourceKind: string;
  state: MountIndexState;
  /** Documents of the mount now (files and other non-directories / directories). */
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
  files: number;
  dirs: number;
  seen: number;
  crawls: number;
  crawl_started_at: number | null;
  crawl_finished_at: number | null;
  last_crawl_ms: number | null;
  last_event_at: number | null;
  last_error: string | null;
  updated_at: number;
}

const COLUMNS: Record<keyof Omit<MountStatus, 'mount'>, keyof Row> = {
  node: 'node',
  export: 'export',
  sourceKind: 'source_kind',
  state: 'state',
  files: 'files',
  dirs: 'dirs',
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
  fields: Partial<Omit<MountStatus, 'mount' | 'updatedAt'>>,
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
  store.db
    .prepare(
      `INSERT INTO mounts (${insertCols.join(', ')}) VALUES (${insertCols.map(() => '?').join(', ')}) ` +
        `ON CONFLICT (mount) DO UPDATE SET ${cols.map((c) => `${c} = excluded.${c}`).join(', ')}`,
    )
    .run(mount, ...defaults.map(([, v]) => v), ...values);
}

/** Every mount's index state, by mount path. */
export function mountStates(store: CatalogStore): MountStatus[] {
  return (store.stmt('SELECT * FROM mounts ORDER BY mount').all() as Row[]).map((r) => ({
    mount: r.mount,
    node: r.node,
    export: r.export,
    sourceKind: r.source_kind,
    state: r.state,
    files: r.files,
    dirs: r.dirs,
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
