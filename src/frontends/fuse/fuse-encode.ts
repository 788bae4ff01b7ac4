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

/** Write an attr into the out-args layout `replyEntry`/`replyAttr` read. */
export function putStat(out: Float64Array, attr: Attr): void {
  out[0] = fullMode(attr);
  out[1] = attr.nlink;
  out[2] = attr.uid;
  out[3] = attr.gid;
  out[4] = attr.size;
  putTime(out, 5, attr.atimeNs);
  putTime(out, 7, attr.mtimeNs);
  putTime(out, 9, attr.ctimeNs);
  out[11] = BLKSIZE;
}

function putTime(out: Float64Array, at: number, ns: bigint): void {
  const [sec, nsec] = timespecOf(ns);
  out[at] = Number(sec);
  out[at + 1] = nsec;
}

const NS_PER_S = 1_000_000_000n;

/** A `timespec` (seconds, nanoseconds 0–999,999,999) of a time in nanoseconds since the epoch. */
function timespecOf(ns: bigint): [bigint, number] {
  const sec = ns / NS_PER_S;
  const nsec = ns % NS_PER_S;
  // Times before the epoch: a negative remainder borrows one second.
  return nsec < 0n ? [sec - 1n, Number(nsec + NS_PER_S)] : [sec, Number(nsec)];
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
/** `struct fuse_entry_out`: node id, generation, entry and attr validity, `struct fuse_attr`. */
const ENTRY_OUT = 128;
const U64 = (1n << 64n) - 1n;

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

/** What READDIRPLUS tells the kernel about an entry besides its name (see {@link packDirentsPlus}). */
export interface DirentAttrs {
  attr: Attr;
  generation: number;
}

/**
 * Pack entries as `struct fuse_direntplus` records for a READDIRPLUS answer: each name with the
 * entry a LOOKUP would give (the kernel keeps it for `entryTimeout`/`attrTimeout` seconds), or
 * with node id 0 where `attrsOf` gives nothing (the kernel then asks with a LOOKUP, as for
 * `.` and `..`, which it never takes from a listing). Offsets and `size` as {@link packDirents}.
 */
export function packDirentsPlus(
  entries: readonly Dirent[],
  from: number,
  size: number,
  attrsOf: (e: Dirent) => DirentAttrs | undefined,
  entryTimeout: number,
  attrTimeout: number,
): Buffer {
  const out = Buffer.alloc(size);
  let used = 0;
  for (let i = from; i < entries.length; i++) {
    const e = entries[i]!;
    const nameLen = Buffer.byteLength(e.name, 'utf8');
    const len = (ENTRY_OUT + DIRENT_HEADER + nameLen + 7) & ~7;
    if (used + len > size) break;
    const dotted = e.name === '.' || e.name === '..';
    const attrs = dotted ? undefined : attrsOf(e);
    if (attrs !== undefined) putEntryOut(out, used, e.ino, attrs, entryTimeout, attrTimeout);
    const d = used + ENTRY_OUT;
    out.writeBigUInt64LE(e.ino, d);
    out.writeBigUInt64LE(BigInt(i + 1), d + 8);
    out.writeUInt32LE(nameLen, d + 16);
    out.writeUInt32LE((e.mode >>> 12) & 0xf, d + 20);
    out.write(e.name, d + DIRENT_HEADER, 'utf8');
    used += len;
  }
  return out.subarray(0, used);
}

/** `struct fuse_entry_out` at `at` (the buffer is zeroed: padding and rdev stay 0). */
function putEntryOut(
  out: Buffer,
  at: number,
  ino: bigint,
  { attr, generation }: DirentAttrs,
  entryTimeout: number,
  attrTimeout: number,
): void {
  out.writeBigUInt64LE(ino, at);
  out.writeBigUInt64LE(BigInt(generation), at + 8);
  out.writeBigUInt64LE(BigInt(Math.floor(entryTimeout)), at + 16);
  out.writeBigUInt64LE(BigInt(Math.floor(attrTimeout)), at + 24);
  out.writeUInt32LE(Math.floor((entryTimeout % 1) * 1e9), at + 32);
  out.writeUInt32LE(Math.floor((attrTimeout % 1) * 1e9), at + 36);
  const a = at + 40; // struct fuse_attr
  out.writeBigUInt64LE(ino, a);
  out.writeBigUInt64LE(BigInt(attr.size), a + 8);
  out.writeBigUInt64LE(BigInt(Math.ceil(attr.size / 512)), a + 16);
  putTimespec(out, a + 24, a + 48, attr.atimeNs);
  putTimespec(out, a + 32, a + 52, attr.mtimeNs);
  putTimespec(out, a + 40, a + 56, attr.ctimeNs);
  out.writeUInt32LE(fullMode(attr), a + 60);
  out.writeUInt32LE(attr.nlink, a + 64);
  out.writeUInt32LE(attr.uid, a + 68);
  out.writeUInt32LE(attr.gid, a + 72);
  out.writeUInt32LE(BLKSIZE, a + 80);
}

/** Seconds (64-bit, two's complement before the epoch) at `secAt`, nanoseconds at `nsecAt`. */
function putTimespec(out: Buffer, secAt: number, nsecAt: number, ns: bigint): void {
  const [sec, nsec] = timespecOf(ns);
  out.writeBigUInt64LE(sec & U64, secAt);
  out.writeUInt32LE(nsec, nsecAt);
}
