import { FsError } from '../core/fs-error.ts';
import { mapLimit } from '../core/map-limit.ts';
import { childPath } from '../core/names.ts';
import type { NodeId } from '../core/ids.ts';
import { readdirAll } from './readdir-pages.ts';
import type { DirEntry, Source } from './source.ts';

/** A member {@link removeTree} could not remove. */
export interface RemoveFailure {
  /** Its namespace path. */
  path: string;
  dir: boolean;
  error: FsError;
}

/** Entries per listing page while emptying a directory. */
const PAGE = 10_000;
/**
 * Files of one directory removed at once unless the caller says otherwise: on a local export
 * 8 took a 5,000-file tree in 0.17–0.28 s against 0.65–0.73 s one by one, and over the wire
 * each removal is a round trip.
 */
export const REMOVE_CONCURRENCY = 8;

/**
 * Remove `name` in `parent` — a file, or a directory with everything below it, depth first.
 * A directory is listed, emptied and listed again until it is empty, so entries made
 * meanwhile go too. In each directory `concurrency` files go at once (8 by default: the REST
 * API's and WebDAV's recursive deletes), subdirectories one after the other, so the work in
 * flight stays bounded at any depth.
 *
 * Without `onFailure` the first failure stops the removal and is thrown (through `relabel`,
 * which names the member's op and path; default `FsError.from`). With it, every member that
 * fails is reported, the others are still removed, and the directories above a failure stay.
 * Resolves to whether everything is gone.
 */
export async function removeTree(opts: {
  source: Source;
  parent: NodeId;
  name: string;
  entry: Pick<DirEntry, 'id' | 'attr'>;
  /** Namespace path of `name`, for errors and failures. */
  path: string;
  /** Files of one directory removed at once (default {@link REMOVE_CONCURRENCY}). */
  concurrency?: number | undefined;
  onFailure?: ((failure: RemoveFailure) => void) | undefined;
  relabel?: ((err: unknown, op: string, path: string) => FsError) | undefined;
}): Promise<boolean> {
  const { source, parent, name, entry, path, onFailure } = opts;
  const relabel = opts.relabel ?? ((err: unknown, op: string, p: string) => FsError.from(err, op, p));
  const dir = entry.attr.kind === 'dir';
  /** Run one operation on this member; its failure is this member's (a child's is the child's). */
  const attempt = async <T>(
    op: string,
    fn: () => Promise<T>,
  ): Promise<{ ok: true; value: T } | { ok: false }> => {
    try {
      return { ok: true, value: await fn() };
    } catch (err) {
      const error = relabel(err, op, path);
      if (!onFailure) throw error;
      onFailure({ path, dir, error });
      return { ok: false };
    }
  };
  if (!dir) return (await attempt('unlink', () => source.unlink({ parent, name }))).ok;
  for (;;) {
    const listed = await attempt('readdir', () => readdirAll({ source, dir: entry.id, max: PAGE }));
    if (!listed.ok) return false;
    const children = listed.value;
    if (children.length === 0) break;
    const below = (child: DirEntry) =>
      removeTree({
        ...opts,
        parent: entry.id,
        name: child.name,
        entry: child,
        path: childPath(path, child.name),
      });
    const files = await mapLimit(
      children.filter((c) => c.attr.kind !== 'dir'),
      opts.concurrency ?? REMOVE_CONCURRENCY,
      below,
    );
    let clean = files.every(Boolean);
    for (const child of children) if (child.attr.kind === 'dir') clean = (await below(child)) && clean;
    // What failed is still there: listing again would only fail on it again.
    if (!clean) return false;
  }
  return (await attempt('rmdir', () => source.rmdir({ parent, name }))).ok;
}
