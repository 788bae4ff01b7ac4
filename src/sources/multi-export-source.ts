import { exportIndexOf, type NodeId } from '../core/ids.ts';
import { BaseSource } from './base-source.ts';
import type { Caps, ExportInfo } from './source.ts';

const NO_CAPS: Caps = {
  native_watch: false,
  case_sensitive: true,
  symlink: false,
  xattr: false,
  lock: false,
  hardlink: false,
  max_file_size: 0,
  writable: false,
  posix_attrs: false,
  atomic_write: false,
  persistent_ids: false,
};

/**
 * The capabilities of a Source serving several exports: a capability any export has (so an
 * op is not refused for the exports that support it; each export still answers for itself),
 * and the largest file size.
 */
export function combinedCaps(exports: readonly ExportInfo[]): Caps {
  const caps = { ...NO_CAPS };
  for (const e of exports) {
    for (const key of [
      'native_watch',
      'symlink',
      'xattr',
      'lock',
      'hardlink',
      'writable',
      'posix_attrs',
      'atomic_write',
      'persistent_ids',
    ] as const) {
      caps[key] ||= e.caps[key];
    }
    caps.max_file_size = Math.max(caps.max_file_size, e.caps.max_file_size);
  }
  return caps;
}

/**
 * A Source serving the exports another one describes (a node over the wire, a cache in front
 * of one): caps, export list and read-only checks come from `knownExports`, which the
 * subclass keeps up to date.
 */
export abstract class MultiExportSource extends BaseSource {
  /** The exports as last listed by what this Source stands for. */
  protected knownExports: ExportInfo[] = [];

  get caps(): Caps {
    return combinedCaps(this.knownExports);
  }

  protected exportsInfo(): ExportInfo[] {
    return this.knownExports.map((e) => ({ ...e, caps: { ...e.caps } }));
  }

  protected readOnlyFor(id: NodeId): boolean {
    const exp = this.knownExports.find((e) => exportIndexOf(e.root) === exportIndexOf(id));
    return exp === undefined ? false : exp.ro || !exp.caps.writable;
  }
}
