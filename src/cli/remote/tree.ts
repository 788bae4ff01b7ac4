import { mapLimit } from '../../core/map-limit.ts';
import { FsError } from '../../core/fs-error.ts';
import type { DirEntry } from '../../sources/source.ts';
import type { ProgressSink } from './progress.ts';
import { childPath } from '../../core/names.ts';
import { relabel, type RemoteFs, type Resolved } from './remote-fs.ts';
import { copyRemoteFile } from './transfer.ts';
import { removeTree as removeSourceTree } from '../../sources/remove-tree.ts';

/** Files copied or removed at once inside one directory. */
const TREE_CONCURRENCY = 4;

/** Run `fn` over `items`, `limit` at a time; the first failure stops new work and is thrown. */
export async function pool<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  await mapLimit(items, limit, (item) => fn(item));
}

/**
 * Visit the children of one directory: files and symlinks a few at a time, then
 * subdirectories one after the other (so the work in flight stays bounded at any depth).
 */
async function forEachChild(
  children: readonly DirEntry[],
  fn: (child: DirEntry) => Promise<void>,
): Promise<void> {
  await pool(
    children.filter((c) => c.attr.kind !== 'dir'),
    TREE_CONCURRENCY,
    fn,
  );
  for (const child of children) if (child.attr.kind === 'dir') await fn(child);
}

/**
 * Walk a tree depth first, parents before children, children in name order within each
 * page. Symlinks are reported, not followed. `visit` returning false prunes a directory.
 */
export async function walk(opts: {
  fs: RemoteFs;
  start: Resolved;
  maxDepth?: number | undefined;
  visit: (entry: Resolved & { name: string; depth: number }) => Promise<boolean | void>;
}): Promise<void> {
  const { fs } = opts;
  const rec = async (entry: Resolved & { name: string; depth: number }): Promise<void> => {
    const descend = (await opts.visit(entry)) !== false;
    if (!descend || entry.attr.kind !== 'dir') return;
    if (opts.maxDepth !== undefined && entry.depth >= opts.maxDepth) return;
    for await (const page of fs.pages(entry)) {
      page.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const child of page) {
        await rec({
          name: child.name,
          path: childPath(entry.path, child.name),
          id: child.id,
          attr: child.attr,
          depth: entry.depth + 1,
        });
      }
    }
  };
  await rec({ ...opts.start, name: opts.start.path.split('/').at(-1) ?? '', depth: 0 });
}

/**
 * Remove `name` (resolved as `entry`) from `parent`, a directory's contents first (see the
 * Sources' removeTree: listed again until empty; the first failure is thrown, naming its path).
 */
export async function removeTree(opts: {
  fs: RemoteFs;
  parent: Resolved;
  name: string;
  entry: Resolved;
}): Promise<void> {
  await removeSourceTree({
    source: opts.fs.source,
    parent: opts.parent.id,
    name: opts.name,
    entry: opts.entry,
    path: opts.entry.path,
    concurrency: TREE_CONCURRENCY,
    relabel,
  });
}

/**
 * Copy `src` (a file, a symlink, or a directory with everything in it) to `name` in
 * `dstDir`, through this client. Files are verified by HASH on both sides; symlinks are
 * copied as symlinks (same target text); hard links become separate files.
 */
export async function copyTree(opts: {
  fs: RemoteFs;
  op: string;
  src: Resolved;
  dstDir: Resolved;
  name: string;
  progress: ProgressSink | undefined;
}): Promise<void> {
  const { fs, src, dstDir, name } = opts;
  const source = fs.source;
  const dstPath = childPath(dstDir.path, name);
  switch (src.attr.kind) {
    case 'file':
      await copyRemoteFile({
        source,
        op: opts.op,
        file: src,
        dir: dstDir,
        name,
        path: dstPath,
        progress: opts.progress,
      });
      return;
    case 'symlink': {
      const target = await fs.readlink(src.id, src.path);
      try {
        await source.symlink({ parent: dstDir.id, name, target });
      } catch (err) {
        throw relabel(err, 'symlink', dstPath);
      }
      return;
    }
    case 'dir': {
      let made;
      try {
        made = await source.mkdir({ parent: dstDir.id, name, mode: src.attr.mode & 0o7777 });
      } catch (err) {
        throw relabel(err, 'mkdir', dstPath);
      }
      const dir: Resolved = { path: dstPath, id: made.id, attr: made.attr };
      for await (const page of fs.pages(src)) {
        await forEachChild(page, (child) =>
          copyTree({
            ...opts,
            src: { path: childPath(src.path, child.name), id: child.id, attr: child.attr },
            dstDir: dir,
            name: child.name,
          }),
        );
      }
      return;
    }
    default:
      throw FsError.EOPNOTSUPP(opts.op, src.path, `cannot copy a ${src.attr.kind}`);
  }
}
