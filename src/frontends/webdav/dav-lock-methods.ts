import { FsError } from '../../core/fs-error.ts';
import { type DavLock, parseTimeout } from './dav-locks.ts';
import { hrefOf } from './dav-paths.ts';
import { activeLockXml } from './dav-props.ts';
import { DavStatusError, type DavRequest } from './dav-request.ts';
import { child, innerXml, isElement } from './dav-xml.ts';

function lockAnswer(dav: DavRequest, lock: DavLock, status: number, collection: boolean): void {
  const href = hrefOf({ prefix: dav.prefix, path: lock.root, collection });
  const xml =
    '<?xml version="1.0" encoding="utf-8"?>\n<D:prop xmlns:D="DAV:"><D:lockdiscovery>' +
    `${activeLockXml(lock, href)}</D:lockdiscovery></D:prop>\n`;
  dav.res
    .writeHead(status, { 'Content-Type': 'application/xml; charset=utf-8', 'Lock-Token': `<${lock.token}>` })
    .end(xml);
}

/**
 * LOCK (RFC 4918 §9.10): a new write lock (exclusive or shared, depth 0 or infinity) with the
 * request's `lockinfo`, or, without a body, a refresh of the lock whose token the `If` header
 * names. Locking an unmapped URL creates an empty file there (201).
 */
export async function handleLock(dav: DavRequest): Promise<void> {
  const body = await dav.bodyXml();
  const timeoutSec = parseTimeout(dav.header('timeout'));
  if (!body) {
    const lock = dav.locks
      .covering(dav.path)
      .find((l) => dav.tokens.has(l.token) && l.credentialId === dav.grant.credentialId);
    if (!lock) throw new DavStatusError(412, 'no lock of this credential is named in the If header');
    const entry = await dav.find();
    dav.locks.refresh(lock, timeoutSec);
    return lockAnswer(dav, lock, 200, entry?.attr.kind === 'dir');
  }
  if (!isElement(body, 'lockinfo')) throw FsError.EINVAL('lock', dav.path.key, 'body must be DAV:lockinfo');
  const scopeEl = child(body, 'lockscope');
  const scope =
    scopeEl && child(scopeEl, 'shared')
      ? 'shared'
      : scopeEl && child(scopeEl, 'exclusive')
        ? 'exclusive'
        : undefined;
  if (!scope) throw FsError.EINVAL('lock', dav.path.key, 'lockinfo needs lockscope exclusive or shared');
  const typeEl = child(body, 'locktype');
  if (!typeEl || !child(typeEl, 'write'))
    throw FsError.EINVAL('lock', dav.path.key, 'only write locks exist');
  const depth = dav.depth('infinity');
  if (depth === '1') throw FsError.EINVAL('lock', dav.path.key, 'Depth must be 0 or infinity');
  const owner = child(body, 'owner');

  const name = dav.path.segments.at(-1);
  // One walk gives the parent too, which a lock on an unmapped URL creates the file in.
  const found = name === undefined ? { parent: undefined, entry: await dav.find() } : await dav.locate();
  const { entry } = found;
  await dav.checkIf();
  if (!entry) {
    if (name === undefined) throw FsError.EACCES('lock', '/', 'the namespace root cannot be locked');
    // A new member of the parent collection: its locks need their tokens.
    dav.checkLocks({ membership: true });
  }
  // Conflicts with other locks are the lock manager's to find (shared locks coexist).
  const lock = dav.locks.lock({
    root: dav.path,
    depth: entry?.attr.kind === 'dir' ? depth : '0',
    scope,
    ownerXml: owner ? innerXml(owner) : '',
    credentialId: dav.grant.credentialId,
    timeoutSec,
  });
  if (!entry && name !== undefined) {
    try {
      const parent = dav.parentDir(found.parent);
      const created = await dav.view.create({ parent: parent.id, name, mode: 0o644, exclusive: true });
      await dav.view.closeFile({ handle: created.handle });
    } catch (err) {
      dav.locks.unlock(lock.token);
      throw err;
    }
  }
  const status = entry ? 200 : 201;
  lockAnswer(dav, lock, status, entry?.attr.kind === 'dir');
}

/** UNLOCK (RFC 4918 §9.11): remove the lock named by `Lock-Token`, if it covers the resource. */
export async function handleUnlock(dav: DavRequest): Promise<void> {
  const header = dav.header('lock-token')?.trim();
  const token = header?.replace(/^<(.*)>$/, '$1');
  if (!token) throw FsError.EINVAL('unlock', dav.path.key, 'Lock-Token header missing');
  const lock = dav.locks.covering(dav.path).find((l) => l.token === token);
  if (!lock) {
    const xml =
      '<?xml version="1.0" encoding="utf-8"?>\n<D:error xmlns:D="DAV:"><D:lock-token-matches-request-uri/></D:error>';
    dav.res.writeHead(409, { 'Content-Type': 'application/xml; charset=utf-8' }).end(xml);
    return;
  }
  if (lock.credentialId !== dav.grant.credentialId)
    throw FsError.EACCES('unlock', dav.path.key, 'the lock belongs to another credential');
  dav.locks.unlock(token);
  dav.res.writeHead(204).end();
}
