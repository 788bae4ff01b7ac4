import type { Namespace } from '../../namespace/namespace.ts';
import type { CatalogStore } from '../store.ts';
import { virtualDirectoriesOver } from './store-directory-store.ts';
import type { VirtualDirectories } from './virtual-directories.ts';
import { VirtualSource } from './virtual-source.ts';

/**
 * The namespace slot of the virtual directories: fixed and far above export indices (which
 * count up from 1), so VFS ids held by clients stay valid across restarts.
 */
export const VFS_SLOT = 0xfff0;

/** Where the virtual directories appear in a node's namespace by default. */
export const DEFAULT_VFS_MOUNT = '/vfs';

/** Mounted virtual directories; `close` unmounts them and closes their Source. */
export interface MountedVfs extends AsyncDisposable {
  vfs: VirtualDirectories;
  source: VirtualSource;
  /** Namespace path they are mounted at. */
  path: string;
  close(): Promise<void>;
}

/**
 * Mount the virtual directories of a catalog into the namespace at `path` (read-only, in
 * {@link VFS_SLOT}). Files read through them come from the same namespace. The catalog
 * must not index this mount (its entries are the catalog's own files again).
 */
export async function mountVirtualDirectories(opts: {
  namespace: Namespace;
  store: CatalogStore;
  path?: string | undefined;
  slot?: number | undefined;
}): Promise<MountedVfs> {
  const path = opts.path ?? DEFAULT_VFS_MOUNT;
  const { vfs, catalog } = virtualDirectoriesOver({ store: opts.store });
  const source = new VirtualSource({ vfs, catalog, files: opts.namespace, name: 'vfs', exportIndex: 1 });
  await source.open();
  try {
    await opts.namespace.mount({ path, source, exportName: 'vfs', ro: true, slot: opts.slot ?? VFS_SLOT });
  } catch (err) {
    await source.close();
    vfs.close();
    throw err;
  }
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await opts.namespace.unmount({ path }).catch(() => undefined);
      await source.close();
      vfs.close();
    })();
    return closing;
  };
  return { vfs, source, path, close, [Symbol.asyncDispose]: close };
}
