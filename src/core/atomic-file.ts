import { randomBytes } from 'node:crypto';
import { open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FsError } from './fs-error.ts';

/**
 * Replace `file` with `data` so that readers see either the old or the new content, never a
 * half-written file: write a temp file beside it, fsync, rename over, fsync the directory.
 * The file keeps its current permission bits (or gets `mode` when it is new).
 */
export async function writeFileAtomic(opts: {
  file: string;
  data: string | Uint8Array;
  mode?: number;
}): Promise<void> {
  const dir = dirname(opts.file);
  const tmp = join(dir, `.${basename(opts.file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let mode = opts.mode ?? 0o644;
  try {
    mode = (await stat(opts.file)).mode & 0o7777;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw FsError.from(err, 'write', opts.file);
  }
  try {
    const fh = await open(tmp, 'wx', mode);
    try {
      await fh.writeFile(opts.data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, opts.file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw FsError.from(err, 'write', opts.file);
  }
  await syncDir(dir);
}

/** Make a rename in `dir` durable; filesystems that cannot fsync a directory are skipped. */
export async function syncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // Directory fsync is best effort: some filesystems (and Windows) refuse it.
  } finally {
    await fh?.close();
  }
}
