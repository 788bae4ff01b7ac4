import type { IncomingMessage } from 'node:http';
import { nsToMs } from '../core/attr.ts';
import type { Entry } from '../sources/source.ts';

/**
 * What every HTTP front-end (WebDAV, the REST API) says the same way about a file version:
 * its entity tag, its `Last-Modified` date, and how conditional and range requests
 * (RFC 9110 §13, §14) are read. One definition, so an entity tag from one surface is valid
 * on the other.
 */

/** A request header as one string (repeated fields joined with `, `). */
export function headerOf(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/**
 * The strong entity tag of a file or directory version: changes whenever its id, generation,
 * size or modification time does.
 */
export function etagOf(entry: Entry): string {
  const { id, attr } = entry;
  return `"${id.toString(16)}-${attr.gen.toString(16)}-${attr.size.toString(16)}-${attr.mtimeNs.toString(16)}"`;
}

/** The `Last-Modified` value of a version (an HTTP date, whole seconds). */
export function httpDateOf(entry: Entry): string {
  return new Date(nsToMs(entry.attr.mtimeNs)).toUTCString();
}

/** Whether an `If-Match` / `If-None-Match` list names `etag` or is `*` (weak tags compare as strong). */
export function etagListHas(list: string, etag: string): boolean {
  return list
    .split(',')
    .map((t) => t.trim().replace(/^W\//, ''))
    .some((t) => t === '*' || t === etag);
}

/** How a request's preconditions came out: go on, 304 (reads only) or 412 with the reason. */
export type Preconditions = { status: 200 } | { status: 304 } | { status: 412; reason: string };

/**
 * Evaluate `If-Match`, `If-None-Match` and (reads, without `If-None-Match`) `If-Modified-Since`
 * against the current version of the target (`entry`, undefined when there is none), in the
 * order RFC 9110 §13.2.2 gives. A read (`GET`/`HEAD`) whose `If-None-Match` matches answers
 * 304, a write 412 (`If-None-Match: *` is "create only").
 */
export function preconditions(opts: {
  req: IncomingMessage;
  entry: Entry | undefined;
  read: boolean;
}): Preconditions {
  const { req, entry, read } = opts;
  const etag = entry === undefined ? undefined : etagOf(entry);
  const ifMatch = headerOf(req, 'if-match');
  if (ifMatch !== undefined && (etag === undefined || !etagListHas(ifMatch, etag)))
    return { status: 412, reason: 'If-Match: the target is not at that version' };
  const inm = headerOf(req, 'if-none-match');
  if (inm !== undefined) {
    if (etag === undefined || !etagListHas(inm, etag)) return { status: 200 };
    return read ? { status: 304 } : { status: 412, reason: 'If-None-Match: the target is at that version' };
  }
  const ims = headerOf(req, 'if-modified-since');
  if (!read || entry === undefined || ims === undefined) return { status: 200 };
  const since = Date.parse(ims);
  const modified = Math.floor(nsToMs(entry.attr.mtimeNs) / 1000) * 1000;
  return !Number.isNaN(since) && modified <= since ? { status: 304 } : { status: 200 };
}

/** A byte range `[start, end)` of a file. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * The single range a `Range` header asks for within `size` bytes: undefined to send the whole
 * file (no header, a unit other than bytes, several ranges — serving all is allowed, RFC 9110
 * §14.2), or `'unsatisfiable'` (416).
 */
export function parseRange(
  header: string | undefined,
  size: number,
): ByteRange | undefined | 'unsatisfiable' {
  if (header === undefined) return undefined;
  const m = /^bytes=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header.trim());
  if (!m) return undefined;
  const [, first = '', last = ''] = m;
  if (first === '' && last === '') return undefined;
  if (first === '') {
    const suffix = Number(last);
    // An empty file has no last bytes: no Content-Range can name them.
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size };
  }
  const start = Number(first);
  if (start >= size) return 'unsatisfiable';
  const end = last === '' ? size : Math.min(size, Number(last) + 1);
  if (end <= start) return undefined;
  return { start, end };
}

/**
 * The range a `GET` of `entry` should answer: its `Range` header, unless `If-Range` names
 * another version (an entity tag or a date), in which case the whole file.
 */
export function requestedRange(req: IncomingMessage, entry: Entry): ByteRange | undefined | 'unsatisfiable' {
  const ifRange = headerOf(req, 'if-range')?.trim();
  if (ifRange !== undefined) {
    const current = ifRange.startsWith('"') || ifRange.startsWith('W/') ? etagOf(entry) : httpDateOf(entry);
    if (ifRange !== current) return undefined;
  }
  return parseRange(headerOf(req, 'range'), entry.attr.size);
}
