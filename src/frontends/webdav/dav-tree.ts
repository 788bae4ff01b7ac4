import { httpStatusOf } from '../../core/errno.ts';
import { FsError } from '../../core/fs-error.ts';
import type { NodeId } from '../../core/ids.ts';
import type { Entry, Source } from '../../sources/source.ts';
import { readdirAll } from '../../sources/readdir-pages.ts';
import { removeTree } from '../../sources/remove-tree.ts';
import { splitPath } from '../../core/names.ts';
import { writeAll } from '../write-all.ts';
import { childOf, type DavPath, davPath, hrefOf, isWithin, parseDestination } from './dav-paths.ts';
import { propOfXattr } from './dav-props.ts';
import { DavStatusError, type DavRequest } from './dav-request.ts';
import { escapeXml, MULTISTATUS_OPEN, statusLine } from './dav-xml.ts';

/** Bytes per read/write when a COPY (or a MOVE across exports) copies a file. */
const COPY_CHUNK = 1024 * 1024;

/** A member that could not be removed or copied, for a 207 answer. */
interface MemberFailure {
  path: DavPath;
  collection: boolean;
  status: number;
}

/** Remove a member with everything below it (see removeTree); what fails becomes a 207 member. */
function removeMember(opts: {
  view: Source;
  parent: NodeId;
  name: string;
  entry: Entry;
  path: DavPath;
  failures: MemberFailure[];
}): Promise<boolean> {
  return removeTree({
    source: opts.view,
    parent: opts.parent,
    name: opts.name,
    entry: opts.entry,
    path: opts.path.key,
    onFailure: (f) =>
      opts.failures.push({
        path: davPath(splitPath('delete', f.path)),
        collection: f.dir,
        status: httpStatusOf(f.error.code),
      }),
  });
}

/** Answer 207 listing the members that failed. */
function sendFailures(dav: DavRequest, failures: readonly MemberFailure[]): void {
  let xml = MULTISTATUS_OPEN;
  for (const f of failures) {
    const href = hrefOf({ prefix: dav.prefix, path: f.path, collection: f.collection });
    xml += `<D:response><D:href>${escapeXml(href)}</D:href><D:status>${statusLine(f.status)}</D:status></D:response>`;
  }
  dav.res
    .writeHead(207, { 'Content-Type': 'application/xml; charset=utf-8' })
    .end(`${xml}</D:multistatus>\n`);
}

/** The name of a non-root path, refusing the namespace root (it cannot be removed or replaced). */
function nameOf(path: DavPath, op: string): string {
  const name = path.segments.at(-1);
  if (name === undefined) throw FsError.EACCES(op, '/', 'the namespace root cannot be changed');
  return name;
}

/** DELETE: a file, or a collection with everything in it (members that fail: 207). */
export async function handleDelete(dav: DavRequest): Promise<void> {
  const name = nameOf(dav.path, 'delete');
  const { parent, entry } = await dav.locate();
  if (!parent || !entry) throw FsError.ENOENT('delete', dav.path.key);
  await dav.checkWrite({ membership: true, subtree: true });
  const failures: MemberFailure[] = [];
  await removeMember({ view: dav.view, parent: parent.id, name, entry, path: dav.path, failures });
  dav.locks.dropWithin(dav.path);
  if (failures.length > 0) {
    // The request's own resource failing alone is a plain error status.
    const only = failures.length === 1 ? failures[0] : undefined;
    if (only?.path.key === dav.path.key) {
      dav.res.writeHead(only.status).end();
      return;
    }
    return sendFailures(dav, failures);
  }
  dav.res.writeHead(204).end();
}

/** MKCOL: a new, empty collection. */
export async function handleMkcol(dav: DavRequest): Promise<void> {
  const name = nameOf(dav.path, 'mkcol');
  const body = await dav.bodyText();
  if (body.length > 0) throw new DavStatusError(415, 'MKCOL with a body is not supported');
  const found = await dav.locate();
  if (found.entry) throw new DavStatusError(405, `${dav.path.key} already exists`);
  const parent = dav.parentDir(found.parent);
  await dav.checkWrite({ membership: true });
  await dav.view.mkdir({ parent: parent.id, name, mode: 0o755 });
  dav.res.writeHead(201).end();
}

/** Copy a file's bytes into a new file, which appears whole when done. */
async function copyFile(opts: {
  view: Source;
  src: Entry;
  parent: NodeId;
  name: string;
  path: string;
}): Promise<void> {
  const { view, src, parent, name, path } = opts;
  const { handle: from } = await view.openFile({ id: src.id, flags: { read: true, write: false } });
  try {
    const created = await view.create({
      parent,
      name,
      mode: src.attr.mode & 0o777,
      flags: { read: false, write: true },
    });
    try {
      const buf = Buffer.allocUnsafe(COPY_CHUNK);
      for (let offset = 0; ;) {
        const bytes = await view.read({ handle: from, offset, length: COPY_CHUNK, into: buf });
        if (bytes.length === 0) break;
        await writeAll({ source: view, handle: created.handle, offset, data: bytes, op: 'copy', path });
        offset += bytes.length;
      }
    } catch (err) {
      await view.closeFile({ handle: created.handle, abort: true }).catch(() => undefined);
      throw err;
    }
    await view.closeFile({ handle: created.handle });
    await copyDeadProps(view, src.id, created.id);
  } finally {
    await view.closeFile({ handle: from }).catch(() => undefined);
  }
}

/** Copy the dead properties (`user.dav.*` xattrs), where both ends hold xattrs. */
async function copyDeadProps(view: Source, from: NodeId, to: NodeId): Promise<void> {
  const names = await view.listxattr({ id: from }).catch(() => [] as string[]);
  for (const name of names) {
    if (!propOfXattr(name)) continue;
    const value = await view.getxattr({ id: from, name }).catch(() => undefined);
    if (value !== undefined) await view.setxattr({ id: to, name, value }).catch(() => undefined);
  }
}

/** Copy `src` to `name` in `parent`: a file, a symlink, or a collection (with members if `deep`). */
async function copyTree(opts: {
  view: Source;
  src: Entry;
  parent: NodeId;
  name: string;
  deep: boolean;
  path: DavPath;
  failures: MemberFailure[];
}): Promise<void> {
  const { view, src, parent, name, path, failures } = opts;
  try {
    if (src.attr.kind === 'file') return await copyFile({ view, src, parent, name, path: path.key });
    if (src.attr.kind === 'symlink') {
      await view.symlink({ parent, name, target: await view.readlink({ id: src.id }) });
      return;
    }
    if (src.attr.kind !== 'dir') throw FsError.EINVAL('copy', path.key, `cannot copy a ${src.attr.kind}`);
    const made = await view.mkdir({ parent, name, mode: src.attr.mode & 0o777 });
    await copyDeadProps(view, src.id, made.id);
    if (!opts.deep) return;
    for (const e of await readdirAll({ source: view, dir: src.id, max: 10_000 }))
      await copyTree({
        view,
        src: e,
        parent: made.id,
        name: e.name,
        deep: true,
        path: childOf(path, e.name),
        failures,
      });
  } catch (err) {
    failures.push({
      path,
      collection: src.attr.kind === 'dir',
      status: httpStatusOf(FsError.from(err, 'copy', path.key).code),
    });
  }
}

/**
 * COPY and MOVE (RFC 4918 §9.8, §9.9). MOVE renames within an export (atomically replacing a
 * file) and copies then deletes across exports (EXDEV). An existing destination is removed
 * first unless `Overwrite: F` (412). Copying a collection into itself is refused (403).
 */
export async function handleCopyMove(dav: DavRequest, move: boolean): Promise<void> {
  const op = move ? 'move' : 'copy';
  const header = dav.header('destination');
  if (header === undefined) throw FsError.EINVAL(op, dav.path.key, 'Destination header missing');
  let dest: DavPath;
  try {
    dest = parseDestination({ header, prefix: dav.prefix });
  } catch (err) {
    if (FsError.is(err, 'EXDEV')) throw new DavStatusError(502, err.message);
    throw err;
  }
  const srcName = nameOf(dav.path, op);
  const destName = nameOf(dest, op);
  const { parent: srcParent, entry: src } = await dav.locate();
  if (!srcParent || !src) throw FsError.ENOENT(op, dav.path.key);
  const depth = dav.depth('infinity');
  if (src.attr.kind === 'dir' && (depth === '1' || (move && depth !== 'infinity')))
    throw FsError.EINVAL(op, dav.path.key, `Depth ${depth} is not allowed for ${op} of a collection`);
  if (isWithin(dest, dav.path) || (move && isWithin(dav.path, dest)))
    throw FsError.EACCES(op, dest.key, 'source and destination overlap');
  const target = await dav.locate(dest);
  const destParent = dav.parentDir(target.parent, dest);
  const existing = target.entry;
  if (existing && !dav.overwrite()) throw new DavStatusError(412, `${dest.key} exists and Overwrite is F`);
  await dav.checkIf();
  if (move) dav.checkLocks({ membership: true, subtree: true });
  dav.checkLocks({ path: dest, membership: true, subtree: true });
  const { view } = dav;
  const failures: MemberFailure[] = [];
  let renamed = false;
  if (existing && !(move && existing.attr.kind !== 'dir' && src.attr.kind !== 'dir')) {
    await removeMember({
      view,
      parent: destParent.id,
      name: destName,
      entry: existing,
      path: dest,
      failures,
    });
    if (failures.length > 0) return sendFailures(dav, failures);
  }
  if (move) {
    try {
      await view.rename({ parent: srcParent.id, name: srcName, newParent: destParent.id, newName: destName });
      renamed = true;
    } catch (err) {
      if (!FsError.is(err, 'EXDEV')) throw err;
      // Across exports: a file replaced by rename above was kept, remove it now.
      const still = await dav.find(dest);
      if (still)
        await removeMember({
          view,
          parent: destParent.id,
          name: destName,
          entry: still,
          path: dest,
          failures,
        });
    }
  }
  if (!renamed) {
    await copyTree({
      view,
      src,
      parent: destParent.id,
      name: destName,
      deep: depth === 'infinity',
      path: dest,
      failures,
    });
    if (move && failures.length === 0)
      await removeMember({ view, parent: srcParent.id, name: srcName, entry: src, path: dav.path, failures });
  }
  if (move) dav.locks.dropWithin(dav.path);
  if (failures.length > 0) return sendFailures(dav, failures);
  dav.res.writeHead(existing ? 204 : 201).end();
}
