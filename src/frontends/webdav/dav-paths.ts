import { FsError } from '../../core/fs-error.ts';
import { checkName } from '../../core/names.ts';

/**
 * A WebDAV resource path: the namespace path segments below the surface's prefix. `key` is
 * the canonical form (`/a/b`, `/` for the root) the lock manager and hrefs use.
 */
export interface DavPath {
  segments: readonly string[];
  key: string;
}

/** A path from segments. */
export function davPath(segments: readonly string[]): DavPath {
  return { segments, key: '/' + segments.join('/') };
}

/**
 * The resource path of a request URL path (`/dav/a%20b/c` with prefix `/dav`): percent-decoded
 * segments, each checked like any file name (`..`, NUL, over-long names are `EINVAL` /
 * `ENAMETOOLONG`, answered 400 / 414). Undefined when the path is not under `prefix`.
 */
export function parseDavPath(opts: { pathname: string; prefix: string }): DavPath | undefined {
  const { pathname, prefix } = opts;
  if (pathname !== prefix && !pathname.startsWith(`${prefix}/`)) return undefined;
  const segments: string[] = [];
  for (const raw of pathname.slice(prefix.length).split('/')) {
    if (raw === '' || raw === '.') continue;
    let name: string;
    try {
      name = decodeURIComponent(raw);
    } catch {
      throw FsError.EINVAL('webdav', raw, 'malformed percent-encoding in the path');
    }
    segments.push(checkName('webdav', name));
  }
  return davPath(segments);
}

/** The parent of a non-root path. */
export function parentOf(path: DavPath): DavPath {
  return davPath(path.segments.slice(0, -1));
}

/** `child` under `parent`. */
export function childOf(parent: DavPath, name: string): DavPath {
  return davPath([...parent.segments, name]);
}

/** Whether `inner` is `outer` or below it. */
export function isWithin(inner: DavPath, outer: DavPath): boolean {
  if (inner.segments.length < outer.segments.length) return false;
  return outer.segments.every((s, i) => inner.segments[i] === s);
}

/**
 * The href of a path under `prefix`: every segment percent-encoded (RFC 3986 unreserved
 * characters and sub-delims kept), with a trailing slash for collections.
 */
export function hrefOf(opts: { prefix: string; path: DavPath; collection: boolean }): string {
  const { prefix, path, collection } = opts;
  const body = path.segments.map(encodeSegment).join('/');
  if (body === '') return `${prefix}/`;
  return `${prefix}/${body}${collection ? '/' : ''}`;
}

function encodeSegment(name: string): string {
  return encodeURIComponent(name).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/**
 * The resource path a `Destination` header names: an absolute URL or an absolute path, which
 * must lie under `prefix` on this server (else `EXDEV`, answered 502 Bad Gateway by the caller).
 */
export function parseDestination(opts: { header: string; prefix: string }): DavPath {
  let pathname: string;
  try {
    pathname = new URL(opts.header, 'http://destination.invalid').pathname;
  } catch {
    throw FsError.EINVAL('webdav', opts.header, 'malformed Destination header');
  }
  const path = parseDavPath({ pathname, prefix: opts.prefix });
  if (!path) throw FsError.EXDEV('webdav', opts.header, `Destination is not under ${opts.prefix}/`);
  return path;
}
