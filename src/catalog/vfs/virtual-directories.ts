import { FsError } from '../../core/fs-error.ts';
import type { CatalogChange, CatalogView } from './catalog-view.ts';
import {
  checkVirtualPath,
  isAncestorOrSelf,
  parentPath,
  parseDirectoryInput,
  type VirtualDirectory,
} from './directory-doc.ts';
import type { DirectoryStore } from './directory-store.ts';
import { evaluateDirectory, type VEntry, type VTree } from './evaluate.ts';

/** Default lifetime of a cached evaluation (seed 001: 5 s). */
export const READDIR_CACHE_TTL_MS = 5000;

/** Where a virtual path leads: a virtual directory document and a path inside its tree. */
export interface Located {
  /** The deepest virtual directory at or above the path. */
  dir: VirtualDirectory;
  /** Tree key inside it ('' for the directory itself). */
  rel: string;
}

/**
 * What changed, for those who push invalidations: these directory documents (and, for a
 * file change, the names it may have added, changed or removed); undefined: anything.
 */
export type DirectoriesChange =
  { paths: string[]; entries?: { dir: string; name: string }[] | undefined } | undefined;

/** One entry of a listing, as `list`/`preview` return it. */
export interface ListedEntry {
  name: string;
  kind: 'file' | 'dir';
  /** For files: the real file's node, export, path, size, mtime and the mount that placed it. */
  file?: { node: string; export: string; path: string; nsPath: string; size: number; mtimeMs: number };
  mount?: string;
  virtual?: boolean;
}

interface Cached {
  tree: VTree;
  catalogVersion: number;
  expires: number;
}

/**
 * Virtual directories (DESIGN §5.1, seed 001 "Rule Evaluation Engine"): directory documents
 * with mounts and step pipelines, evaluated on demand against the catalog. Plain functions
 * for the CLI and the REST API (`list`, `get`, `create`, `update`, `remove`, `preview`), and
 * `readdir`/`locate` for the VirtualSource. Evaluations are cached per directory for a short
 * TTL and dropped at once when a directory document or the catalog changes.
 */
export class VirtualDirectories {
  readonly #store: DirectoryStore;
  readonly #catalog: CatalogView;
  readonly #ttlMs: number;
  readonly #clock: () => number;
  readonly #cache = new Map<string, Cached>();
  readonly #listeners = new Set<(change: DirectoriesChange) => void>();
  #unsubscribe: (() => void) | undefined;
  #storeVersion = -1;

  constructor(opts: {
    store: DirectoryStore;
    catalog: CatalogView;
    /** Lifetime of a cached evaluation (default 5 s; 0 disables the cache). */
    ttlMs?: number | undefined;
    /** Clock in ms since the epoch (tests pin it: `age` steps read it). */
    clock?: () => number;
  }) {
    this.#store = opts.store;
    this.#catalog = opts.catalog;
    this.#ttlMs = opts.ttlMs ?? READDIR_CACHE_TTL_MS;
    this.#clock = opts.clock ?? Date.now;
  }

  /** Follow catalog changes. Idempotent. */
  open(): void {
    this.#unsubscribe ??= this.#catalog.onChange((c) => this.#catalogChanged(c));
  }

  /**
   * The document at `path`. The root always exists: until it is first changed it is the
   * empty system directory, not stored (so a fresh catalog holds no configuration and can
   * take a restore).
   */
  #get(path: string): VirtualDirectory | undefined {
    const doc = this.#store.get(path);
    if (doc || path !== '/') return doc;
    return {
      path: '/',
      system: true,
      enforce_steps_on_children: false,
      mounts: [],
      rev: 0,
      created_ms: 0,
      updated_ms: 0,
    };
  }

  #all(): VirtualDirectory[] {
    const all = this.#store.all();
    return all[0]?.path === '/' ? all : [this.#get('/')!, ...all];
  }

  /** Stop following the catalog. Idempotent. */
  close(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#cache.clear();
  }

  /** Hear which directories changed; returns the unsubscribe function. */
  onChange(listener: (change: DirectoriesChange) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Every directory document, by path. */
  list(): VirtualDirectory[] {
    return this.#all();
  }

  /** One directory document; ENOENT when there is none at `path`. */
  get(opts: { path: string }): VirtualDirectory {
    const path = checkVirtualPath('vfs get', opts.path);
    const doc = this.#get(path);
    if (!doc) throw FsError.ENOENT('vfs get', path, 'no virtual directory there');
    return doc;
  }

  /** Create a directory under an existing one. EEXIST if taken, ENOENT without a parent. */
  create(opts: { path: string; body?: unknown }): VirtualDirectory {
    const op = 'vfs create';
    const path = checkVirtualPath(op, opts.path);
    const input = parseDirectoryInput(op, path, opts.body ?? {});
    if (this.#get(path)) throw FsError.EEXIST(op, path, 'a virtual directory is already there');
    const parent = parentPath(path);
    if (parent === undefined || !this.#get(parent))
      throw FsError.ENOENT(op, parent ?? path, 'the parent virtual directory does not exist');
    const now = this.#clock();
    const doc: VirtualDirectory = { path, system: false, ...input, rev: 1, created_ms: now, updated_ms: now };
    this.#store.put(doc);
    this.#changed([parent, path]);
    return doc;
  }

  /**
   * Replace a directory's settings (mounts, enforcement). With `rev`, refuse (EAGAIN) if
   * the document changed since that revision, so concurrent editors do not overwrite each
   * other unknowingly.
   */
  update(opts: { path: string; body: unknown; rev?: number | undefined }): VirtualDirectory {
    const op = 'vfs update';
    const path = checkVirtualPath(op, opts.path);
    const old = this.#get(path);
    if (!old) throw FsError.ENOENT(op, path, 'no virtual directory there');
    if (opts.rev !== undefined && opts.rev !== old.rev)
      throw FsError.EAGAIN(op, path, `the directory changed (revision ${old.rev}, not ${opts.rev})`);
    const input = parseDirectoryInput(op, path, opts.body);
    const now = this.#clock();
    const created = old.rev === 0 ? now : old.created_ms;
    const doc: VirtualDirectory = {
      ...old,
      ...input,
      rev: old.rev + 1,
      created_ms: created,
      updated_ms: now,
    };
    this.#store.put(doc);
    this.#changed(
      this.#store
        .all()
        .filter((d) => isAncestorOrSelf(path, d.path))
        .map((d) => d.path),
    );
    return doc;
  }

  /**
   * Delete a directory (with `recursive`, its descendants too; else ENOTEMPTY when it has
   * child directories). System directories cannot be deleted (EPERM). The real files are
   * never touched. Returns the deleted paths.
   */
  remove(opts: { path: string; recursive?: boolean | undefined }): string[] {
    const op = 'vfs remove';
    const path = checkVirtualPath(op, opts.path);
    const doc = this.#get(path);
    if (!doc) throw FsError.ENOENT(op, path, 'no virtual directory there');
    const doomed = this.#all().filter((d) => isAncestorOrSelf(path, d.path));
    const system = doomed.find((d) => d.system);
    if (system) throw FsError.EPERM(op, system.path, 'system directories cannot be deleted');
    if (doomed.length > 1 && opts.recursive !== true)
      throw FsError.ENOTEMPTY(op, path, 'it has child virtual directories (delete them or use recursive)');
    const paths = doomed.map((d) => d.path);
    this.#store.delete(paths);
    this.#changed([parentPath(path) ?? '/', ...paths]);
    return paths;
  }

  /**
   * Evaluate a draft configuration for `path` without saving it: the entries it would list
   * at its top level, and how many files in all. `path` need not exist, but its parent's
   * inherited steps apply as if it did.
   */
  preview(opts: { path: string; body: unknown }): { entries: ListedEntry[]; files: number } {
    const op = 'vfs preview';
    const path = checkVirtualPath(op, opts.path);
    const input = parseDirectoryInput(op, path, opts.body);
    const tree = evaluateDirectory({
      dir: { path, mounts: input.mounts },
      ancestors: this.#ancestors(path),
      children: this.#childNames(path),
      catalog: this.#catalog,
      now: this.#clock(),
    });
    let files = 0;
    for (const level of tree.values()) for (const e of level.values()) if (e.kind === 'file') files++;
    return { entries: listed(tree.get('') ?? new Map<string, VEntry>()), files };
  }

  /** Where a virtual path leads (ENOENT when nowhere). */
  locate(opts: { path: string }): Located {
    const path = checkVirtualPath('vfs', opts.path);
    let dirPath = path;
    let dir = this.#get(dirPath);
    while (!dir) {
      dirPath = parentPath(dirPath) ?? '/';
      dir = this.#get(dirPath);
      if (dirPath === '/' && !dir) throw FsError.ENOENT('vfs', path, 'no root virtual directory');
    }
    const rel = dirPath === path ? '' : path.slice(dirPath === '/' ? 1 : dirPath.length + 1);
    if (rel !== '' && !this.tree(dir.path).has(rel)) {
      throw FsError.ENOENT('vfs', path, 'no such directory in the virtual directory');
    }
    return { dir, rel };
  }

  /** The evaluated tree of a directory document (cached). */
  tree(path: string): VTree {
    this.#checkStore();
    const now = this.#clock();
    const catalogVersion = this.#catalog.version();
    const hit = this.#cache.get(path);
    if (hit && hit.expires > now && hit.catalogVersion === catalogVersion) return hit.tree;
    const dir = this.#get(path);
    if (!dir) throw FsError.ENOENT('vfs', path, 'no virtual directory there');
    const tree = evaluateDirectory({
      dir,
      ancestors: this.#ancestors(path),
      children: this.#childNames(path),
      catalog: this.#catalog,
      now,
    });
    if (this.#ttlMs > 0) this.#cache.set(path, { tree, catalogVersion, expires: now + this.#ttlMs });
    return tree;
  }

  /** The entries of a directory at a virtual path (a document or a directory inside one). */
  entries(opts: { path: string }): Map<string, VEntry> {
    const { dir, rel } = this.locate(opts);
    return this.tree(dir.path).get(rel) ?? new Map<string, VEntry>();
  }

  /** A listing for people and APIs: entries of the directory at `path`, sorted by name. */
  readdir(opts: { path: string }): ListedEntry[] {
    return listed(this.entries(opts));
  }

  /** Drop every cached evaluation. */
  invalidate(): void {
    this.#cache.clear();
  }

  #ancestors(path: string): VirtualDirectory[] {
    const out: VirtualDirectory[] = [];
    for (let p = parentPath(path); p !== undefined; p = parentPath(p)) {
      const doc = this.#get(p);
      if (doc) out.unshift(doc);
    }
    return out;
  }

  #childNames(path: string): string[] {
    return this.#store
      .all()
      .filter((d) => parentPath(d.path) === path)
      .map((d) => d.path.slice(d.path.lastIndexOf('/') + 1));
  }

  /** A change made by another process (through the shared store) drops the cache too. */
  #checkStore(): void {
    const v = this.#store.version();
    if (v !== this.#storeVersion) {
      if (this.#storeVersion !== -1) this.#emit(undefined);
      this.#storeVersion = v;
      this.#cache.clear();
    }
  }

  #changed(paths: string[]): void {
    this.#cache.clear();
    this.#storeVersion = this.#store.version();
    this.#emit({ paths: [...new Set(paths)] });
  }

  #catalogChanged(change: CatalogChange): void {
    this.#cache.clear();
    if (change === undefined) return this.#emit(undefined);
    const paths = new Set<string>();
    const entries: { dir: string; name: string }[] = [];
    for (const d of this.#all()) {
      for (const m of d.mounts) {
        if (m.source.export !== change.export) continue;
        if (m.source.node !== undefined && m.source.node !== change.node) continue;
        if (!isAncestorOrSelf(m.source.path, change.path)) continue;
        paths.add(d.path);
        const name = change.path.slice(change.path.lastIndexOf('/') + 1);
        const strip = m.source_prefix ?? m.source.path;
        const below = change.path.slice(strip === '/' ? 0 : strip.length);
        const relDir = m.strategy === 'flatten' ? '' : below.slice(0, below.lastIndexOf('/'));
        entries.push({ dir: d.path === '/' ? relDir || '/' : `${d.path}${relDir}`, name });
      }
    }
    if (paths.size > 0) this.#emit({ paths: [...paths], entries });
  }

  #emit(change: DirectoriesChange): void {
    for (const l of this.#listeners) {
      try {
        l(change);
      } catch {
        // A listener's failure is its own.
      }
    }
  }
}

function listed(entries: Map<string, VEntry>): ListedEntry[] {
  return [...entries]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, e]) =>
      e.kind === 'dir'
        ? { name, kind: 'dir', virtual: e.virtual }
        : {
            name,
            kind: 'file',
            mount: e.mount,
            file: {
              node: e.file.nodeName ?? e.file.node,
              export: e.file.export,
              path: e.file.path,
              nsPath: e.file.nsPath,
              size: e.file.size,
              mtimeMs: e.file.mtimeMs,
            },
          },
    );
}
