import { randomBytes } from 'node:crypto';
import { constants, type BigIntStats } from 'node:fs';
import { copyFile, open } from 'node:fs/promises';
import { FsError } from '../../core/fs-error.ts';

/**
 * Prefix of the private copies atomic writes go through. Names with it are hidden from
 * `lookup`/`readdirp` and refused as names a client chooses.
 */
export const TEMP_PREFIX = '.tessera-tmp-';

/** Leftover temp files older than this (from a crashed process) are removed when seen. */
export const STALE_TEMP_MS = 60 * 60 * 1000;

/** Whether `name` is one of the adapter's temp files. */
export function isTempName(name: string): boolean {
  return name.startsWith(TEMP_PREFIX);
}

/** Random bytes per temp name (12 base64url characters). */
const NAME_BYTES = 9;
/** Names' worth of random bytes drawn at once: one call into the generator per 512 creates. */
const POOL_NAMES = 512;
let pool = Buffer.alloc(0);
let used = 0;

/** A fresh temp file name (random, so a crashed process's leftovers never collide with it). */
export function tempName(): string {
  if (used + NAME_BYTES > pool.length) {
    pool = randomBytes(NAME_BYTES * POOL_NAMES);
    used = 0;
  }
  const name = TEMP_PREFIX + pool.toString('base64url', used, used + NAME_BYTES);
  used += NAME_BYTES;
  return name;
}

/** Refuse a client-chosen name that collides with the temp-file namespace. */
export function refuseReserved(op: string, name: string): void {
  if (isTempName(name))
    throw FsError.EINVAL(op, name, `reserved name (the prefix ${TEMP_PREFIX} is used for atomic writes)`);
}

/** Whether a temp file seen in a listing is old enough to be a crash leftover. */
export function isStaleTemp(st: BigIntStats, now = Date.now()): boolean {
  return st.isFile() && Number(st.mtimeMs) < now - STALE_TEMP_MS;
}

/**
 * Copy `src` to the new file `dst` (which must not exist): a reflink where the filesystem
 * can share blocks (libuv falls back to an in-kernel copy otherwise), and a plain read/write
 * copy if even that is refused.
 */
export async function copyToNew(src: string, dst: string): Promise<void> {
  try {
    await copyFile(src, dst, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (
      code !== 'ENOSYS' &&
      code !== 'EOPNOTSUPP' &&
      code !== 'ENOTSUP' &&
      code !== 'EXDEV' &&
      code !== 'EINVAL'
    )
      throw err;
  }
  const from = await open(src, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const mode = Number((await from.stat()).mode) & 0o7777;
    const to = await open(
      dst,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      mode,
    );
    try {
      const buf = Buffer.allocUnsafe(1 << 20);
      for (let pos = 0; ;) {
        const { bytesRead } = await from.read(buf, 0, buf.length, pos);
        if (bytesRead === 0) break;
        for (let off = 0; off < bytesRead;)
          off += (await to.write(buf, off, bytesRead - off, pos + off)).bytesWritten;
        pos += bytesRead;
      }
    } finally {
      await to.close();
    }
  } finally {
    await from.close();
  }
}
