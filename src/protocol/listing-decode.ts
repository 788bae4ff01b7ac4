import type { Attr, FileKind } from '../core/attr.ts';
import type { NodeId } from '../core/ids.ts';

/**
 * A hand-written check of a READDIRP result, for the hot path of a listing: a page holds up
 * to 10,000 entries, and checking each through the zod schema costs more than parsing its
 * JSON. It accepts only what `OPS.READDIRP.result` accepts (the same shapes, ranges and
 * patterns, no unknown keys) and gives the same typed value; anything it does not accept
 * returns undefined and goes through the schema, which then says what is wrong.
 */

/** A listing page as the client uses it. */
export interface DecodedListing {
  entries: { name: string; id: NodeId; attr: Attr }[];
  cookie: string;
  eof: boolean;
}

const KINDS: ReadonlySet<string> = new Set<FileKind>([
  'file',
  'dir',
  'symlink',
  'fifo',
  'socket',
  'chardev',
  'blockdev',
]);
const ID = /^[0-9]{1,20}$/;
const NS = /^-?[0-9]{1,25}$/;
const MAX_NAME = 4096;
const MAX_COOKIE = 4096;
const MAX_ENTRIES = 100_000;
const ID_LIMIT = 1n << 64n;

/** A plain JSON object with exactly `n` keys (JSON.parse makes no inherited enumerable ones). */
function objectWith(v: unknown, n: number): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  let keys = 0;
  for (const _ in v) keys++;
  return keys === n;
}

function uint(v: unknown, max: number): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= max;
}

function attrOf(a: unknown): Attr | undefined {
  if (!objectWith(a, 10)) return undefined;
  const { kind, mode, nlink, uid, gid, size, atimeNs, mtimeNs, ctimeNs, gen } = a;
  if (
    typeof kind !== 'string' ||
    !KINDS.has(kind) ||
    !uint(mode, 0o7777) ||
    !uint(nlink, Number.MAX_SAFE_INTEGER) ||
    !uint(uid, Number.MAX_SAFE_INTEGER) ||
    !uint(gid, Number.MAX_SAFE_INTEGER) ||
    !uint(size, Number.MAX_SAFE_INTEGER) ||
    typeof atimeNs !== 'string' ||
    !NS.test(atimeNs) ||
    typeof mtimeNs !== 'string' ||
    !NS.test(mtimeNs) ||
    typeof ctimeNs !== 'string' ||
    !NS.test(ctimeNs) ||
    typeof gen !== 'number' ||
    !Number.isSafeInteger(gen)
  )
    return undefined;
  return {
    kind: kind as FileKind,
    mode,
    nlink,
    uid,
    gid,
    size,
    atimeNs: BigInt(atimeNs),
    mtimeNs: BigInt(mtimeNs),
    ctimeNs: BigInt(ctimeNs),
    gen,
  };
}

/** The decoded page, or undefined when `r` is anything but a clean READDIRP result. */
export function decodeListingFast(r: unknown): DecodedListing | undefined {
  if (!objectWith(r, 3)) return undefined;
  const { entries, cookie, eof } = r;
  if (typeof cookie !== 'string' || cookie.length > MAX_COOKIE || typeof eof !== 'boolean') return undefined;
  if (!Array.isArray(entries) || entries.length > MAX_ENTRIES) return undefined;
  const out = new Array<DecodedListing['entries'][number]>(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const e: unknown = entries[i];
    if (!objectWith(e, 3)) return undefined;
    const { name, id, attr } = e;
    if (typeof name !== 'string' || name.length > MAX_NAME) return undefined;
    if (typeof id !== 'string' || !ID.test(id)) return undefined;
    const big = BigInt(id);
    if (big <= 0n || big >= ID_LIMIT) return undefined;
    const a = attrOf(attr);
    if (a === undefined) return undefined;
    out[i] = { name, id: big, attr: a };
  }
  return { entries: out, cookie, eof };
}
