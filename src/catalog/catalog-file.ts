import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { homePaths } from '../core/home.ts';
import { FsError } from '../core/fs-error.ts';
import { CatalogStore } from './store.ts';

/** Where a node keeps its catalog: `<home>/state/catalog.db`. */
export function catalogFileOf(homeRoot: string): string {
  return join(homePaths(homeRoot).stateDir, 'catalog.db');
}

/**
 * Open the catalog of a home from another process than the node (the CLI): read-only, or
 * read-write for label and restore commands (SQLite's WAL lets both run beside the node).
 * `create` makes the catalog if the node never ran (restore into a fresh home).
 */
export async function openHomeCatalog(opts: {
  home: string;
  write?: boolean | undefined;
  create?: boolean | undefined;
}): Promise<CatalogStore> {
  const file = catalogFileOf(opts.home);
  if (opts.create !== true && !existsSync(file))
    throw FsError.ENOENT('catalog', file, "no catalog in this home yet (start the node: 'tessera serve')");
  const store = new CatalogStore({ file, readonly: opts.write !== true && opts.create !== true });
  await store.open();
  return store;
}

/** Ask the node owning a catalog to crawl a mount (or every mount) again; it checks every few seconds. */
export function requestRescan(store: CatalogStore, opts: { mount?: string | undefined }): void {
  store.transaction(() => {
    store
      .stmt("INSERT OR REPLACE INTO meta (key, value) VALUES ('rescan', ?)")
      .run(JSON.stringify({ mount: opts.mount ?? null, at: Date.now() }));
  });
}

/** Take a pending rescan request (the node's catalog calls this on every check). */
export function takeRescan(store: CatalogStore): { mount: string | null } | undefined {
  // A plain read when there is none (a write would bump the generation every check); the
  // take reads what it deletes, so a request made since the read is the one taken, not lost.
  if (store.stmt("SELECT 1 FROM meta WHERE key = 'rescan'").get() === undefined) return undefined;
  const row = store.transaction(
    () =>
      store.stmt("DELETE FROM meta WHERE key = 'rescan' RETURNING value").get() as
        { value: string } | undefined,
  );
  return row && (JSON.parse(row.value) as { mount: string | null });
}
