import type { Attr, FileKind } from '../../core/attr.ts';

/**
 * The `lstat` figures the local source uses: a `BigIntStats` has them, and so does an entry
 * of a batched stat (`lstatBatch`), which gives the small ones as numbers.
 */
export interface StatFields {
  dev: bigint;
  ino: bigint;
  mode: bigint | number;
  nlink: bigint | number;
  uid: bigint | number;
  gid: bigint | number;
  size: bigint | number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  birthtimeNs: bigint;
}

const S_IFMT = 0o170000;

/** The kind of a full `st_mode`. */
export function kindOfMode(mode: number): FileKind {
  switch (mode & S_IFMT) {
    case 0o100000:
      return 'file';
    case 0o040000:
      return 'dir';
    case 0o120000:
      return 'symlink';
    case 0o010000:
      return 'fifo';
    case 0o140000:
      return 'socket';
    case 0o020000:
      return 'chardev';
    case 0o060000:
      return 'blockdev';
    default:
      return 'file';
  }
}

/** Whether `st` is a directory (without the BigInt arithmetic of `BigIntStats.isDirectory`). */
export function isDirStat(st: StatFields): boolean {
  return (Number(st.mode) & S_IFMT) === 0o040000;
}

/** Generation of an inode: from its birth time, so a reused inode number gets a new one. */
export function genOf(st: StatFields): number {
  // Through a double, not bigint arithmetic: deterministic, and no allocation per stat.
  return Number(st.birthtimeNs) % 0x7fffffff;
}

/** Normalized attributes from `lstat`. `gen` overrides the inode's own generation. */
export function attrOf(st: StatFields, gen?: number): Attr {
  const mode = Number(st.mode);
  return {
    kind: kindOfMode(mode),
    mode: mode & 0o7777,
    nlink: Number(st.nlink),
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: Number(st.size),
    atimeNs: st.atimeNs,
    mtimeNs: st.mtimeNs,
    ctimeNs: st.ctimeNs,
    gen: gen ?? genOf(st),
  };
}

/**
 * Seconds for `fs.utimes`. libuv truncates to microseconds after a float conversion, so
 * half a microsecond is added to land on the intended microsecond rather than the one below.
 */
export function nsToUtimeSeconds(ns: bigint): number {
  const us = ns / 1000n;
  return Number(us / 1_000_000n) + Number(us % 1_000_000n) / 1e6 + 5e-7;
}
