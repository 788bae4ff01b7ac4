import { link, rename, unlink } from 'node:fs/promises';
import { FsError } from '../../core/fs-error.ts';
import { lstatMaybe } from './fast-stat.ts';

/** Codes of a filesystem that cannot do what was asked (as opposed to a real failure): without renameat2's `RENAME_NOREPLACE`, say. */
const UNSUPPORTED = new Set(['EINVAL', 'ENOSYS', 'ENOTSUP', 'EOPNOTSUPP']);
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EMLINK']);

function codeOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

/**
 * Rename `from` to `to` unless `to` exists (then `EEXIST` naming `name`, for `op`). In order
 * of preference: the platform's atomic rename (`native`, renameat2 `RENAME_NOREPLACE`: one
 * syscall); for a file, a hard link (atomic `EEXIST`) and an unlink of the old name; last,
 * where neither works, a check and a plain rename (a narrow race remains there).
 */
export async function renameNoReplace(opts: {
  from: string;
  to: string;
  isDir: boolean;
  /** The target's name, for the error. */
  name: string;
  /** The operation, for the error (`rename`, or `close` publishing a created file). */
  op: string;
  /** Why an existing target refuses it, for the error. */
  detail?: string | undefined;
  native?: ((from: string, to: string) => Promise<void>) | undefined;
}): Promise<void> {
  const exists = (): FsError => FsError.EEXIST(opts.op, opts.name, opts.detail);
  if (opts.native) {
    try {
      await opts.native(opts.from, opts.to);
      return;
    } catch (err) {
      if (codeOf(err) === 'EEXIST') throw exists();
      if (!UNSUPPORTED.has(codeOf(err) ?? '')) throw err;
    }
  }
  if (!opts.isDir) {
    try {
      await link(opts.from, opts.to);
      await unlink(opts.from);
      return;
    } catch (err) {
      if (codeOf(err) === 'EEXIST') throw exists();
      if (!NO_HARD_LINKS.has(codeOf(err) ?? '')) throw err;
    }
  }
  if (await lstatMaybe(opts.to)) throw exists();
  await rename(opts.from, opts.to);
}
