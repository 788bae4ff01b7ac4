import type { NodeId } from '../../src/core/ids.ts';
import type { Source } from '../../src/sources/source.ts';
import type { BehindTheBack } from './fixture.ts';

/** Resolve a '/'-separated path under `root` to its parent id and last name. */
async function parentOf(src: Source, root: NodeId, path: string): Promise<{ parent: NodeId; name: string }> {
  const parts = path.split('/').filter(Boolean);
  const name = parts.pop();
  if (name === undefined) throw new Error(`empty path '${path}'`);
  let parent = root;
  for (const part of parts) parent = (await src.lookup({ parent, name: part })).id;
  return { parent, name };
}

/**
 * Changes "behind the back" of a Source made through another Source over the same storage
 * (e.g. a second MemorySource on the same store): the Source under test did not make them.
 */
export function behindThrough(other: Source, root: NodeId): BehindTheBack {
  return {
    async writeFile(path, data) {
      const { parent, name } = await parentOf(other, root, path);
      const created = await other.create({ parent, name, mode: 0o644 });
      await other.write({
        handle: created.handle,
        offset: 0,
        data: typeof data === 'string' ? Buffer.from(data) : data,
      });
      await other.closeFile({ handle: created.handle });
    },
    async mkdir(path) {
      const { parent, name } = await parentOf(other, root, path);
      await other.mkdir({ parent, name, mode: 0o755 });
    },
    async remove(path) {
      const { parent, name } = await parentOf(other, root, path);
      const e = await other.lookup({ parent, name });
      if (e.attr.kind === 'dir') await other.rmdir({ parent, name });
      else await other.unlink({ parent, name });
    },
    async rename(from, to) {
      const a = await parentOf(other, root, from);
      const b = await parentOf(other, root, to);
      await other.rename({ parent: a.parent, name: a.name, newParent: b.parent, newName: b.name });
    },
    async symlink(path, target) {
      const { parent, name } = await parentOf(other, root, path);
      await other.symlink({ parent, name, target });
    },
  };
}
