import { z } from 'zod';
import { labelSchema } from '../../catalog/labels.ts';
import type { CatalogStore } from '../../catalog/store.ts';
import type { VirtualDirectories } from '../../catalog/vfs/virtual-directories.ts';
import { FsError } from '../../core/fs-error.ts';
import { isPrefix } from '../../namespace/mount-table.ts';
import type { ApiHost } from './api-host.ts';
import type { ApiState } from './api-state.ts';
import type { Principal } from './route.ts';

/**
 * What the catalog routes (search, labels, virtual directories) may show a caller: the
 * namespace paths of the mounts its credential covers. The catalog indexes every mount, so
 * each answer is cut down to these; a file outside them does not exist for the caller.
 */
export interface CatalogScope {
  /** Namespace paths of the mounts the caller may see (`/docs`). */
  visible: ReadonlySet<string>;
  /** Whether the credential covers every export (`exports = *`), present and future. */
  everything: boolean;
  /** Whether `path` lies in a mount the caller may see. */
  sees(path: string): boolean;
}

/** Refuse (`EACCES`) a caller without the `show` capability. */
export function checkShow(principal: Principal, op: string): void {
  const { grant } = principal;
  if (!grant.caps.show) throw FsError.EACCES(op, undefined, `credential ${grant.principal} may not show`);
}

/** The caller's {@link CatalogScope}; `EACCES` without the `show` capability. */
export async function catalogScope(principal: Principal, op: string): Promise<CatalogScope> {
  checkShow(principal, op);
  const { grant, view } = principal;
  const mounts = (await view.listExports()).map((e) => e.name).filter((n) => n !== '/');
  return {
    visible: new Set(mounts),
    everything: grant.exports === '*',
    // Asked once per listed entry: walks the array rather than spreading the set each time.
    sees: (path) => mounts.some((m) => isPrefix(m, path)),
  };
}

/** The catalog, or `ENOSYS` when it is off. */
export function catalogOf(state: ApiState, op: string): NonNullable<ApiHost['catalog']> {
  const catalog = state.host.catalog;
  if (catalog === undefined)
    throw FsError.ENOSYS(op, undefined, 'the catalog is off ([catalog] enabled = false)');
  return catalog;
}

/** The catalog's store, or `ENOSYS` when the catalog is off. */
export function catalogStore(state: ApiState, op: string): CatalogStore {
  return catalogOf(state, op).store;
}

/** The virtual directories, or `ENOSYS` when they are off. */
export function virtualDirectories(state: ApiState, op: string): VirtualDirectories {
  const vfs = state.host.vfs;
  if (vfs === undefined) {
    throw FsError.ENOSYS(
      op,
      undefined,
      'virtual directories are off ([catalog] enabled = false or vfs = "")',
    );
  }
  return vfs;
}

/** A query parameter holding comma-separated labels, each checked (`label 'x y': …`). */
export function labelListParam(description: string) {
  return z
    .string()
    .max(4096)
    .describe(description)
    .transform((text, ctx) => {
      const list = text === '' ? [] : text.split(',').map((l) => l.trim());
      for (const label of list) {
        const checked = labelSchema.safeParse(label);
        if (!checked.success)
          ctx.addIssue({ code: 'custom', message: `label '${label}': ${checked.error.issues[0]?.message}` });
      }
      return list;
    });
}
