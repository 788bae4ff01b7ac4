import { FsError } from '../core/fs-error.ts';
import type { Source } from './source.ts';

/** Source kinds a node can export. */
export const SOURCE_KINDS = ['memory', 'linux', 'posix', 'windows', 's3'] as const;
/** One source kind. */
export type SourceKind = (typeof SOURCE_KINDS)[number];

/** Everything needed to build the Source behind one export. */
export interface SourceSpec {
  kind: SourceKind;
  /** Export name. */
  name: string;
  /** Export index `k` for the ids' top 16 bits. */
  exportIndex: number;
  /** Local directory, or `s3://bucket/prefix`; ignored by `memory`. */
  path: string;
  ro: boolean;
  /** Directory where the adapter may persist its own state (id maps); none = in memory only. */
  stateDir?: string | undefined;
  /** Kind-specific options from `[export.options]`, validated by the adapter's schema. */
  options?: Record<string, unknown> | undefined;
}

/** A module that builds one kind of Source. */
export interface SourceModule {
  createSource(spec: SourceSpec): Source;
}

const loaders: Record<SourceKind, () => Promise<SourceModule>> = {
  memory: () => import('./memory/memory-source.ts'),
  linux: () => import('./local/linux-source.ts'),
  posix: () => import('./local/posix-source.ts'),
  windows: () => import('./local/windows-source.ts'),
  s3: () => import('./s3/s3-source.ts'),
};

/** Whether `kind` names a registered source kind. */
export function isSourceKind(kind: string): kind is SourceKind {
  return (SOURCE_KINDS as readonly string[]).includes(kind);
}

/**
 * Build (but not open) the Source for an export. Bad kinds and bad options reject with
 * `EINVAL` naming the problem; a kind that cannot run on this host rejects with the
 * adapter's own error (e.g. `UnsupportedSourceHost`).
 */
export async function createSource(spec: SourceSpec): Promise<Source> {
  if (!isSourceKind(spec.kind)) {
    throw FsError.EINVAL(
      'export',
      spec.name,
      `unknown source kind '${String(spec.kind)}' (one of ${SOURCE_KINDS.join(', ')})`,
    );
  }
  const mod = await loaders[spec.kind]();
  return mod.createSource(spec);
}
