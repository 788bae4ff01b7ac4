import { FsError } from '../../core/fs-error.ts';
import type { Entry } from '../../sources/source.ts';
import { sendFileBody } from '../send-file.ts';
import { contentTypeOf } from '../content-type.ts';
import { etagOf, httpDateOf, preconditions, requestedRange } from '../http-conditions.ts';
import { hrefOf, childOf } from './dav-paths.ts';
import { DavStatusError, type DavRequest } from './dav-request.ts';
import { escapeXml } from './dav-xml.ts';
import { readdirPages } from '../../sources/readdir-pages.ts';

/**
 * Apply `If-Match`, `If-None-Match` (and for reads `If-Modified-Since`) to the resource's
 * current version; true when 304 was sent, 412 thrown when a precondition fails.
 */
export function conditional(dav: DavRequest, entry: Entry | undefined, read: boolean): boolean {
  const outcome = preconditions({ req: dav.req, entry, read });
  if (outcome.status === 412) throw new DavStatusError(412, outcome.reason);
  if (outcome.status !== 304) return false;
  dav.res.writeHead(304, { ETag: etagOf(entry!) }).end();
  return true;
}

/** GET and HEAD: a file's bytes (one range at most), or a small HTML index of a collection. */
export async function handleGet(dav: DavRequest, opts: { head: boolean }): Promise<void> {
  const entry = await dav.resolve();
  if (conditional(dav, entry, true)) return;
  if (entry.attr.kind === 'dir') return sendIndex(dav, entry, opts.head);
  if (entry.attr.kind !== 'file') throw FsError.EINVAL('get', dav.path.key, 'not a regular file');
  const size = entry.attr.size;
  const range = requestedRange(dav.req, entry);
  const headers: Record<string, string | number> = {
    'Content-Type': contentTypeOf(dav.path.segments.at(-1) ?? ''),
    ETag: etagOf(entry),
    'Last-Modified': httpDateOf(entry),
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
  for await (const entries of readdirPages({ source: dav.view, dir: dir.id, max: 1000 })) {
    const items = entries.map((e) => {
      const collection = e.attr.kind === 'dir';
      const href = hrefOf({ prefix: dav.prefix, path: childOf(dav.path, e.name), collection });
      return `<li><a href="${escapeXml(href)}">${escapeXml(e.name)}${collection ? '/' : ''}</a></li>\n`;
    });
    dav.res.write(items.join(''));
  }
  dav.res.end('</ul></body></html>\n');
}
