import { uploadFile } from '../receive-body.ts';
import { conditional } from './dav-get.ts';
import { etagOf } from '../http-conditions.ts';
import { DavStatusError, type DavRequest } from './dav-request.ts';

/**
 * PUT: the body becomes the file's content, all at once. The file is written through one
 * handle and appears (or replaces the old content) only when the handle closes, so readers
 * never see a partial upload; an upload that fails or is cut off is discarded (`abort`).
 * Sources without atomic writes get a hidden temporary file renamed over the target.
 */
export async function handlePut(dav: DavRequest): Promise<void> {
  if (dav.req.headers['content-range'] !== undefined)
    throw new DavStatusError(400, 'partial PUT (Content-Range) is not supported');
  const name = dav.path.segments.at(-1);
  if (name === undefined) throw new DavStatusError(405, 'PUT on the namespace root');
  const found = await dav.locate();
  const existing = found.entry;
  if (existing?.attr.kind === 'dir') throw new DavStatusError(405, 'PUT on a collection');
  conditional(dav, existing, false);
  await dav.checkWrite({ membership: existing === undefined });
  const parent = dav.parentDir(found.parent);
  let written = await uploadFile({
    req: dav.req,
    source: dav.view,
    parent: parent.id,
    name,
    existing,
    exclusive: dav.req.headers['if-none-match']?.trim() === '*',
    atomic: (await dav.capsOf(parent.id))?.atomic_write !== false,
    op: 'put',
    path: dav.path.key,
  });
  // The ETag is of what was written, after X-OC-Mtime (which changes it).
  const headers: Record<string, string> = {};
  const mtimeNs = ocMtimeOf(dav.header('x-oc-mtime'));
  if (mtimeNs !== undefined) {
    written = { id: written.id, attr: await dav.view.setattr({ id: written.id, mtimeNs }) };
    headers['X-OC-Mtime'] = 'accepted';
  }
  headers.ETag = etagOf(written);
  dav.res.writeHead(existing ? 204 : 201, headers).end();
}

/**
 * The modification time (ns) an `X-OC-Mtime` header gives (seconds since the epoch, maybe
 * fractional), which ownCloud-style clients such as rclone's webdav backend send so the
 * upload keeps its time; undefined without one or when it is not such a number.
 */
export function ocMtimeOf(header: string | undefined): bigint | undefined {
  const value = header?.trim();
  if (value === undefined || !/^\d{1,12}(\.\d{1,9})?$/.test(value)) return undefined;
  const [sec = '0', frac = ''] = value.split('.');
  return BigInt(sec) * 1_000_000_000n + BigInt(frac.padEnd(9, '0'));
}
