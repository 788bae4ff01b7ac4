import { fullMode, type Attr } from '../../core/attr.ts';

/** Standard headers an object keeps; a metadata-replacing copy must send them again. */
export interface ObjectHeaders {
  contentType?: string | undefined;
  cacheControl?: string | undefined;
  contentDisposition?: string | undefined;
  contentEncoding?: string | undefined;
  contentLanguage?: string | undefined;
}

/** What the adapter knows about one object (from HEAD, a listing or its own upload). */
export interface ObjectInfo {
  key: string;
  size: number;
  lastModifiedMs: number;
  etag: string;
  /** User metadata (`x-amz-meta-*`), names lower-case. */
  meta: Record<string, string>;
  headers: ObjectHeaders;
}

/** POSIX attributes kept in user metadata, the way rclone keeps them. */
export interface PosixMeta {
  mode?: number | undefined;
  uid?: number | undefined;
  gid?: number | undefined;
  mtimeNs?: bigint | undefined;
}

const DEFAULT_FILE_MODE = 0o644;
const DEFAULT_DIR_MODE = 0o755;
const processUid = process.getuid?.() ?? 0;
const processGid = process.getgid?.() ?? 0;

/** `mtime` as rclone writes it: decimal seconds with a fraction, e.g. `1700000000.123456789`. */
export function formatMtime(ns: bigint): string {
  const neg = ns < 0n;
  const abs = neg ? -ns : ns;
  const frac = (abs % 1_000_000_000n).toString().padStart(9, '0');
  return `${neg ? '-' : ''}${abs / 1_000_000_000n}.${frac}`;
}

/** Parse an `mtime` value: decimal seconds (rclone) or an RFC 3339 date. */
export function parseMtime(text: string): bigint | undefined {
  const m = /^(-?)([0-9]{1,15})(?:\.([0-9]{1,9})[0-9]*)?$/.exec(text.trim());
  if (m) {
    const ns = BigInt(m[2]!) * 1_000_000_000n + BigInt((m[3] ?? '').padEnd(9, '0'));
    return m[1] === '-' ? -ns : ns;
  }
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? BigInt(ms) * 1_000_000n : undefined;
}

function parseUint(text: string | undefined, radix: number): number | undefined {
  if (text === undefined || !(radix === 8 ? /^[0-7]{1,12}$/ : /^[0-9]{1,10}$/).test(text.trim()))
    return undefined;
  const n = parseInt(text.trim(), radix);
  return Number.isSafeInteger(n) && n >= 0 && n <= 0xffffffff ? n : undefined;
}

/** The POSIX attributes stored in an object's user metadata (absent or malformed → undefined). */
export function readPosixMeta(meta: Record<string, string>): PosixMeta {
  const mode = parseUint(meta.mode, 8);
  return {
    mode: mode === undefined ? undefined : mode & 0o7777,
    uid: parseUint(meta.uid, 10),
    gid: parseUint(meta.gid, 10),
    mtimeNs: meta.mtime === undefined ? undefined : parseMtime(meta.mtime),
  };
}

/** User metadata with `changes` merged in (other metadata is kept as it is). */
export function withPosixMeta(
  meta: Record<string, string>,
  kind: 'file' | 'dir',
  changes: PosixMeta,
): Record<string, string> {
  const out = { ...meta };
  if (changes.mode !== undefined) out.mode = '0' + fullMode({ kind, mode: changes.mode }).toString(8);
  if (changes.uid !== undefined) out.uid = String(changes.uid);
  if (changes.gid !== undefined) out.gid = String(changes.gid);
  if (changes.mtimeNs !== undefined) out.mtime = formatMtime(changes.mtimeNs);
  return out;
}

/**
 * Attributes of a file object. mtime is the stored `mtime` metadata, else LastModified;
 * ctime is LastModified (S3 bumps it on every write, including metadata-only copies).
 */
export function fileAttr(info: Pick<ObjectInfo, 'size' | 'lastModifiedMs' | 'meta'>): Attr {
  const p = readPosixMeta(info.meta);
  const changed = BigInt(Math.trunc(info.lastModifiedMs)) * 1_000_000n;
  const mtimeNs = p.mtimeNs ?? changed;
  return {
    kind: 'file',
    mode: p.mode ?? DEFAULT_FILE_MODE,
    nlink: 1,
    uid: p.uid ?? processUid,
    gid: p.gid ?? processGid,
    size: info.size,
    atimeNs: mtimeNs,
    mtimeNs,
    ctimeNs: changed,
    gen: 0,
  };
}

/**
 * Attributes of a directory: from its marker object when there is one, else synthetic
 * (mode 0755, times at the epoch) so they are the same in every process.
 */
export function dirAttr(marker?: Pick<ObjectInfo, 'lastModifiedMs' | 'meta'>): Attr {
  const p = marker ? readPosixMeta(marker.meta) : {};
  const changed = marker ? BigInt(Math.trunc(marker.lastModifiedMs)) * 1_000_000n : 0n;
  const mtimeNs = p.mtimeNs ?? changed;
  return {
    kind: 'dir',
    mode: p.mode ?? DEFAULT_DIR_MODE,
    nlink: 2,
    uid: p.uid ?? processUid,
    gid: p.gid ?? processGid,
    size: 0,
    atimeNs: mtimeNs,
    mtimeNs,
    ctimeNs: changed,
    gen: 0,
  };
}
