import { FsError } from '../../core/fs-error.ts';
import { InotifyWatcher } from './inotify-watcher.ts';
import {
  lgetxattr,
  llistxattr,
  lremovexattr,
  lsetxattr,
  lstatBatch,
  nativeAvailable,
  nativeLoadError,
  statBatchAvailable,
  DIRECT_ALIGN,
  writeDirect,
  writeDirectAvailable,
  renameNoReplace,
  renameNoReplaceAvailable,
  createTemp,
  closePublish,
  createPublishAvailable,
  ofdGetLock,
  ofdSetLock,
  flock,
  flockAvailable,
} from './linux-native.ts';
import type { LocalPlatform } from './local-platform.ts';
import { isGone } from './fast-stat.ts';

/** Refuse to build a linux source where it cannot run (another OS, or the addon missing). */
export function requireLinuxHost(exportName: string): void {
  if (process.platform !== 'linux') {
    throw new FsError({
      code: 'ENOSYS',
      op: 'export',
      path: exportName,
      message: `UnsupportedSourceHost: the linux source runs only on Linux hosts; this host is ${process.platform}/${process.arch} (use kind "posix")`,
    });
  }
  if (!nativeAvailable) {
    throw FsError.ENOSYS(
      'export',
      exportName,
      `the linux source needs the tessera_linux native addon (${nativeLoadError?.message ?? 'not loaded'}); build it with \`npm ci\` or use kind "posix"`,
    );
  }
}

/**
 * Linux: the shared local implementation plus inotify change events, `user.*` xattrs
 * (l*xattr, never following a symlink), OFD locks and flocks mirroring Tessera's own, batched
 * listing stats, page-cache-bypassing bulk writes and one-job creates and publishing closes, all through the tessera_linux addon.
 */
export const LINUX_PLATFORM: LocalPlatform = {
  kind: 'linux',
  caps: { native_watch: true, case_sensitive: true, symlink: true, xattr: true, hardlink: true },
  xattr: { get: lgetxattr, set: lsetxattr, list: llistxattr, remove: lremovexattr },
  kernelLocks: { set: ofdSetLock, test: ofdGetLock, flock: flockAvailable ? flock : undefined },
  nativeWatcher: (opts) => new InotifyWatcher(opts),
  statBatch: statBatchAvailable
    ? (dir, names, map) => lstatBatch({ dir, names, map, gone: (code) => isGone({ code }) })
    : undefined,
  directWrite: writeDirectAvailable ? { align: DIRECT_ALIGN, write: writeDirect } : undefined,
  renameNoReplace: renameNoReplaceAvailable ? renameNoReplace : undefined,
  createPublish: createPublishAvailable ? { createTemp, closePublish } : undefined,
};
