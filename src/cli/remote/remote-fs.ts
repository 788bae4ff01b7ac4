import type { Attr } from '../../core/attr.ts';
import { FsError } from '../../core/fs-error.ts';
import { exportIndexOf, localPartOf, type NodeId, rootId } from '../../core/ids.ts';
import { checkName, joinPath, splitPath } from '../../core/names.ts';
import type { RemoteSource } from '../../client/remote-source.ts';
import { readdirPages } from '../../sources/readdir-pages.ts';
import type { DirEntry, ExportInfo } from '../../sources/source.ts';

/** Symlinks followed while resolving one path, as Linux allows (`MAXSYMLINKS`). */
export const MAX_SYMLINK_HOPS = 40;
/** Entries asked for per READDIRP page (well inside the protocol's 256 KiB header limit). */
export const PAGE_SIZE = 256;

/** A resolved namespace path. */
export interface Resolved {
  /** The canonical path reached (symlinks on the way replaced by their targets). */
  path: string;
  id: NodeId;
  attr: Attr;
}

/** Errors that are about the session, not the path: they keep their own wording. */
const SESSION_ERRORS = new Set(['ECONNRESET', 'ESHUTDOWN', 'ENOTCONN', 'EPROTO', 'ECONNREFUSED']);

/** The detail an FsError was built with (its message without the code and op/path parts). */
function detailOf(e: FsError): string | undefined {
  const prefix = `${e.code}: `;
  const suffix = `${e.op ? `, ${e.op}` : ''}${e.path !== undefined ? ` '${e.path}'` : ''}`;
  if (!e.message.startsWith(prefix) || !e.message.endsWith(suffix)) return undefined;
  const detail = e.message.slice(prefix.length, e.message.length - suffix.length);
  return detail === '' ? undefined : detail;
}

/**
 * The same error told in namespace terms: the node names ids and single names, the user
 * typed a path (`ENOENT: no such file or directory, lookup '/docs/x'`).
 */
export function relabel(err: unknown, op: string, path: string): FsError {
  const e = FsError.from(err, op, path);
  if (SESSION_ERRORS.has(e.code) || (e.op === op && e.path === path)) return e;
  return new FsError({ code: e.code, op, path, detail: detailOf(e), retryable: e.retryable, cause: e });
}

/** The last segment of a namespace path (`''` for `/`). */
export function baseName(path: string): string {
  return splitPath('path', path).at(-1) ?? '';
}

/**
 * Namespace paths over a RemoteSource: resolution from the root id (export 0, whose entries
 * are the mount points `/<export>`), symlinks followed within the namespace — relative targets
 * only, at most {@link MAX_SYMLINK_HOPS}, never above `/` — and paged listings.
 */
export class RemoteFs {
  readonly source: RemoteSource;
  readonly command: string;
  #exports: ExportInfo[] | undefined;

  constructor(opts: { source: RemoteSource; command: string }) {
    this.source = opts.source;
    this.command = opts.command;
  }

  /** The root of the namespace. */
  async root(): Promise<Resolved> {
    const id = rootId(0);
    return { path: '/', id, attr: await this.source.getattr({ id }) };
  }

  /**
   * Resolve an absolute path. Symlinks in the middle are always followed; a final symlink
   * only with `follow` (`stat`/`ls` show the link itself, `cat`/`get` read its target).
   */
  async resolve(path: string, opts: { follow: boolean }): Promise<Resolved> {
    return (await this.#resolve(path, { ...opts, missingOk: false }))!;
  }

  /** Like `resolve`, but a missing last name gives undefined (other errors are thrown). */
  async tryResolve(path: string, opts: { follow: boolean }): Promise<Resolved | undefined> {
    return this.#resolve(path, { ...opts, missingOk: true });
  }

  async #resolve(path: string, opts: { follow: boolean; missingOk: boolean }): Promise<Resolved | undefined> {
    let queue = splitPath('lookup', path);
    let done: string[] = [];
    let cur = await this.root();
    let hops = 0;
    while (queue.length > 0) {
      const name = queue[0]!;
      const here = joinPath([...done, name]);
      let entry;
      try {
        entry = await this.source.lookup({ parent: cur.id, name });
      } catch (err) {
        if (opts.missingOk && queue.length === 1 && FsError.is(err, 'ENOENT')) return undefined;
        throw relabel(err, 'lookup', here);
      }
      queue = queue.slice(1);
      if (entry.attr.kind === 'symlink' && (queue.length > 0 || opts.follow)) {
        if (++hops > MAX_SYMLINK_HOPS) throw FsError.ELOOP('lookup', path);
        const target = await this.readlink(entry.id, here);
        const next = resolveLinkTarget({ dir: done, target, link: here });
        // Start again from the root with the target spliced in: `done` holds no links.
        queue = [...next, ...queue];
        done = [];
        cur = await this.root();
        continue;
      }
      done = [...done, name];
      cur = { path: here, id: entry.id, attr: entry.attr };
    }
    return cur;
  }

  /**
   * The directory that holds (or would hold) `path`, resolved through symlinks, and the last
   * name. `/` has no parent (`EINVAL`).
   */
  async parentOf(path: string): Promise<{ dir: Resolved; name: string }> {
    const segs = splitPath('lookup', path);
    const name = segs.at(-1);
    if (name === undefined) throw FsError.EINVAL(this.command, '/', 'the namespace root has no parent');
    const dir = await this.resolve(joinPath(segs.slice(0, -1)), { follow: true });
    if (dir.attr.kind !== 'dir') throw FsError.ENOTDIR('lookup', dir.path);
    return { dir, name };
  }

  /** A symlink's target text. */
  async readlink(id: NodeId, path: string): Promise<string> {
    try {
      return await this.source.readlink({ id });
    } catch (err) {
      throw relabel(err, 'readlink', path);
    }
  }

  /** The entries of a directory, a page at a time (any size: cookies carry the position). */
  async *pages(dir: Resolved): AsyncGenerator<DirEntry[]> {
    // A for-await consumer throws nothing into this generator: what is caught is a listing failure.
    try {
      for await (const entries of readdirPages({ source: this.source, dir: dir.id, max: PAGE_SIZE }))
        if (entries.length > 0) yield entries;
    } catch (err) {
      throw relabel(err, 'readdir', dir.path);
    }
  }

  /** Every entry of a directory, sorted by name. */
  async list(dir: Resolved): Promise<DirEntry[]> {
    const all: DirEntry[] = [];
    for await (const page of this.pages(dir)) all.push(...page);
    return all.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** The exports the session sees. */
  async exports(): Promise<ExportInfo[]> {
    this.#exports ??= await this.source.listExports();
    return this.#exports;
  }

  /** The name of the export an id belongs to (`/` for the namespace's own directories). */
  async exportOf(id: NodeId): Promise<string | undefined> {
    const k = exportIndexOf(id);
    return (await this.exports()).find((e) => exportIndexOf(e.root) === k)?.name;
  }
}

/** Whether an id is the root of an export (a mount point, or `/`). */
export function isExportRoot(id: NodeId): boolean {
  return localPartOf(id) === 1n;
}

/**
 * Where a symlink's target leads, as namespace path segments: relative to the directory
 * holding the link (`dir`), `..` stepping up. Absolute targets and targets climbing above `/`
 * leave the namespace and are refused (`EACCES`).
 */
export function resolveLinkTarget(opts: { dir: readonly string[]; target: string; link: string }): string[] {
  if (opts.target.startsWith('/')) {
    throw FsError.EACCES(
      'lookup',
      opts.link,
      `symlink target '${opts.target}' is absolute; only relative targets are followed`,
    );
  }
  const out = [...opts.dir];
  for (const seg of opts.target.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length === 0)
        throw FsError.EACCES('lookup', opts.link, `symlink target '${opts.target}' leads above /`);
      out.pop();
      continue;
    }
    out.push(checkName('lookup', seg));
  }
  return out;
}
