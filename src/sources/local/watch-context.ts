import type { BigIntStats } from 'node:fs';

/** What a change watcher (inotify or the polling scanner) needs from its local source. */
export interface WatchContext {
  /** Absolute path of a directory the id map knows, or undefined when it cannot be placed. */
  dirPath(dir: number): string | undefined;
  /** The local id an inode already has, if any (never allocates). */
  localOf(st: BigIntStats): number | undefined;
  /** `name` in `dir` now holds `st` (seen by the watcher): update the id map if the object is known. */
  relearn(dir: number, name: string, st: BigIntStats): void;
  /** The entry `name` of `dir` appeared, vanished or was replaced. */
  entry(dir: number, name: string): void;
  /** The content or attributes of `local` changed. */
  changed(local: number, kind: 'data' | 'attr'): void;
  /** Anything under `dir` may have changed. */
  tree(dir: number): void;
}

/** A source of change events that runs only while someone watches. */
export interface ChangeWatcher {
  /** Whether it is watching now. */
  readonly running: boolean;
  start(): void;
  stop(): void;
  /** A directory of interest appeared (watch it too, if running). */
  add(dir: number): void;
}
