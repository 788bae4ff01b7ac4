import { FsError } from '../../core/fs-error.ts';
import { nsToMs } from '../../core/attr.ts';
import type { Entry } from '../../sources/source.ts';
import { sendFileBody } from '../send-file.ts';
import { contentTypeOf } from './dav-content-type.ts';
import { hrefOf, childOf } from './dav-paths.ts';
import { DavStatusError, type DavRequest, etagOf } from './dav-request.ts';
import { escapeXml } from './dav-xml.ts';

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
export async function handleGet(dav: DavRequest, opts: { head: boolean }): Promise<void> {
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
    // A short body has already cut the connection: nothing more to tell the client.
    await sendFileBody({ source: dav.view, handle, start, end, res: dav.res });
  } finally {
    await dav.view.closeFile({ handle }).catch(() => undefined);
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
