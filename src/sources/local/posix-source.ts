import type { SourceSpec } from '../registry.ts';
import type { Source } from '../source.ts';
import { createLocalSource } from './local-source.ts';
import { POSIX_PLATFORM } from './local-platform.ts';

/**
 * Registry entry point of the `posix` kind: the local source with portable `node:fs` only —
 * no xattrs (ENOSYS), in-process locks, invalidation by a polling scanner.
 */
export function createSource(spec: SourceSpec): Source {
  return createLocalSource(spec, POSIX_PLATFORM);
}
