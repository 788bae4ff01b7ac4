import { FsError } from '../../core/fs-error.ts';
import type { Entry } from '../../sources/source.ts';
import { childOf, type DavPath, hrefOf } from './dav-paths.ts';
import { deadProps, isLive, LIVE_PROPS, liveProp, type PropName, propXml, xattrNameOf } from './dav-props.ts';
import type { DavRequest } from './dav-request.ts';
import { child, DAV_NS, escapeXml, isElement, MULTISTATUS_OPEN, propstatXml } from './dav-xml.ts';
import { readdirPages } from '../../sources/readdir-pages.ts';

/** Entries per `readdirp` page while listing a collection. */
const PAGE = 1000;

/** What a PROPFIND asks for. */
type PropfindKind =
  { kind: 'allprop'; include: PropName[] } | { kind: 'propname' } | { kind: 'prop'; props: PropName[] };

async function parseRequest(dav: DavRequest): Promise<PropfindKind> {
  const body = await dav.bodyXml();
  if (!body) return { kind: 'allprop', include: [] };
  if (!isElement(body, 'propfind'))
    throw FsError.EINVAL('propfind', dav.path.key, 'body must be DAV:propfind');
  if (child(body, 'propname')) return { kind: 'propname' };
  const prop = child(body, 'prop');
  if (prop) return { kind: 'prop', props: prop.children.map((c) => ({ ns: c.ns, name: c.name })) };
  if (child(body, 'allprop')) {
    const include = child(body, 'include');
    return { kind: 'allprop', include: (include?.children ?? []).map((c) => ({ ns: c.ns, name: c.name })) };
  }
  throw FsError.EINVAL('propfind', dav.path.key, 'DAV:propfind needs prop, propname or allprop');
}

/**
 * PROPFIND (RFC 4918 §9.1) with Depth 0 or 1: live properties from the entry's attributes,
 * dead properties from its xattrs. Depth infinity is refused (403 propfind-finite-depth), as
 * the RFC allows: a listing of a whole export in one answer is a denial of service. The
 * answer is streamed, one `readdirp` page at a time.
 */
export async function handlePropfind(dav: DavRequest): Promise<void> {
  const depth = dav.depth('infinity');
  const request = await parseRequest(dav);
  if (depth === 'infinity') {
    dav.res
      .writeHead(403, { 'Content-Type': 'application/xml; charset=utf-8' })
      .end(
        '<?xml version="1.0" encoding="utf-8"?>\n<D:error xmlns:D="DAV:"><D:propfind-finite-depth/></D:error>',
      );
    return;
  }
  const entry = await dav.resolve();
  const { res } = dav;
  res.writeHead(207, { 'Content-Type': 'application/xml; charset=utf-8' });
  res.write(MULTISTATUS_OPEN);
  res.write(await responseXml(dav, dav.path, entry, request));
  if (depth === '1' && entry.attr.kind === 'dir') {
    for await (const entries of readdirPages({ source: dav.view, dir: entry.id, max: PAGE })) {
      const parts = await Promise.all(
        entries.map((e) => responseXml(dav, childOf(dav.path, e.name), e, request)),
      );
      if (!res.write(parts.join(''))) await new Promise((resolve) => res.once('drain', resolve));
    }
  }
  res.end('</D:multistatus>\n');
}

/** One `response` element of a PROPFIND answer. */
async function responseXml(
  dav: DavRequest,
  path: DavPath,
  entry: Entry,
  request: PropfindKind,
): Promise<string> {
  const collection = entry.attr.kind === 'dir';
  const target = {
    entry,
    path,
    locks: dav.locks.covering(path),
    // A lock rooted above this resource is on a collection.
    lockHref: (l: { root: DavPath }) =>
      hrefOf({ prefix: dav.prefix, path: l.root, collection: l.root.key === path.key ? collection : true }),
  };
  const found: string[] = [];
  const missing: string[] = [];
  const caps = await dav.capsOf(entry.id);
  if (request.kind === 'prop') {
    const deadWanted = request.props.filter((p) => !isLive(p));
    const dead =
      deadWanted.length > 0 ? await deadProps({ view: dav.view, entry, caps, want: deadWanted }) : undefined;
    for (const p of request.props) {
      const dv = isLive(p) ? liveProp(p.name, target) : dead?.get(xattrNameOf(p))?.value;
      if (dv === undefined) missing.push(propXml(p, ''));
      else found.push(propXml(p, dv));
    }
  } else {
    for (const name of LIVE_PROPS) {
      if (request.kind === 'allprop' && name === 'lockdiscovery' && target.locks.length === 0) continue;
      const value = liveProp(name, target);
      if (value !== undefined)
        found.push(propXml({ ns: DAV_NS, name }, request.kind === 'propname' ? '' : value));
    }
    for (const { prop, value } of (await deadProps({ view: dav.view, entry, caps })).values())
      found.push(propXml(prop, request.kind === 'propname' ? '' : value));
  }
  const href = hrefOf({ prefix: dav.prefix, path, collection });
  let xml = `<D:response><D:href>${escapeXml(href)}</D:href>`;
  if (found.length > 0) xml += propstatXml(found, 200);
  if (missing.length > 0) xml += propstatXml(missing, 404);
  return `${xml}</D:response>`;
}
