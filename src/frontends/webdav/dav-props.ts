import { nsToMs } from '../../core/attr.ts';
import type { Caps, Entry, Source } from '../../sources/source.ts';
import { contentTypeOf } from '../content-type.ts';
import type { DavLock } from './dav-locks.ts';
import type { DavPath } from './dav-paths.ts';
import { etagOf } from '../http-conditions.ts';
import { DAV_NS, escapeXml, propElement } from './dav-xml.ts';

/** A property name: namespace URI and local name. */
export interface PropName {
  ns: string;
  name: string;
}

/** The live properties Tessera computes (all in `DAV:`); clients cannot change them. */
export const LIVE_PROPS = [
  'resourcetype',
  'getcontentlength',
  'getlastmodified',
  'creationdate',
  'getetag',
  'getcontenttype',
  'displayname',
  'supportedlock',
  'lockdiscovery',
] as const;

const LIVE = new Set<string>(LIVE_PROPS);

/** Whether `{ns}name` is a live (protected) property. */
export function isLive(prop: PropName): boolean {
  return prop.ns === DAV_NS && LIVE.has(prop.name);
}

/** Dead properties are stored as extended attributes named `user.dav.{ns}name`. */
const XATTR_PREFIX = 'user.dav.';

/** The xattr name holding a dead property. */
export function xattrNameOf(prop: PropName): string {
  return `${XATTR_PREFIX}{${prop.ns}}${prop.name}`;
}

/** The dead property an xattr name holds, if it is one. */
export function propOfXattr(xattr: string): PropName | undefined {
  if (!xattr.startsWith(XATTR_PREFIX)) return undefined;
  const m = /^\{([^}]*)\}(.+)$/s.exec(xattr.slice(XATTR_PREFIX.length));
  return m ? { ns: m[1] ?? '', name: m[2] ?? '' } : undefined;
}

/** The `activelock` element of a lock (LOCK answers and `lockdiscovery`). */
export function activeLockXml(lock: DavLock, href: string): string {
  return (
    `<D:activelock><D:locktype><D:write/></D:locktype><D:lockscope><D:${lock.scope}/></D:lockscope>` +
    `<D:depth>${lock.depth === 'infinity' ? 'infinity' : '0'}</D:depth>` +
    (lock.ownerXml === '' ? '' : `<D:owner>${lock.ownerXml}</D:owner>`) +
    `<D:timeout>Second-${lock.timeoutSec}</D:timeout>` +
    `<D:locktoken><D:href>${escapeXml(lock.token)}</D:href></D:locktoken>` +
    `<D:lockroot><D:href>${escapeXml(href)}</D:href></D:lockroot></D:activelock>`
  );
}

/** What the live properties of one resource are computed from. */
export interface PropTarget {
  entry: Entry;
  path: DavPath;
  locks: readonly DavLock[];
  /** The href of each lock's root. */
  lockHref: (lock: DavLock) => string;
}

/** A live property's content (XML), or undefined when the resource has none by that name. */
export function liveProp(name: string, t: PropTarget): string | undefined {
  const { attr } = t.entry;
  const collection = attr.kind === 'dir';
  switch (name) {
    case 'resourcetype':
      return collection ? '<D:collection/>' : '';
    case 'getcontentlength':
      return collection ? undefined : String(attr.size);
    case 'getlastmodified':
      return new Date(nsToMs(attr.mtimeNs)).toUTCString();
    case 'creationdate':
      // No birth time in the Source contract: the inode change time is the closest.
      return new Date(nsToMs(attr.ctimeNs)).toISOString();
    case 'getetag':
      return escapeXml(etagOf(t.entry));
    case 'getcontenttype':
      return collection ? undefined : escapeXml(contentTypeOf(t.path.segments.at(-1) ?? ''));
    case 'displayname':
      return escapeXml(t.path.segments.at(-1) ?? '');
    case 'supportedlock':
      return (
        '<D:lockentry><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>' +
        '<D:lockentry><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>'
      );
    case 'lockdiscovery':
      return t.locks.map((l) => activeLockXml(l, t.lockHref(l))).join('');
    default:
      return undefined;
  }
}

/**
 * The dead properties of a resource and their values (XML content), from its xattrs; none
 * where the export has no xattrs. A failure to read them counts as none, so one odd file does
 * not fail a whole listing.
 */
export async function deadProps(opts: {
  view: Source;
  entry: Entry;
  caps: Caps | undefined;
  want?: readonly PropName[] | undefined;
}): Promise<Map<string, { prop: PropName; value: string }>> {
  const out = new Map<string, { prop: PropName; value: string }>();
  if (opts.caps?.xattr !== true) return out;
  let names: string[];
  try {
    names = await opts.view.listxattr({ id: opts.entry.id });
  } catch {
    return out;
  }
  const wanted = opts.want ? new Set(opts.want.map(xattrNameOf)) : undefined;
  for (const xattr of names) {
    const prop = propOfXattr(xattr);
    if (!prop || (wanted && !wanted.has(xattr))) continue;
    try {
      const value = Buffer.from(await opts.view.getxattr({ id: opts.entry.id, name: xattr })).toString(
        'utf8',
      );
      out.set(xattr, { prop, value });
    } catch {
      // Gone between list and get: not there.
    }
  }
  return out;
}

/** A property element with content, for a `prop` block. */
export function propXml(prop: PropName, inner: string): string {
  return propElement({ ns: prop.ns, name: prop.name, inner });
}
