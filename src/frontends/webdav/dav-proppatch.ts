import { httpStatusOf } from '../../core/errno.ts';
import { FsError } from '../../core/fs-error.ts';
import { hrefOf } from './dav-paths.ts';
import { isLive, type PropName, propXml, xattrNameOf } from './dav-props.ts';
import type { DavRequest } from './dav-request.ts';
import { child, escapeXml, innerXml, isElement, MULTISTATUS_OPEN, propstatXml } from './dav-xml.ts';

/** One instruction of a PROPPATCH, in document order. */
interface PropUpdate {
  op: 'set' | 'remove';
  prop: PropName;
  value: string;
}

/** The old value of an xattr before an update (undefined: it was not set), for rollback. */
type Undo = { name: string; old: Uint8Array | undefined };

/**
 * PROPPATCH (RFC 4918 §9.2): set and remove dead properties, stored as xattrs, all or
 * nothing. Live properties are protected (403); on an export without xattrs every dead
 * property is 403; the other properties of a failed request are 424 Failed Dependency.
 */
export async function handlePropPatch(dav: DavRequest): Promise<void> {
  const body = await dav.bodyXml();
  if (!body || !isElement(body, 'propertyupdate'))
    throw FsError.EINVAL('proppatch', dav.path.key, 'body must be DAV:propertyupdate');
  const updates: PropUpdate[] = [];
  for (const instr of body.children) {
    if (!isElement(instr, 'set') && !isElement(instr, 'remove')) continue;
    for (const p of child(instr, 'prop')?.children ?? [])
      updates.push({
        op: instr.name as 'set' | 'remove',
        prop: { ns: p.ns, name: p.name },
        value: innerXml(p),
      });
  }
  const entry = await dav.resolve();
  await dav.checkWrite();
  const caps = await dav.capsOf(entry.id);
  const status = new Map<PropUpdate, number>();
  for (const u of updates) {
    if (isLive(u.prop) || caps?.xattr !== true) status.set(u, 403);
  }
  const undo: Undo[] = [];
  if (status.size === 0) {
    for (const u of updates) {
      const name = xattrNameOf(u.prop);
      try {
        const old = await dav.view.getxattr({ id: entry.id, name }).catch((err: unknown) => {
          if (FsError.is(err, 'ENODATA')) return undefined;
          throw err;
        });
        if (u.op === 'set')
          await dav.view.setxattr({ id: entry.id, name, value: Buffer.from(u.value, 'utf8') });
        else if (old !== undefined) await dav.view.removexattr({ id: entry.id, name });
        undo.push({ name, old });
        status.set(u, 200);
      } catch (err) {
        status.set(u, httpStatusOf(FsError.from(err, 'proppatch', dav.path.key).code));
        break;
      }
    }
  }
  const failed = [...status.values()].some((s) => s !== 200);
  if (failed) {
    for (const { name, old } of undo.reverse()) {
      const restore =
        old === undefined
          ? dav.view.removexattr({ id: entry.id, name })
          : dav.view.setxattr({ id: entry.id, name, value: old });
      await restore.catch(() => undefined);
    }
    for (const u of updates) if (status.get(u) === 200 || !status.has(u)) status.set(u, 424);
  }
  const byStatus = new Map<number, string[]>();
  for (const u of updates) {
    const s = status.get(u) ?? 200;
    byStatus.set(s, [...(byStatus.get(s) ?? []), propXml(u.prop, '')]);
  }
  const href = hrefOf({ prefix: dav.prefix, path: dav.path, collection: entry.attr.kind === 'dir' });
  let xml = `${MULTISTATUS_OPEN}<D:response><D:href>${escapeXml(href)}</D:href>`;
  for (const [s, props] of byStatus) xml += propstatXml(props, s);
  xml += '</D:response></D:multistatus>\n';
  dav.res.writeHead(207, { 'Content-Type': 'application/xml; charset=utf-8' }).end(xml);
}
