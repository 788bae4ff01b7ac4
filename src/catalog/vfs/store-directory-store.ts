import type { CatalogStore } from '../store.ts';
import { CatalogStoreView } from './catalog-store-view.ts';
import type { VirtualDirectory } from './directory-doc.ts';
import type { DirectoryStore } from './directory-store.ts';
import { VirtualDirectories } from './virtual-directories.ts';

/** Document type of virtual directories in the catalog store (id: the virtual path). */
export const VDIR_DOC_TYPE = 'vdir';

/**
 * Virtual directory documents kept in the catalog store (its JSON documents), so the node,
 * the CLI and backups all see one set. `version` summarizes just these documents, so file
 * indexing does not look like a directory change.
 */
export class StoreDirectoryStore implements DirectoryStore {
  readonly #store: CatalogStore;

  constructor(opts: { store: CatalogStore }) {
    this.#store = opts.store;
  }

  all(): VirtualDirectory[] {
    return this.#store
      .listDocs<VirtualDirectory>(VDIR_DOC_TYPE)
      .map((d) => d.body)
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  get(path: string): VirtualDirectory | undefined {
    return this.#store.getDoc<VirtualDirectory>(VDIR_DOC_TYPE, path)?.body;
  }

  put(doc: VirtualDirectory): void {
    this.#store.putDoc({ type: VDIR_DOC_TYPE, id: doc.path, body: doc });
  }

  delete(paths: readonly string[]): void {
    this.#store.transaction(() => {
      for (const p of paths) this.#store.deleteDoc(VDIR_DOC_TYPE, p);
    });
  }

  version(): number {
    const row = this.#store
      .stmt('SELECT count(*) AS n, total(rev) AS revs, max(updated_at) AS at FROM documents WHERE type = ?')
      .get(VDIR_DOC_TYPE) as { n: number; revs: number; at: number | null };
    // Deleting one document and bumping another's revision could cancel out in a plain sum:
    // the latest write time breaks the tie.
    return row.n * 1_000_003 + row.revs * 7 + (row.at ?? 0);
  }
}

/**
 * Virtual directories over a node's catalog store: documents in the store, files from its
 * index. Open (the root directory is created if absent); close `vfs` when done.
 */
export function virtualDirectoriesOver(opts: { store: CatalogStore; ttlMs?: number | undefined }): {
  vfs: VirtualDirectories;
  catalog: CatalogStoreView;
} {
  const catalog = new CatalogStoreView({ store: opts.store });
  const vfs = new VirtualDirectories({
    store: new StoreDirectoryStore({ store: opts.store }),
    catalog,
    ttlMs: opts.ttlMs,
  });
  vfs.open();
  return { vfs, catalog };
}
