import { link, rename, unlink } from 'node:fs/promises';
import { FsError } from '../../core/fs-error.ts';
import { lstatMaybe } from './fast-stat.ts';

/** Rename that refuses to replace: a file is hard-linked first (EEXIST is atomic), a directory checked. */
export async function renameNoReplace(
  srcPath: string,
  dstPath: string,
  isDir: boolean,
  name: string,
): Promise<void> {
  if (!isDir) {
    try {
      await link(srcPath, dstPath);
      await unlink(srcPath);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') throw FsError.EEXIST('rename', name);
      if (
        code !== 'EPERM' &&
        code !== 'ENOTSUP' &&
        code !== 'EOPNOTSUPP' &&
        code !== 'ENOSYS' &&
        code !== 'EMLINK'
      )
        throw err;
    }
  }
  if (await lstatMaybe(dstPath)) throw FsError.EEXIST('rename', name);
  await rename(srcPath, dstPath);
}
