import type { CatalogWrite } from '../../src/catalog/store.ts';

/** The node every seeded document belongs to. */
export const SEED_NODE = 'bench';

/**
 * The write the indexer makes for one file of export `e<exportIndex>` (mounted at
 * `/e<exportIndex>` on node {@link SEED_NODE}), so a benchmark can seed a catalog of any size
 * without crawling: `path` is the path in the export, `local` the file's id in its source.
 */
export function seedFileWrite(opts: {
  exportIndex: number;
  local: number;
  path: string;
  size: number;
  mtimeMs: number;
}): CatalogWrite {
  const mount = `/e${opts.exportIndex}`;
  return {
    op: 'upsert',
    file: {
      mount,
      local: opts.local,
      node: SEED_NODE,
      export: `e${opts.exportIndex}`,
      path: `${mount}${opts.path}`,
      kind: 'file',
      size: opts.size,
      mtimeMs: opts.mtimeMs,
      persistentIds: true,
      exportPath: opts.path,
    },
  };
}
