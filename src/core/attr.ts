/** The kinds of filesystem object a Source can hold. */
export type FileKind = 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'chardev' | 'blockdev';

/**
 * Normalized attributes, the same for every Source. Sources without POSIX data fill in
 * stable synthetic values (and say so with `caps.posix_attrs = false`).
 */
export interface Attr {
  kind: FileKind;
  /** Permission bits only (`0o7777`); the kind is in `kind`. */
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  /** Size in bytes (symlinks: length of the target). */
  size: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  /** Generation: changes when an id is reused for a different file. */
  gen: number;
}

const S_IFMT = 0o170000;
const KIND_BITS: Record<FileKind, number> = {
  file: 0o100000,
  dir: 0o040000,
  symlink: 0o120000,
  fifo: 0o010000,
  socket: 0o140000,
  chardev: 0o020000,
  blockdev: 0o060000,
};

/** The kind encoded in a full POSIX `st_mode`. */
export function kindFromMode(mode: number): FileKind {
  const bits = mode & S_IFMT;
  for (const [kind, value] of Object.entries(KIND_BITS) as [FileKind, number][]) {
    if (value === bits) return kind;
  }
  return 'file';
}

/** A full POSIX `st_mode` (kind bits plus permissions) for an attr. */
export function fullMode(attr: Pick<Attr, 'kind' | 'mode'>): number {
  return KIND_BITS[attr.kind] | (attr.mode & 0o7777);
}

/** Nanoseconds since the epoch for a millisecond timestamp. */
export function msToNs(ms: number): bigint {
  return BigInt(Math.round(ms * 1e6));
}

/** Milliseconds since the epoch for a nanosecond timestamp. */
export function nsToMs(ns: bigint): number {
  return Number(ns / 1_000_000n) + Number(ns % 1_000_000n) / 1e6;
}

/** The current time in nanoseconds since the epoch. */
export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/**
 * Attributes of an object a Source makes up rather than stores (a directory leading to a
 * mount point, a virtual directory, a generated file): owned by root, read-only (0555 for a
 * directory, 0444 for a file), every time `timeNs`.
 */
export function syntheticAttr(opts: { kind: 'dir' | 'file'; timeNs: bigint; size?: number }): Attr {
  const dir = opts.kind === 'dir';
  return {
    kind: opts.kind,
    mode: dir ? 0o555 : 0o444,
    nlink: dir ? 2 : 1,
    uid: 0,
    gid: 0,
    size: opts.size ?? 0,
    atimeNs: opts.timeNs,
    mtimeNs: opts.timeNs,
    ctimeNs: opts.timeNs,
    gen: 0,
  };
}
