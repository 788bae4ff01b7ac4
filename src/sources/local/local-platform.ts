import type { Caps } from '../source.ts';
import type { StatFields } from './local-attr.ts';
import type { KernelLocks } from './local-locks.ts';
import type { ChangeWatcher, WatchContext } from './watch-context.ts';

/** Writes straight to the device, skipping the page cache. */
export interface DirectWriter {
  /** What a direct write's offset must be a multiple of. */
  align: number;
  /**
   * Write all of `parts` at `offset` of the file open as `fd`. Rejects with `.syscall ===
   * 'open'` or code `EINVAL` when this file cannot be written that way (nothing, or only
   * bytes the caller writes again, was written), so the caller writes it the plain way.
   */
  write(fd: number, parts: Uint8Array[], offset: number): Promise<void>;
}

/**
 * A small file's create and its publishing close, one thread-pool job each (see the
 * tessera_linux addon's `createTemp` and `closePublish`, and `LocalFiles`).
 */
export interface CreatePublish {
  /**
   * In the directory at `dir`, which must be the inode `dev`/`ino` (else `moved`): `lstat`
   * `name` (`exists` if it does) or else create `tmpName` with exactly `mode` and answer its
   * descriptor and `fstat`. A failure after the open leaves neither the file nor the fd.
   */
  createTemp(
    opts: CreateTempRequest,
  ): Promise<
    { kind: 'created'; fd: number; st: StatFields } | { kind: 'exists'; st: StatFields } | { kind: 'moved' }
  >;
  /**
   * Write `data` at `offset` of `fd`, close `fd`, rename `from` to `to` (`noReplace`: EEXIST
   * rather than replace). A failed rename rejects with `.syscall === 'rename'`, `fd` closed;
   * any other failure (the write's) did nothing else and leaves `fd` open.
   */
  closePublish(opts: ClosePublishRequest): Promise<void>;
}

/** What {@link CreatePublish.createTemp} is asked. */
export interface CreateTempRequest {
  /** The directory's path as the id map has it. */
  dir: string;
  /** The inode that directory must be. */
  dev: bigint;
  ino: bigint;
  /** The name the file gets at close (checked to be free). */
  name: string;
  /** The temp name it is created under. */
  tmpName: string;
  mode: number;
  append: boolean;
}

/** What {@link CreatePublish.closePublish} is asked. */
export interface ClosePublishRequest {
  fd: number;
  /** The handle's last write, if the close carries one. */
  data: Uint8Array | undefined;
  offset: number;
  /** The temp file's path and the path it is published at. */
  from: string;
  to: string;
  noReplace: boolean;
}

/** Extended attributes by path, never following a final symlink. */
export interface XattrOps {
  get(path: string, name: string): Promise<Uint8Array>;
  set(path: string, name: string, value: Uint8Array, mode?: 'create' | 'replace'): Promise<void>;
  list(path: string): Promise<string[]>;
  remove(path: string, name: string): Promise<void>;
}

/**
 * What differs between the local source kinds (the seed's "separate selection points"):
 * which caps hold, and the host facilities used for xattrs, kernel lock mirroring and
 * change events. Everything else is the one shared local implementation.
 */
export interface LocalPlatform {
  kind: 'linux' | 'posix' | 'windows';
  caps: Pick<Caps, 'native_watch' | 'case_sensitive' | 'symlink' | 'xattr' | 'hardlink'>;
  xattr?: XattrOps | undefined;
  kernelLocks?: KernelLocks | undefined;
  /** Native change events; without it the polling scanner is used. */
  nativeWatcher?:
    | ((opts: { ctx: WatchContext; dirs: () => Iterable<number>; fallback: ChangeWatcher }) => ChangeWatcher)
    | undefined;
  /**
   * `lstat` many entries of the directory `dir` at once, handing each to `map` (undefined for
   * one that vanished; any other failure rejects). Without it, one `lstat` per entry.
   */
  statBatch?:
    | (<T>(
        dir: string,
        names: readonly string[],
        map: (st: StatFields, index: number) => T,
      ) => Promise<(T | undefined)[]>)
    | undefined;
  /**
   * Writes that bypass the page cache, for the bulk of big sequential writes (see
   * `WriteQueue`). Without it every write is a plain `pwritev`.
   */
  directWrite?: DirectWriter | undefined;
  /**
   * One atomic rename that fails `EEXIST` rather than replace its target (renameat2's
   * `RENAME_NOREPLACE`). Rejects `EINVAL`, `ENOSYS` or `ENOTSUP` where the filesystem cannot;
   * without it (or then) a file is hard-linked and its old name unlinked.
   */
  renameNoReplace?: ((from: string, to: string) => Promise<void>) | undefined;
  /** One job for a create and one for a close that publishes it; without it, several of each. */
  createPublish?: CreatePublish | undefined;
  /** Throws when this host cannot run the kind (checked at open). */
  requireHost?: (() => void) | undefined;
}

/** The portable platform: plain `node:fs`, no xattrs, in-process locks, polling scanner. */
export const POSIX_PLATFORM: LocalPlatform = {
  kind: 'posix',
  caps: { native_watch: false, case_sensitive: true, symlink: true, xattr: false, hardlink: true },
};
