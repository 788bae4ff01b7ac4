import { randomBytes } from 'node:crypto';
import { FsError } from '../core/fs-error.ts';
import type { NodeId } from '../core/ids.ts';
import type { Source } from '../sources/source.ts';

/** What a rename between two mounts (different Sources or exports) may do. */
export type RenamePolicy = 'exdev' | 'copy';

/** The rename policies a mount may have. */
export const RENAME_POLICIES: readonly RenamePolicy[] = ['exdev', 'copy'];

const COPY_CHUNK = 1024 * 1024;

/** A name in a directory of some Source. */
export interface Place {
  source: Source;
  parent: NodeId;
  name: string;
}

/**
 * Move a file or symlink between Sources by copy + unlink, never losing it: the copy is
 * staged under a temporary name next to the destination, checked (size), then renamed into
 * place without replacing anything (`noreplace`); only then is the source unlinked. If the
 * destination exists the move is refused with `EEXIST` (a copy never replaces), and so if
 * it appears while copying. Any failure before the unlink removes the staged copy and
 * leaves the source as it was; if the unlink itself fails, the copy is removed again and
 * the error is reported, so the file stays exactly once, where it was. Directories are
 * refused with `EXDEV` (a tree copy is not one atomic step).
 */
export async function moveAcross(opts: { from: Place; to: Place }): Promise<void> {
  const { from, to } = opts;
  const src = await from.source.lookup({ parent: from.parent, name: from.name });
  if (src.attr.kind === 'dir')
    throw FsError.EXDEV('rename', from.name, 'directories are not moved between sources; copy the tree');
  const exists = await to.source.lookup({ parent: to.parent, name: to.name }).then(
    () => true,
    (err: unknown) => {
      if (FsError.is(err, 'ENOENT')) return false;
      throw err;
    },
  );
  if (exists)
    throw FsError.EEXIST('rename', to.name, 'a move between sources never replaces an existing file');
  const staging = `.tessera-move-${randomBytes(6).toString('hex')}`;
  let staged = false;
  try {
    if (src.attr.kind === 'symlink') {
      const target = await from.source.readlink({ id: src.id });
      await to.source.symlink({ parent: to.parent, name: staging, target });
      staged = true;
    } else {
      await copyFile({
        from,
        id: src.id,
        size: src.attr.size,
        to,
        staging,
        mode: src.attr.mode,
        onCreated: () => (staged = true),
      });
    }
    await to.source.rename({
      parent: to.parent,
      name: staging,
      newParent: to.parent,
      newName: to.name,
      noreplace: true,
    });
    staged = false;
  } catch (err) {
    if (staged) await to.source.unlink({ parent: to.parent, name: staging }).catch(() => undefined);
    throw err;
  }
  try {
    await from.source.unlink({ parent: from.parent, name: from.name });
  } catch (err) {
    // The source is still there: take the copy back so the file exists once.
    await to.source.unlink({ parent: to.parent, name: to.name }).catch(() => undefined);
    throw err;
  }
}

async function copyFile(opts: {
  from: Place;
  id: NodeId;
  size: number;
  to: Place;
  staging: string;
  mode: number;
  onCreated: () => void;
}): Promise<void> {
  const { from, to } = opts;
  const { handle: rh } = await from.source.openFile({ id: opts.id, flags: { read: true, write: false } });
  try {
    const created = await to.source.create({
      parent: to.parent,
      name: opts.staging,
      mode: opts.mode & 0o7777,
      exclusive: true,
    });
    opts.onCreated();
    let copied = 0;
    let ok = false;
    try {
      for (;;) {
        const bytes = await from.source.read({ handle: rh, offset: copied, length: COPY_CHUNK });
        if (bytes.length === 0) break;
        await to.source.write({ handle: created.handle, offset: copied, data: bytes });
        copied += bytes.length;
      }
      if (copied !== opts.size)
        throw FsError.EIO(
          'rename',
          from.name,
          `copied ${copied} bytes of ${opts.size}; the file changed while it moved`,
        );
      ok = true;
    } finally {
      await to.source.closeFile({ handle: created.handle, abort: !ok });
    }
  } finally {
    await from.source.closeFile({ handle: rh }).catch(() => undefined);
  }
}
