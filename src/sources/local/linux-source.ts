import type { SourceSpec } from '../registry.ts';
import type { Source } from '../source.ts';
import { LINUX_PLATFORM, requireLinuxHost } from './linux-platform.ts';
import { createLocalSource } from './local-source.ts';

/** Registry entry point of the `linux` kind (native change events, xattrs, OFD locks). */
export function createSource(spec: SourceSpec): Source {
  requireLinuxHost(spec.name);
  return createLocalSource(spec, LINUX_PLATFORM);
}
