import type { Source } from '../../src/sources/source.ts';

/**
 * Changes made to a Source's storage behind its back (another process on the host, another
 * S3 client…). Paths are '/'-separated and relative to the export root.
 */
export interface BehindTheBack {
  writeFile(path: string, data: Uint8Array | string): Promise<void>;
  mkdir(path: string): Promise<void>;
  remove(path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  /** Plant a symlink (absolute or relative target) — for the escape tests. Omit if impossible. */
  symlink?(path: string, target: string): Promise<void>;
}

/** What one run of the conformance suite needs from a Source under test. */
export interface ConformanceFixture {
  /** The Source, already open. The suite works in the export named `exportName`. */
  source: Source;
  /** Export to test (default: the first writable export). */
  exportName?: string;
  /**
   * A second Source over the same storage whose export is read-only (for EROFS), already
   * open. Omit when the Source has no read-only mode; the EROFS tests then skip.
   */
  readOnly?: () => Promise<Source>;
  /** Changes behind the Source's back, for invalidation and escape tests. */
  behind?: BehindTheBack;
  /**
   * Close the Source and open a new one over the same storage (ids must survive when
   * `caps.persistent_ids`). Returns the new Source, already open; the suite then uses it.
   */
  restart?: () => Promise<Source>;
  /**
   * Wait until changes made through `behind` are visible through the Source (for Sources
   * that learn of them asynchronously, e.g. through an index). Omit when they are at once.
   */
  settle?: () => Promise<void>;
  /** Free everything (close sources, remove temp dirs, stop servers). */
  cleanup(): Promise<void>;
}

/** Options of one conformance run. */
export interface ConformanceOptions {
  /** Name printed in the test titles, e.g. `linux`. */
  name: string;
  /** Builds a fresh fixture; called once per test group. */
  setup: () => Promise<ConformanceFixture>;
  /** How soon a change behind the back must be announced (ms). Default 1000 with native_watch, else 10000. */
  invalidationWithinMs?: number;
  /**
   * The Source is read-only by nature (virtual directories, snapshots): only the read-only
   * cases run, with content made through `fx.behind`.
   */
  readOnly?: boolean;
  /** Entries for the big readdirp paging test (default 10,000). */
  bigDirEntries?: number;
}
