/**
 * What virtual directories need from the catalog: file documents under a mount source, the
 * labels and annotations of a file, and word of changes. The catalog store implements it
 * (see `catalog-store-view.ts`); tests use `MemoryCatalogView`.
 */

/** A file document as the VFS sees it. */
export interface FileDoc {
  /** Stable id of the file in the catalog. */
  fileId: string;
  /**
   * Stable inode: the same file has the same inode in every virtual directory and across
   * restarts. Positive; below 2^47 it is used as the file's id in the VFS as it is.
   */
  inode: bigint;
  /** Id of the node the file lives on. */
  node: string;
  /** Name of that node, when known (steps and sources accept either). */
  nodeName?: string | undefined;
  /** Export the file belongs to. */
  export: string;
  /** Path within the export: absolute, '/'-separated. */
  path: string;
  /** Namespace path of the real file on this node (reads go there). */
  nsPath: string;
  size: number;
  /** Modification time, milliseconds since the epoch. */
  mtimeMs: number;
  mime?: string | undefined;
}

/** Which files a mount source asks for. */
export interface FilesQuery {
  /** Node id or name; absent: any node. */
  node?: string | undefined;
  export: string;
  /** Canonical path prefix within the export ('/' for all of it). */
  prefix: string;
}

/** A change the catalog saw: one file (by where it is), or anything (undefined). */
export type CatalogChange = { node: string; export: string; path: string } | undefined;

/** The catalog, as virtual directories read it. */
export interface CatalogView {
  /** Active (not deleted) files of `export` on `node` whose path is `prefix` or below it. */
  filesUnder(query: FilesQuery): Iterable<FileDoc>;
  /** The file with this inode, if it is still in the catalog. */
  fileByInode(inode: bigint): FileDoc | undefined;
  /** Whether the file carries the label (assigned or from a rule: its effective set). */
  hasLabel(file: FileDoc, label: string): boolean;
  /** The data a plugin recorded about the file, if any. */
  annotationOf(file: FileDoc, plugin: string): unknown;
  /** A number that changes whenever the catalog changed, also from another process. */
  version(): number;
  /** Subscribe to changes; returns the unsubscribe function. */
  onChange(listener: (change: CatalogChange) => void): () => void;
}
