import type { ServerResponse } from 'node:http';
import { FsError } from '../../core/fs-error.ts';
import { nsToMs } from '../../core/attr.ts';
import type { Entry, Handle, Source } from '../../sources/source.ts';
import { contentTypeOf } from './dav-content-type.ts';
import { hrefOf, childOf } from './dav-paths.ts';
import { DavStatusError, type DavRequest, etagOf } from './dav-request.ts';
import { escapeXml } from './dav-xml.ts';

/** Bytes per read from the Source while streaming a GET. */
const CHUNK = 1024 * 1024;
/** Reads in flight ahead of the socket. */
const READ_AHEAD = 4;
/** Chunks handed to the socket and not yet written out, at most. */
const WRITE_WINDOW = 2;

/**
 * Reusable 1 MiB buffers for GET: each read goes into one, which comes back once the socket
 * has taken its bytes (no fresh megabyte per read, as in the protocol's READ path). A cache,
 * not a limit: an empty pool allocates.
 */
export class ChunkPool {
  readonly #free: Buffer[] = [];
  readonly #keep: number;

  constructor(opts: { keep: number }) {
    this.#keep = opts.keep;
  }

  take(): Buffer {
    return this.#free.pop() ?? Buffer.allocUnsafeSlow(CHUNK);
  }

  give(buf: Buffer): void {
    if (this.#free.length < this.#keep) this.#free.push(buf);
  }
}

/** A byte range `[start, end)` of a file, or undefined for the whole file. */
type ByteRange = { start: number; end: number } | undefined;

/**
 * The single range a `Range` header asks for within `size` bytes: undefined to send the whole
 * file (no header, a unit other than bytes, several ranges), or `'unsatisfiable'` (416).
 */
export function parseRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' {
  if (header === undefined) return undefined;
  const m = /^bytes=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header.trim());
  if (!m) return undefined;
  const [, first = '', last = ''] = m;
  if (first === '' && last === '') return undefined;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size };
  }
  const start = Number(first);
  if (start >= size) return 'unsatisfiable';
  const end = last === '' ? size : Math.min(size, Number(last) + 1);
  if (end <= start) return undefined;
  return { start, end };
}

/** Whether an `If-Match` / `If-None-Match` list names `etag` (or is `*`). */
function etagListHas(header: string, etag: string): boolean {
  return header
    .split(',')
    .map((t) => t.trim().replace(/^W\//, ''))
    .some((t) => t === '*' || t === etag);
}

/** Apply `If-Match` and `If-None-Match` to an existing resource; true when 304 was sent. */
export function conditional(dav: DavRequest, entry: Entry | undefined, read: boolean): boolean {
  const { headers } = dav.req;
  const etag = entry ? etagOf(entry) : undefined;
  if (headers['if-match'] !== undefined && (etag === undefined || !etagListHas(headers['if-match'], etag)))
    throw new DavStatusError(412, 'If-Match does not match the current entity tag');
  const none = headers['if-none-match'];
  if (none !== undefined && etag !== undefined && etagListHas(none, etag)) {
    if (!read) throw new DavStatusError(412, 'If-None-Match matches the current entity tag');
    dav.res.writeHead(304, { ETag: etag }).end();
    return true;
  }
  return false;
}

/** GET and HEAD: a file's bytes (one range at most), or a small HTML index of a collection. */
export async function handleGet(dav: DavRequest, opts: { head: boolean; pool: ChunkPool }): Promise<void> {
  const entry = await dav.resolve();
  if (conditional(dav, entry, true)) return;
  if (entry.attr.kind === 'dir') return sendIndex(dav, entry, opts.head);
  if (entry.attr.kind !== 'file') throw FsError.EINVAL('get', dav.path.key, 'not a regular file');
  const size = entry.attr.size;
  const etag = etagOf(entry);
  const ifRange = dav.header('if-range');
  const range =
    ifRange === undefined || ifRange.trim() === etag ? parseRange(dav.req.headers.range, size) : undefined;
  const headers: Record<string, string | number> = {
    'Content-Type': contentTypeOf(dav.path.segments.at(-1) ?? ''),
    ETag: etag,
    'Last-Modified': new Date(nsToMs(entry.attr.mtimeNs)).toUTCString(),
    'Accept-Ranges': 'bytes',
  };
  if (range === 'unsatisfiable') {
    dav.res.writeHead(416, { 'Content-Range': `bytes */${size}` }).end();
    return;
  }
  const { start, end } = range ?? { start: 0, end: size };
  headers['Content-Length'] = end - start;
  if (range) headers['Content-Range'] = `bytes ${start}-${end - 1}/${size}`;
  if (opts.head || end === start) {
    dav.res.writeHead(range ? 206 : 200, headers).end();
    return;
  }
  const { handle } = await dav.view.openFile({ id: entry.id, flags: { read: true, write: false } });
  try {
    dav.res.writeHead(range ? 206 : 200, headers);
    await streamFile({ view: dav.view, handle, start, end, res: dav.res, pool: opts.pool });
  } finally {
    await dav.view.closeFile({ handle }).catch(() => undefined);
  }
}

/**
 * Send bytes `[start, end)` of an open file: {@link READ_AHEAD} reads in flight, written in
 * order, at most {@link WRITE_WINDOW} chunks waiting on the socket. A file that shrank meanwhile cannot honour
 * the Content-Length already sent: the connection is cut so the client sees a short body.
 */
async function streamFile(opts: {
  view: Source;
  handle: Handle;
  start: number;
  end: number;
  res: ServerResponse;
  pool: ChunkPool;
}): Promise<void> {
  const { view, handle, end, res, pool } = opts;
  let offset = opts.start;
  const inFlight: Promise<{ bytes: Uint8Array; buf: Buffer; length: number }>[] = [];
  let queued = 0;
  let wake: (() => void) | undefined;
  const onClose = () => wake?.();
  res.on('close', onClose);
  const issue = () => {
    if (offset >= end) return;
    const length = Math.min(CHUNK, end - offset);
    const buf = pool.take();
    const read = view.read({ handle, offset, length, into: buf }).then(
      (bytes) => ({ bytes, buf, length }),
      (err: unknown) => {
        pool.give(buf);
        throw err;
      },
    );
    // Observed now (a failure while waiting for the socket is not an unhandled rejection);
    // thrown where the read is awaited.
    read.catch(() => undefined);
    inFlight.push(read);
    offset += length;
  };
  try {
    while (inFlight.length < READ_AHEAD && offset < end) issue();
    while (inFlight.length > 0) {
      const { bytes, buf, length } = await inFlight.shift()!;
      if (res.destroyed) return;
      if (bytes.length !== length) {
        res.destroy();
        return;
      }
      queued++;
      res.write(bytes, () => {
        queued--;
        pool.give(buf);
        wake?.();
      });
      issue();
      // Keep a chunk or two queued on the socket (rather than waiting for it to drain
      // empty), so the kernel always has the next bytes when the client reads.
      while (queued >= WRITE_WINDOW && !res.destroyed) await new Promise<void>((resolve) => (wake = resolve));
    }
    res.end();
  } catch (err) {
    res.destroy();
    throw err;
  } finally {
    res.off('close', onClose);
    // Reads still in flight after an early return must not reject unobserved.
    await Promise.allSettled(inFlight);
  }
}

/** A plain HTML list of a collection's members, for browsers. */
async function sendIndex(dav: DavRequest, dir: Entry, head: boolean): Promise<void> {
  dav.res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', ETag: etagOf(dir) });
  if (head) {
    dav.res.end();
    return;
  }
  const title = escapeXml(dav.path.key);
  dav.res.write(`<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>${title}</title></head><body>`);
  dav.res.write(`<h1>${title}</h1><ul>\n`);
  let cookie = '';
  for (;;) {
    const page = await dav.view.readdirp({ dir: dir.id, cookie, max: 1000 });
    const items = page.entries.map((e) => {
      const collection = e.attr.kind === 'dir';
      const href = hrefOf({ prefix: dav.prefix, path: childOf(dav.path, e.name), collection });
      return `<li><a href="${escapeXml(href)}">${escapeXml(e.name)}${collection ? '/' : ''}</a></li>\n`;
    });
    dav.res.write(items.join(''));
    if (page.eof) break;
    cookie = page.cookie;
  }
  dav.res.end('</ul></body></html>\n');
}
