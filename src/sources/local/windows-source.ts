import { release, type as osType } from 'node:os';
import { FsError } from '../../core/fs-error.ts';
import type { SourceSpec } from '../registry.ts';
import type { Source } from '../source.ts';
import { createLocalSource } from './local-source.ts';
import { POSIX_PLATFORM, type LocalPlatform } from './local-platform.ts';

/** Windows: the portable backend with Windows semantics (case-insensitive names, no symlinks, no xattrs). */
export const WINDOWS_PLATFORM: LocalPlatform = {
  ...POSIX_PLATFORM,
  kind: 'windows',
  caps: { ...POSIX_PLATFORM.caps, case_sensitive: false, symlink: false, xattr: false },
};

/**
 * Registry entry point of the `windows` kind. On any other host it fails fast with
 * `UnsupportedSourceHost` (code ENOSYS) saying which host this is.
 */
export function createSource(spec: SourceSpec): Source {
  const platform = process.platform;
  if (platform !== 'win32') {
    throw new FsError({
      code: 'ENOSYS',
      op: 'export',
      path: spec.name,
      message: `UnsupportedSourceHost: the windows source runs only on Windows hosts; this host is ${platform} (${osType()} ${release()}, ${process.arch}); export '${spec.name}' cannot be served here`,
    });
  }
  return createLocalSource(spec, WINDOWS_PLATFORM);
}
