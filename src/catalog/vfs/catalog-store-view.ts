import type { CatalogStore } from '../store.ts';
import type { CatalogChange, CatalogView, FileDoc, FilesQuery } from './catalog-view.ts';

/** Document type under which plugins record annotations: id `<fileId>:<plugin>`, body the data. */
export const ANNOTATION_DOC_TYPE = 'annotation';

/** How often listeners are told about catalog writes made by anyone (ms). */
const POLL_MS = 500;

/** Columns of the covering path index (the inode is the rowid): a scan never reads the table. */
const COLUMNS = 'inode, file_id, node, export, path, size, mtime_ms, mime';

/** The columns of `files` the VFS reads. */
interface Row {
  inode: number;
  file_id: string;
  node: string;
  export: string;
  path: string;
  size: number;
  mtime_ms: number;
  mime: string | null;
}

interface MountRow {
  mount: string;
  node: string;
  export: string;
}

/**
 * The catalog store as virtual directories read it. A mount source (node, export, path in
 * the export) becomes an indexed range scan of namespace paths under each namespace mount of
 * that export (the store's `mounts` table says where each export is mounted); a label step
 * reads the set of inodes carrying the label once per catalog generation; changes are found
 * by polling the store's generation, which every writing process bumps.
 */
export class CatalogStoreView implements CatalogView {
  readonly #store: CatalogStore;
  readonly #listeners = new Set<(change: CatalogChange) => void>();
  #timer: NodeJS.Timeout | undefined;
  #seen = -1;
  #labelGen = -1;
  readonly #labelSets = new Map<string, Set<number>>();
  #mountsGen = -1;
  #mounts: MountRow[] = [];

  constructor(opts: { store: CatalogStore }) {
    this.#store = opts.store;
  }

  *filesUnder(query: FilesQuery): Iterable<FileDoc> {
    for (const m of this.#mountsOf(query)) {
      const base = m.mount === '/' ? '' : m.mount;
      const exact = query.prefix === '/' ? base || '/' : `${base}${query.prefix}`;
      const under = exact === '/' ? '/' : `${exact}/`;
      // Only the columns the VFS reads, all at once: rows are the cost of a readdir.
      const rows = this.#store
        .stmt(
          `SELECT ${COLUMNS} FROM files WHERE path >= ? AND path < ? AND export = ? AND node = ? AND kind = 'file' ORDER BY path`,
        )
        .all(exact, `${under.slice(0, -1)}0`, m.export, m.node) as Row[];
      // The range also holds siblings like '/a/b-c' (between '/a/b' and '/a/b/'): skip them.
      for (const r of rows) if (r.path === exact || r.path.startsWith(under)) yield this.#row(r, m.mount);
    }
  }

  fileByInode(inode: bigint): FileDoc | undefined {
    if (inode > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
    const r = this.#store
      .stmt(`SELECT ${COLUMNS}, mount FROM files WHERE inode = ? AND kind = 'file'`)
      .get(Number(inode)) as (Row & { mount: string }) | undefined;
    return r && this.#row(r, r.mount);
  }

  hasLabel(file: FileDoc, label: string): boolean {
    const gen = this.#store.generation();
    if (gen !== this.#labelGen) {
      this.#labelSets.clear();
      this.#labelGen = gen;
    }
    let set = this.#labelSets.get(label);
    if (!set) {
      const rows = this.#store.stmt('SELECT inode FROM file_labels WHERE label = ?').all(label) as {
        inode: number;
      }[];
      set = new Set(rows.map((r) => r.inode));
      this.#labelSets.set(label, set);
    }
    return set.has(Number(file.inode));
  }

  annotationOf(file: FileDoc, plugin: string): unknown {
    return this.#store.getDoc(ANNOTATION_DOC_TYPE, `${file.fileId}:${plugin}`)?.body;
  }

  version(): number {
    return this.#store.generation();
  }

  onChange(listener: (change: CatalogChange) => void): () => void {
    this.#listeners.add(listener);
    if (!this.#timer) {
      this.#seen = this.#store.generation();
      this.#timer = setInterval(() => this.#poll(), POLL_MS);
      this.#timer.unref();
    }
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) {
        clearInterval(this.#timer);
        this.#timer = undefined;
      }
    };
  }

  #poll(): void {
    let gen: number;
    try {
      gen = this.#store.generation();
    } catch {
      return; // Closed meanwhile.
    }
    if (gen === this.#seen) return;
    this.#seen = gen;
    for (const l of this.#listeners) l(undefined);
  }

  /** The namespace mounts of the export asked for (on the node asked for, if any). */
  #mountsOf(query: FilesQuery): MountRow[] {
    const gen = this.#store.generation();
    if (gen !== this.#mountsGen) {
      this.#mounts = this.#store
        .stmt("SELECT mount, node, export FROM mounts WHERE export != ''")
        .all() as MountRow[];
      this.#mountsGen = gen;
    }
    return this.#mounts.filter(
      (m) => m.export === query.export && (query.node === undefined || m.node === query.node),
    );
  }

  #row(r: Row, mount: string): FileDoc {
    return {
      fileId: r.file_id,
      inode: BigInt(r.inode),
      node: r.node,
      export: r.export,
      path: mount === '/' ? r.path : r.path.slice(mount.length) || '/',
      nsPath: r.path,
      size: r.size,
      mtimeMs: r.mtime_ms,
      mime: r.mime ?? undefined,
    };
  }
}
