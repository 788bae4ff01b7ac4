import { randomBytes } from 'node:crypto';
import { receiveBody } from '../receive-body.ts';
import type { Handle } from '../../sources/source.ts';
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
  const caps = await dav.capsOf(parent.id);
  const exclusive = dav.req.headers['if-none-match']?.trim() === '*';
  const { view } = dav;

  let handle: Handle;
  let temp: string | undefined;
  if (caps?.atomic_write === false) {
    temp = `.${name}.tessera-put-${randomBytes(6).toString('hex')}`;
    ({ handle } = await view.create({ parent: parent.id, name: temp, mode: 0o644, exclusive: true }));
  } else if (existing) {
    ({ handle } = await view.openFile({
      id: existing.id,
      flags: { read: false, write: true, truncate: true },
    }));
  } else {
    ({ handle } = await view.create({ parent: parent.id, name, mode: 0o644, exclusive }));
  }
  try {
    await receiveBody({ req: dav.req, source: view, handle, op: 'put', path: dav.path.key });
  } catch (err) {
    await view.closeFile({ handle, abort: true }).catch(() => undefined);
    if (temp !== undefined) await view.unlink({ parent: parent.id, name: temp }).catch(() => undefined);
    throw err;
  }
  await view.closeFile({ handle });
  if (temp !== undefined)
    await view.rename({ parent: parent.id, name: temp, newParent: parent.id, newName: name });
  // One lookup gives the ETag of what was written (after X-OC-Mtime, which changes it).
  let written = await view.lookup({ parent: parent.id, name });
  const headers: Record<string, string> = {};
  const mtimeNs = ocMtimeOf(dav.header('x-oc-mtime'));
  if (mtimeNs !== undefined) {
    written = { id: written.id, attr: await view.setattr({ id: written.id, mtimeNs }) };
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
