import type { VirtualDirectory } from './directory-doc.ts';

/**
 * Where virtual directory documents live. The catalog's SQLite store keeps them for a node
 * (`SqliteDirectoryStore`); `MemoryDirectoryStore` serves tests and previews. Writes are
 * whole documents; the service above checks paths, parents and revisions.
 */
export interface DirectoryStore {
  /** Every directory, sorted by path. */
  all(): VirtualDirectory[];
  get(path: string): VirtualDirectory | undefined;
  /** Insert or replace the document at `doc.path`. */
  put(doc: VirtualDirectory): void;
  /** Remove the documents at these paths (one transaction). */
  delete(paths: readonly string[]): void;
  /**
   * A number that changes whenever any document changes, also when another process changed
   * the store; caches compare it.
   */
  version(): number;
}

/** Directory documents in memory. */
export class MemoryDirectoryStore implements DirectoryStore {
  readonly #docs = new Map<string, VirtualDirectory>();
  #version = 0;

  all(): VirtualDirectory[] {
    return [...this.#docs.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }
  get(path: string): VirtualDirectory | undefined {
    return this.#docs.get(path);
  }
  put(doc: VirtualDirectory): void {
    this.#docs.set(doc.path, structuredClone(doc));
    this.#version++;
  }
  delete(paths: readonly string[]): void {
    for (const p of paths) this.#docs.delete(p);
    this.#version++;
  }
  version(): number {
    return this.#version;
  }
}
