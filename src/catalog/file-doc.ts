import { hash } from 'node:crypto';
import type { FileKind } from '../core/attr.ts';

/**
 * A file document: one per file (and per directory) the catalog has seen in the namespace.
 *
 * Identity: `fileId` is derived from the data's node, export and the Source's stable id of
 * the file (or its path within the export when the Source's ids do not survive a restart), so
 * re-indexing the same file gives the same `fileId`; `inode` is handed out once (counting up,
 * never reused) and kept in the store, so it survives restarts and is the same wherever the
 * file is shown (two virtual directories listing one file show one inode). Both stay when
 * the file is renamed.
 */
export interface FileDoc {
  /** Deterministic id, `f` + 16 hex digits. */
  fileId: string;
  /** Stable inode number, ≥ {@link FIRST_INODE}. */
  inode: number;
  /** Name of the node that holds the data (this node for its own exports). */
  node: string;
  /** Export of that node the file lives in. */
  export: string;
  /** Namespace path of the mount the file was indexed through, e.g. `/docs`. */
  mount: string;
  /** The Source's id of the file within its export (local part of the namespace id). */
  local: number;
  /** Absolute namespace path, e.g. `/docs/reports/q1.pdf`. */
  path: string;
  /** Namespace path of the directory holding it. */
  parent: string;
  name: string;
  kind: FileKind;
  size: number;
  /** Modification time, milliseconds since the epoch (fractional: nanoseconds kept). */
  mtimeMs: number;
  /** MIME type guessed from the name; null for directories and unknown extensions. */
  mime: string | null;
  /** When the catalog last wrote this document (ms since the epoch). */
  indexedAt: number;
}

/** Inodes below this are reserved (0 invalid, 1 a root, 2–999 for synthetic entries). */
export const FIRST_INODE = 1000;

/** What identifies a file to {@link fileIdOf}. */
export interface FileIdentity {
  node: string;
  export: string;
  /** `id:<local id>` when the Source's ids persist, else `path:<path within the export>`. */
  key: string;
}

/** The deterministic file id of a file. */
export function fileIdOf(identity: FileIdentity): string {
  // One-shot hash: a Hash object per file cost a crawl ~1.5 µs a new document.
  const h = hash('sha256', `${identity.node}\0${identity.export}\0${identity.key}`, 'hex');
  return `f${h.slice(0, 16)}`;
}
