import type { CatalogChange, CatalogView, FileDoc, FilesQuery } from './catalog-view.ts';

/**
 * A catalog held in memory: file documents indexed by (export, node) with paths kept
 * sorted for prefix scans, labels and annotations per file id. For tests, previews over
 * ad-hoc documents, and benchmarks of the evaluator alone.
 */
export class MemoryCatalogView implements CatalogView {
  readonly #byInode = new Map<bigint, FileDoc>();
  readonly #byKey = new Map<string, FileDoc>();
  /** export → sorted docs (by path), rebuilt lazily after changes. */
  readonly #sorted = new Map<string, FileDoc[]>();
  readonly #labels = new Map<string, Set<string>>();
  readonly #annotations = new Map<string, Map<string, unknown>>();
  readonly #listeners = new Set<(change: CatalogChange) => void>();
  #version = 0;

  /** Add or replace a file (keyed by node, export and path). */
  put(doc: FileDoc): void {
    const key = keyOf(doc);
    const old = this.#byKey.get(key);
    if (old) this.#byInode.delete(old.inode);
    this.#byKey.set(key, doc);
    this.#byInode.set(doc.inode, doc);
    this.#sorted.delete(doc.export);
    this.#emit({ node: doc.node, export: doc.export, path: doc.path });
  }

  /** Remove a file; true when it was there. */
  remove(where: { node: string; export: string; path: string }): boolean {
    const key = keyOf(where);
    const old = this.#byKey.get(key);
    if (!old) return false;
    this.#byKey.delete(key);
    this.#byInode.delete(old.inode);
    this.#sorted.delete(where.export);
    this.#emit(where);
    return true;
  }

  setLabels(fileId: string, labels: Iterable<string>): void {
    this.#labels.set(fileId, new Set(labels));
    this.#emit(undefined);
  }

  setAnnotation(fileId: string, plugin: string, data: unknown): void {
    let forFile = this.#annotations.get(fileId);
    if (!forFile) this.#annotations.set(fileId, (forFile = new Map<string, unknown>()));
    forFile.set(plugin, data);
    this.#emit(undefined);
  }

  /** Every document. */
  all(): FileDoc[] {
    return [...this.#byKey.values()];
  }

  *filesUnder(query: FilesQuery): Iterable<FileDoc> {
    let docs = this.#sorted.get(query.export);
    if (!docs) {
      docs = [...this.#byKey.values()]
        .filter((d) => d.export === query.export)
        .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
      this.#sorted.set(query.export, docs);
    }
    const dirPrefix = query.prefix === '/' ? '/' : `${query.prefix}/`;
    let lo = 0;
    let hi = docs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (docs[mid]!.path < query.prefix) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < docs.length; i++) {
      const d = docs[i]!;
      if (d.path !== query.prefix && !d.path.startsWith(dirPrefix)) {
        if (d.path > dirPrefix) break;
        continue;
      }
      if (query.node !== undefined && d.node !== query.node && d.nodeName !== query.node) continue;
      yield d;
    }
  }

  fileByInode(inode: bigint): FileDoc | undefined {
    return this.#byInode.get(inode);
  }

  hasLabel(file: FileDoc, label: string): boolean {
    return this.#labels.get(file.fileId)?.has(label) ?? false;
  }

  version(): number {
    return this.#version;
  }

  annotationOf(file: FileDoc, plugin: string): unknown {
    return this.#annotations.get(file.fileId)?.get(plugin);
  }

  onChange(listener: (change: CatalogChange) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  #emit(change: CatalogChange): void {
    this.#version++;
    for (const l of this.#listeners) l(change);
  }
}

function keyOf(d: { node: string; export: string; path: string }): string {
  return `${d.node}\0${d.export}\0${d.path}`;
}
