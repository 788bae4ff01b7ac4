import { type Attr, type FileKind, nsToMs } from '../../core/attr.ts';
import type { NodeId } from '../../core/ids.ts';

const TYPE_CHAR: Record<FileKind, string> = {
  file: '-',
  dir: 'd',
  symlink: 'l',
  fifo: 'p',
  socket: 's',
  chardev: 'c',
  blockdev: 'b',
};

/** `ls -l` permissions: `drwxr-xr-x`, with setuid/setgid/sticky as `s`/`S`/`t`/`T`. */
export function modeString(attr: Pick<Attr, 'kind' | 'mode'>): string {
  const m = attr.mode;
  const triplet = (shift: number, special: boolean, specialChar: string) => {
    const r = m & (4 << shift) ? 'r' : '-';
    const w = m & (2 << shift) ? 'w' : '-';
    const xBit = (m & (1 << shift)) !== 0;
    const x = special ? (xBit ? specialChar : specialChar.toUpperCase()) : xBit ? 'x' : '-';
    return r + w + x;
  };
  return (
    TYPE_CHAR[attr.kind] +
    triplet(6, (m & 0o4000) !== 0, 's') +
    triplet(3, (m & 0o2000) !== 0, 's') +
    triplet(0, (m & 0o1000) !== 0, 't')
  );
}

/** Permission bits as four octal digits (`0644`). */
export function octalMode(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

/** A nanosecond time as ISO 8601 (millisecond precision). */
export function isoTime(ns: bigint): string {
  return new Date(nsToMs(ns)).toISOString();
}

/** `ls -l` time: `YYYY-MM-DD HH:MM` in local time. */
export function shortTime(ns: bigint): string {
  const d = new Date(nsToMs(ns));
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** One entry as `ls --json` and `find --json` print it. */
export interface EntryJson {
  name: string;
  path: string;
  kind: FileKind;
  size: number;
  /** Permission bits, octal (`"0644"`). */
  mode: string;
  nlink: number;
  uid: number;
  gid: number;
  /** ISO 8601. */
  mtime: string;
  /** Exact, nanoseconds since the epoch (a decimal string). */
  mtimeNs: string;
  /** Node id (a decimal string). */
  id: string;
  /** Symlink target, when read. */
  target?: string;
}

/** The JSON form of an entry. */
export function entryJson(opts: {
  name: string;
  path: string;
  id: NodeId;
  attr: Attr;
  target?: string | undefined;
}): EntryJson {
  const { attr } = opts;
  return {
    name: opts.name,
    path: opts.path,
    kind: attr.kind,
    size: attr.size,
    mode: octalMode(attr.mode),
    nlink: attr.nlink,
    uid: attr.uid,
    gid: attr.gid,
    mtime: isoTime(attr.mtimeNs),
    mtimeNs: attr.mtimeNs.toString(),
    id: opts.id.toString(),
    ...(opts.target === undefined ? {} : { target: opts.target }),
  };
}

/** `ls -l` lines for entries: mode, links, uid, gid, size, time, name (`-> target`). */
export function longListing(
  entries: readonly { name: string; attr: Attr; target?: string | undefined }[],
): string {
  const rows = entries.map((e) => [
    modeString(e.attr),
    String(e.attr.nlink),
    String(e.attr.uid),
    String(e.attr.gid),
    String(e.attr.size),
    shortTime(e.attr.mtimeNs),
    e.target === undefined ? e.name : `${e.name} -> ${e.target}`,
  ]);
  const widths = [1, 2, 3, 4].map((col) => Math.max(0, ...rows.map((r) => r[col]!.length)));
  return rows
    .map((r) => {
      const [mode, nlink, uid, gid, size, time, name] = r as [
        string,
        string,
        string,
        string,
        string,
        string,
        string,
      ];
      return `${mode} ${nlink.padStart(widths[0]!)} ${uid.padEnd(widths[1]!)} ${gid.padEnd(widths[2]!)} ${size.padStart(widths[3]!)} ${time} ${name}\n`;
    })
    .join('');
}
