import { type Attr, fullMode } from '../../core/attr.ts';
import { fuseCodeOf } from '../../core/errno.ts';
import { FsError } from '../../core/fs-error.ts';
import type { StatFs } from '../../sources/source.ts';

/** `st_blksize` reported for files: tools such as cp size their buffers from it. */
export const BLKSIZE = 128 * 1024;

/** The positive errno a FUSE reply carries for any thrown value (the errno table decides). */
export function fuseErrnoOf(err: unknown, op: string): number {
  return -fuseCodeOf(FsError.from(err, op).code);
}

/** Write an attr into the out-args layout `replyEntry`/`replyAttr` read (12 numbers from `at`). */
export function putStat(out: Float64Array, attr: Attr, at = 0): void {
  out[at] = fullMode(attr);
  out[at + 1] = attr.nlink;
  out[at + 2] = attr.uid;
  out[at + 3] = attr.gid;
  out[at + 4] = attr.size;
  putTime(out, at + 5, attr.atimeNs);
  putTime(out, at + 7, attr.mtimeNs);
  putTime(out, at + 9, attr.ctimeNs);
  out[at + 11] = BLKSIZE;
}

function putTime(out: Float64Array, at: number, ns: bigint): void {
  const sec = ns / 1_000_000_000n;
  let nsec = ns % 1_000_000_000n;
  // Times before the epoch: a negative remainder borrows one second.
  if (nsec < 0n) nsec += 1_000_000_000n;
  out[at] = Number(ns < 0n && nsec !== 0n ? sec - 1n : sec);
  out[at + 1] = Number(nsec);
}

/** Nanoseconds since the epoch from a `timespec` (seconds, nanoseconds). */
export function timespecToNs(sec: number, nsec: number): bigint {
  return BigInt(Math.trunc(sec)) * 1_000_000_000n + BigInt(Math.trunc(nsec));
}

/** Write statfs figures into the out-args layout `replyStatfs` reads. */
export function putStatfs(out: Float64Array, st: StatFs): void {
  out[0] = st.bsize;
  out[1] = st.blocks;
  out[2] = st.bfree;
  out[3] = st.bavail;
  out[4] = st.files;
  out[5] = st.ffree;
  out[6] = st.namemax;
}

/** One directory entry for a READDIR answer. */
export interface Dirent {
  name: string;
  ino: bigint;
  /** Full `st_mode` (only the type bits matter). */
  mode: number;
}

const DIRENT_HEADER = 24;

/**
 * Pack entries as the kernel's `struct fuse_dirent` records (ino, next offset, name length,
 * type, name padded to 8 bytes), starting with entry index `from`; entry `i` carries offset
 * `i + 1` so the next READDIR resumes after it. Stops before `size` bytes would be exceeded.
 */
export function packDirents(entries: readonly Dirent[], from: number, size: number): Buffer {
  const parts: Buffer[] = [];
  let used = 0;
  for (let i = from; i < entries.length; i++) {
    const e = entries[i]!;
    const name = Buffer.from(e.name, 'utf8');
    const len = (DIRENT_HEADER + name.length + 7) & ~7;
    if (used + len > size) break;
    const rec = Buffer.alloc(len);
    rec.writeBigUInt64LE(e.ino, 0);
    rec.writeBigUInt64LE(BigInt(i + 1), 8);
    rec.writeUInt32LE(name.length, 16);
    rec.writeUInt32LE((e.mode >>> 12) & 0xf, 20);
    name.copy(rec, DIRENT_HEADER);
    parts.push(rec);
    used += len;
  }
  return Buffer.concat(parts, used);
}
