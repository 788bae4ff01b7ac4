/**
 * What a benchmark's client does through the Source API, the same for every Source measured
 * (a RemoteSource in its own process, a CachingSource, a local export): follow a path, read a
 * whole file as `dd` would, walk a tree as `find` would.
 */
import type { NodeId } from '../../src/core/ids.ts';
import { MAX_READDIR_PAGE } from '../../src/sources/dir-pager.ts';
import { readdirPages } from '../../src/sources/readdir-pages.ts';
import type { Source } from '../../src/sources/source.ts';

/** Directories a walk lists at once. */
export const WALK_CONCURRENCY = 16;

/** The id of `path` ('/'-separated, relative to `root`), one lookup per name. */
export async function lookupPath(opts: { source: Source; root: NodeId; path: string }): Promise<NodeId> {
  let id = opts.root;
  for (const name of opts.path.split('/').filter(Boolean))
    id = (await opts.source.lookup({ parent: id, name })).id;
  return id;
}

/**
 * Sequential read of a whole file: one read in flight per buffer, each of its buffer's size
 * and into it (as `dd` reuses its one buffer), bytes discarded. Returns the bytes read.
 */
export async function readSequential(opts: {
  source: Source;
  id: NodeId;
  /** One per read in flight, all of the same size (the read size). */
  buffers: readonly Buffer[];
}): Promise<number> {
  const { source } = opts;
  const chunk = opts.buffers[0]?.byteLength ?? 0;
  if (chunk === 0) throw new Error('readSequential needs at least one non-empty buffer');
  const { handle } = await source.openFile({ id: opts.id, flags: { read: true, write: false } });
  let next = 0;
  let total = 0;
  let eof = false;
  try {
    await Promise.all(
      opts.buffers.map(async (into) => {
        while (!eof) {
          const offset = next;
          next += chunk;
          const part = await source.read({ handle, offset, length: chunk, into });
          total += part.byteLength;
          if (part.byteLength < chunk) eof = true;
        }
      }),
    );
  } finally {
    await source.closeFile({ handle });
  }
  return total;
}

/**
 * Metadata walk: READDIRP (every entry with its attributes: the stat of every file) of every
 * directory under `top`, `concurrency` directories at once. Returns the non-directories seen.
 */
export async function walkTree(opts: { source: Source; top: NodeId; concurrency?: number }): Promise<number> {
  const { source } = opts;
  const concurrency = opts.concurrency ?? WALK_CONCURRENCY;
  let files = 0;
  const queue: NodeId[] = [opts.top];
  let active = 0;
  await new Promise<void>((resolve, reject) => {
    const pump = () => {
      if (queue.length === 0 && active === 0) return resolve();
      while (active < concurrency && queue.length > 0) {
        const dir = queue.shift()!;
        active++;
        void (async () => {
          for await (const entries of readdirPages({ source, dir, max: MAX_READDIR_PAGE })) {
            for (const e of entries) {
              if (e.attr.kind === 'dir') queue.push(e.id);
              else files++;
            }
          }
        })().then(() => {
          active--;
          pump();
        }, reject);
      }
    };
    pump();
  });
  return files;
}
