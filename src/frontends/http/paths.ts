import { z } from 'zod';
import type { Attr } from '../../core/attr.ts';
import { BoundedMap } from '../../core/bounded-map.ts';
import { FsError } from '../../core/fs-error.ts';
import { rootId, type NodeId } from '../../core/ids.ts';
import { joinPath, splitPath } from '../../core/names.ts';
import { etagOf } from '../http-conditions.ts';
import type { Entry, Source } from '../../sources/source.ts';

/** Ids remembered at most by a {@link PathIndex}. */
const INDEX_MAX = 100_000;

/**
 * Which namespace path an id was last seen at. Invalidations carry ids, not paths; the API
 * remembers the path of every id it resolves or lists (and of directories it walks for event
 * subscribers), so events can name paths. Bounded: the least recently seen ids are forgotten.
 */
export class PathIndex {
  readonly #paths = new BoundedMap<NodeId, string>({ max: INDEX_MAX });

  remember(id: NodeId, path: string): void {
    this.#paths.set(id, path);
  }

  /** The path last seen for `id` (the namespace root is always `/`, never forgotten). */
  pathOf(id: NodeId): string | undefined {
    return id === rootId(0) ? '/' : this.#paths.get(id);
  }
}

/** A namespace path as the API accepts it: absolute, no `..`, normalized by {@link canonicalPath}. */
export const apiPath = z
  .string()
  .min(1)
  .max(4096)
  .regex(/^\//, 'must be an absolute path (start with /)')
  .describe('absolute namespace path, e.g. /files/notes.txt');

/** The canonical form of a path (`EINVAL` for `..`, NUL and the like). */
export function canonicalPath(op: string, path: string): { path: string; segments: string[] } {
  const segments = splitPath(op, path);
  return { path: joinPath(segments), segments };
}

/** Resolve a namespace path to its entry through `source` (a principal's view). */
export async function resolvePath(opts: {
  source: Source;
  path: string;
  op: string;
  index?: PathIndex | undefined;
}): Promise<Entry & { path: string }> {
  const { segments, path } = canonicalPath(opts.op, opts.path);
  let cur: Entry = { id: rootId(0), attr: await opts.source.getattr({ id: rootId(0) }) };
  for (let i = 0; i < segments.length; i++) {
    cur = await opts.source.lookup({ parent: cur.id, name: segments[i]! });
    opts.index?.remember(cur.id, joinPath(segments.slice(0, i + 1)));
  }
  return { ...cur, path };
}

/** The parent directory of a path and the last name (`EINVAL` for `/`). */
export async function resolveParent(opts: {
  source: Source;
  path: string;
  op: string;
  index?: PathIndex | undefined;
}): Promise<{ parent: Entry & { path: string }; name: string; path: string }> {
  const { segments, path } = canonicalPath(opts.op, opts.path);
  const name = segments.at(-1);
  if (name === undefined) throw FsError.EINVAL(opts.op, '/', 'the namespace root has no parent');
  const parent = await resolvePath({ ...opts, path: joinPath(segments.slice(0, -1)) });
  return { parent, name, path };
}

/** Schema of a file's description in API answers. */
export const fileInfoSchema = z.object({
  path: z.string(),
  name: z.string(),
  id: z.string().describe('namespace node id (decimal)'),
  kind: z.enum(['file', 'dir', 'symlink', 'fifo', 'socket', 'chardev', 'blockdev']),
  size: z.number(),
  mode: z.string().describe('permission bits, octal'),
  mtime: z.string().describe('ISO 8601'),
  mtime_ns: z.string().describe('nanoseconds since the epoch (decimal)'),
  ctime: z.string(),
  etag: z.string(),
});

/** A file's description in API answers. */
export type FileInfo = z.infer<typeof fileInfoSchema>;

function isoOf(ns: bigint): string {
  return new Date(Number(ns / 1_000_000n)).toISOString();
}

/** Describe an entry for an API answer. */
export function fileInfo(opts: { path: string; id: NodeId; attr: Attr }): FileInfo {
  const { path, id, attr } = opts;
  return {
    path,
    name: path === '/' ? '/' : path.slice(path.lastIndexOf('/') + 1),
    id: id.toString(),
    kind: attr.kind,
    size: attr.size,
    mode: attr.mode.toString(8).padStart(4, '0'),
    mtime: isoOf(attr.mtimeNs),
    mtime_ns: attr.mtimeNs.toString(),
    ctime: isoOf(attr.ctimeNs),
    etag: etagOf({ id, attr }),
  };
}
