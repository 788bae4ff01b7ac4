import { FsError } from './fs-error.ts';

/** Longest file name, in UTF-8 bytes, any Source accepts. */
export const NAME_MAX = 255;

/**
 * Check one path segment: no empty name, `.`/`..`, `/` or NUL. Anything that could escape a
 * parent directory is refused here, at every Source's edge, before it touches storage.
 */
export function checkName(op: string, name: string): string {
  if (typeof name !== 'string' || name.length === 0) throw FsError.EINVAL(op, name, 'empty file name');
  if (name === '.' || name === '..') throw FsError.EINVAL(op, name, `'${name}' is not a file name`);
  if (name.includes('/')) throw FsError.EINVAL(op, name, "file name contains '/'");
  if (name.includes('\0')) throw FsError.EINVAL(op, name.replaceAll('\0', '\\0'), 'file name contains NUL');
  if (Buffer.byteLength(name, 'utf8') > NAME_MAX) throw FsError.ENAMETOOLONG(op, name);
  return name;
}

/**
 * Split an absolute '/'-separated path into checked segments. `.` segments and repeated
 * slashes are dropped; `..` is refused rather than resolved, so no path can climb out.
 */
export function splitPath(op: string, path: string): string[] {
  if (!path.startsWith('/')) throw FsError.EINVAL(op, path, 'path must be absolute');
  const out: string[] = [];
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') throw FsError.EINVAL(op, path, "'..' is not allowed in a path");
    out.push(checkName(op, seg));
  }
  return out;
}

/** Join segments into the canonical absolute form (`/` for none). */
export function joinPath(segments: readonly string[]): string {
  return '/' + segments.join('/');
}

/** The path of `name` inside the directory at canonical path `parent` (`/` + name for the root). */
export function childPath(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`;
}
