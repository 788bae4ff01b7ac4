import { createHash } from 'node:crypto';
import type { Attr } from '../core/attr.ts';
import { nowNs, syntheticAttr } from '../core/attr.ts';
import { FsError } from '../core/fs-error.ts';
import { exportIndexOf, localPartOf, makeId, type NodeId, rootId } from '../core/ids.ts';
import { joinPath, splitPath } from '../core/names.ts';
import { BaseSource } from '../sources/base-source.ts';
import { DirPager } from '../sources/dir-pager.ts';
import type {
  Caps,
  DirEntry,
  Entry,
  ExportInfo,
  Handle,
  Invalidation,
  LockInfo,
  Source,
  StatFs,
  SourceRequest,
} from '../sources/source.ts';
import { closeThrough } from '../sources/source.ts';
import { moveAcross, type RenamePolicy } from './cross-rename.ts';
import { type Mount, MountTable } from './mount-table.ts';

/** What an id of the namespace points at. */
type Target = { kind: 'synthetic'; path: string } | { kind: 'mounted'; mount: Mount; inner: NodeId };

/** A mount as `mounts()` reports it. */
export interface MountInfo {
  path: string;
  slot: number;
  export: string;
  source_kind: string;
  source_id: string;
  ro: boolean;
  rename: RenamePolicy;
  /** Mounted with `hidden` (not listed in its parent; e.g. the diagnostics tree). */
  hidden?: boolean;
}

const ROOT_CAPS: Caps = {
  native_watch: true,
  case_sensitive: true,
  symlink: false,
  xattr: false,
  lock: false,
  hardlink: false,
  max_file_size: 0,
  writable: false,
  posix_attrs: true,
  atomic_write: true,
  persistent_ids: true,
};

/**
 * The namespace: a mount table (local path → export of some Source) that is itself a
 * Source. Export 0 is the namespace's own tree of mount-point directories; each mount is
 * exported again under its slot, so ids stay 64-bit `(slot << 48) | local` and a rename
 * between two mounts is EXDEV like any cross-export rename. Lookups step from a directory
 * into a mount when the child's path is a mount point (longest prefix wins, on segment
 * boundaries), so nested mounts work.
 */
export class Namespace extends BaseSource {
  readonly table = new MountTable();
  /** Local part → path of the synthetic directories (export 0). */
  readonly #synthetic = new Map<bigint, string>([[1n, '/']]);
  /** Mount roots and real directories on the way to a deeper mount point → their path. */
  readonly #routes = new Map<NodeId, string>();
  readonly #handles = new Map<Handle, { mount: Mount; inner: Handle }>();
  readonly #unwatch = new Map<number, () => void>();
  readonly #pager = new DirPager();
  readonly #born = nowNs();
  #nextHandle = 1;

  get caps(): Caps {
    const caps = { ...ROOT_CAPS };
    for (const m of this.table.all()) {
      for (const key of ['symlink', 'xattr', 'lock', 'hardlink'] as const) caps[key] ||= m.exp.caps[key];
      caps.writable ||= m.exp.caps.writable && !m.ro;
      caps.max_file_size = Math.max(caps.max_file_size, m.exp.caps.max_file_size);
    }
    return caps;
  }

  protected exportsInfo(): ExportInfo[] {
    const root: ExportInfo = {
      name: '/',
      root: rootId(0),
      ro: true,
      desc: 'namespace root',
      source_kind: 'namespace',
      source_id: 'namespace:/',
      caps: { ...ROOT_CAPS },
    };
    return [
      root,
      ...this.table.all().map((m) => ({
        ...m.exp,
        name: m.path,
        root: rootId(m.slot),
        ro: m.ro || m.exp.ro,
        caps: { ...m.exp.caps, writable: m.exp.caps.writable && !m.ro },
      })),
    ];
  }

  protected readOnlyFor(id: NodeId): boolean {
    const slot = exportIndexOf(id);
    if (slot === 0) return true;
    const m = this.table.bySlot(slot);
    return m === undefined ? false : m.ro || m.exp.ro;
  }

  /** A rename between two mounts is decided in `doRename` (by the mounts' rename policies). */
  protected override movesAcrossExports(from: NodeId, to: NodeId): boolean {
    return exportIndexOf(from) !== 0 && exportIndexOf(to) !== 0;
  }

  protected override async doClose(): Promise<void> {
    for (const stop of this.#unwatch.values()) stop();
    this.#unwatch.clear();
    this.#handles.clear();
  }

  /**
   * Mount export `exportName` of `source` (open) at `path`. `slot` pins the export index the
   * mount gets in namespace ids (keep it stable across restarts so ids held by clients stay
   * valid); by default the lowest free slot.
   */
  async mount(opts: {
    path: string;
    source: Source;
    exportName: string;
    ro?: boolean;
    slot?: number;
    /** What a rename between this mount and another Source does (default `exdev`). */
    rename?: RenamePolicy | undefined;
    /**
     * Leave the mount point out of its directory's listing (it still resolves by name), like
     * a filer's `.snapshot`: tree walks, crawlers and copies of `/` skip it.
     */
    hidden?: boolean | undefined;
  }): Promise<MountInfo> {
    const path = joinPath(splitPath('mount', opts.path));
    if (path === '/') throw FsError.EINVAL('mount', path, 'mount under a path, not at the namespace root');
    const exp = (await opts.source.listExports()).find((e) => e.name === opts.exportName);
    if (!exp)
      throw FsError.ENOENT('mount', opts.exportName, `source has no export named '${opts.exportName}'`);
    const covering = this.table.locate(path);
    const mount = this.table.add({
      path,
      source: opts.source,
      exp,
      ro: opts.ro ?? false,
      slot: opts.slot,
      rename: opts.rename,
      hidden: opts.hidden,
    });
    this.#routes.set(rootId(mount.slot), path);
    for (const p of ancestors(path)) if (!this.table.locate(p)) this.#synthetic.set(syntheticLocal(p), p);
    const innerIndex = exportIndexOf(exp.root);
    this.#unwatch.set(
      mount.slot,
      opts.source.watch((ev) => {
        const out = translateEvent(ev, innerIndex, mount.slot);
        if (out) this.hub.emit(out);
      }),
    );
    // A mount inside another mount: remember the real directories leading to it.
    if (covering) await this.resolve({ path }).catch(() => undefined);
    this.hub.emit({ kind: 'entry', parent: await this.#parentIdOf(path), name: mount.segments.at(-1)! });
    return info(mount);
  }

  /** Remove the mount at `path`. EBUSY while files under it are open. */
  async unmount(opts: { path: string }): Promise<MountInfo> {
    const path = joinPath(splitPath('unmount', opts.path));
    const mount = this.table.byPath(path);
    if (!mount) throw FsError.ENOENT('unmount', path, 'nothing is mounted there');
    for (const h of this.#handles.values()) {
      if (h.mount === mount) throw FsError.EBUSY('unmount', path, 'files under the mount are open');
    }
    const parent = await this.#parentIdOf(path);
    this.table.remove(path);
    this.#unwatch.get(mount.slot)?.();
    this.#unwatch.delete(mount.slot);
    for (const [id] of this.#routes) if (exportIndexOf(id) === mount.slot) this.#routes.delete(id);
    for (const [local, p] of this.#synthetic)
      if (p !== '/' && !this.table.hasMountsBelow(p)) this.#synthetic.delete(local);
    this.hub.emit({ kind: 'entry', parent, name: mount.segments.at(-1)! });
    return info(mount);
  }

  /** Current mounts. */
  mounts(): MountInfo[] {
    return this.table.all().map(info);
  }

  /** Resolve an absolute namespace path to its entry (without following a final symlink). */
  async resolve(opts: { path: string }): Promise<Entry> {
    let cur: Entry = { id: rootId(0), attr: await this.getattr({ id: rootId(0) }) };
    for (const name of splitPath('resolve', opts.path)) cur = await this.lookup({ parent: cur.id, name });
    return cur;
  }

  async #parentIdOf(path: string): Promise<NodeId> {
    const segs = splitPath('resolve', path);
    return (await this.resolve({ path: joinPath(segs.slice(0, -1)) }).catch(() => ({ id: rootId(0) }))).id;
  }

  #target(id: NodeId, op: string): Target {
    const slot = exportIndexOf(id);
    if (slot === 0) {
      const path = this.#synthetic.get(localPartOf(id));
      if (path === undefined) throw FsError.ESTALE(op, id.toString());
      return { kind: 'synthetic', path };
    }
    const mount = this.table.bySlot(slot);
    if (!mount) throw FsError.ESTALE(op, id.toString(), 'its mount is gone');
    return { kind: 'mounted', mount, inner: makeId(exportIndexOf(mount.exp.root), localPartOf(id)) };
  }

  #mounted(id: NodeId, op: string): { mount: Mount; inner: NodeId } {
    const t = this.#target(id, op);
    if (t.kind === 'synthetic') throw FsError.EISDIR(op, t.path);
    return t;
  }

  #handle(handle: Handle, op: string): { mount: Mount; inner: Handle } {
    const h = this.#handles.get(handle);
    if (!h) throw FsError.EBADF(op, String(handle));
    return h;
  }

  #out(mount: Mount, e: Entry): Entry {
    return { id: makeId(mount.slot, localPartOf(e.id)), attr: e.attr };
  }

  /** Path of a directory id when it is synthetic or on the way to a mount point. */
  #pathOf(id: NodeId): string | undefined {
    return exportIndexOf(id) === 0 ? this.#synthetic.get(localPartOf(id)) : this.#routes.get(id);
  }

  #syntheticAttr(): Attr {
    return syntheticAttr({ kind: 'dir', timeNs: this.#born });
  }

  async #mountRoot(mount: Mount): Promise<Entry> {
    const attr = await mount.source.getattr({ id: mount.exp.root });
    return { id: rootId(mount.slot), attr };
  }

  /** Refuse to remove or rename a mount point or a directory leading to one. */
  #checkNotBusy(parent: NodeId, name: string, op: string): void {
    const parentPath = this.#pathOf(parent);
    if (parentPath === undefined) return;
    const child = joinPath([...splitPath(op, parentPath), name]);
    if (this.table.byPath(child) || this.table.hasMountsBelow(child))
      throw FsError.EBUSY(op, child, 'a mount point is there');
  }

  protected override async doLookup(req: SourceRequest<'lookup'>): Promise<Entry> {
    const parentPath = this.#pathOf(req.parent);
    const childPath =
      parentPath === undefined ? undefined : joinPath([...splitPath('lookup', parentPath), req.name]);
    if (childPath !== undefined) {
      const mount = this.table.byPath(childPath);
      if (mount) return this.#mountRoot(mount);
    }
    const t = this.#target(req.parent, 'lookup');
    if (t.kind === 'synthetic') {
      if (childPath !== undefined && this.table.hasMountsBelow(childPath)) {
        const local = syntheticLocal(childPath);
        this.#synthetic.set(local, childPath);
        return { id: makeId(0, local), attr: this.#syntheticAttr() };
      }
      throw FsError.ENOENT('lookup', childPath ?? req.name);
    }
    const entry = this.#out(t.mount, await t.mount.source.lookup({ parent: t.inner, name: req.name }));
    if (childPath !== undefined && this.table.hasMountsBelow(childPath))
      this.#routes.set(entry.id, childPath);
    return entry;
  }

  protected override async doGetattr(req: SourceRequest<'getattr'>): Promise<Attr> {
    const t = this.#target(req.id, 'getattr');
    if (t.kind === 'synthetic') return this.#syntheticAttr();
    return t.mount.source.getattr({ id: t.inner });
  }

  protected override async doSetattr(req: SourceRequest<'setattr'>): Promise<Attr> {
    const t = this.#mounted(req.id, 'setattr');
    const handle = req.handle === undefined ? undefined : this.#handle(req.handle, 'setattr').inner;
    return t.mount.source.setattr({ ...req, id: t.inner, handle });
  }

  protected override async doReaddirp(
    req: SourceRequest<'readdirp'>,
  ): Promise<{ entries: DirEntry[]; cookie: string; eof: boolean }> {
    const t = this.#target(req.dir, 'readdirp');
    const path = this.#pathOf(req.dir);
    const mountsHere = path === undefined ? new Map<string, Mount>() : this.table.mountsIn(path);
    if (t.kind === 'synthetic') {
      const routes = this.table.routesIn(t.path);
      const page = await this.#pager.page({
        cookie: req.cookie,
        max: req.max,
        list: async () => [
          ...new Set([...[...mountsHere].filter(([, m]) => !m.hidden).map(([n]) => n), ...routes]),
        ],
      });
      const entries: DirEntry[] = [];
      for (const name of page.names) {
        const mount = mountsHere.get(name);
        if (mount) {
          const root = await this.#mountRoot(mount).catch(() => ({
            id: rootId(mount.slot),
            attr: this.#syntheticAttr(),
          }));
          entries.push({ name, ...root });
        } else {
          const childPath = joinPath([...splitPath('readdirp', t.path), name]);
          const local = syntheticLocal(childPath);
          this.#synthetic.set(local, childPath);
          entries.push({ name, id: makeId(0, local), attr: this.#syntheticAttr() });
        }
      }
      return { entries, cookie: page.cookie, eof: page.eof };
    }
    // A real directory: mount points inside it shadow its entries of the same name, and are
    // listed on the first page.
    const extras: DirEntry[] = [];
    if (req.cookie === '') {
      for (const [name, mount] of mountsHere) {
        if (!mount.hidden) extras.push({ name, ...(await this.#mountRoot(mount)) });
      }
    }
    const inner = await t.mount.source.readdirp({
      dir: t.inner,
      cookie: req.cookie,
      max: Math.max(1, req.max - extras.length),
    });
    const entries = inner.entries
      .filter((e) => !mountsHere.has(e.name))
      .map((e) => ({ name: e.name, ...this.#out(t.mount, e) }));
    return { entries: [...extras, ...entries], cookie: inner.cookie, eof: inner.eof };
  }

  protected override async doOpenFile(req: SourceRequest<'openFile'>): Promise<{ handle: Handle }> {
    const t = this.#mounted(req.id, 'open');
    const { handle } = await t.mount.source.openFile({ id: t.inner, flags: req.flags });
    return { handle: this.#track(t.mount, handle) };
  }

  #track(mount: Mount, inner: Handle): Handle {
    const handle = this.#nextHandle++;
    this.#handles.set(handle, { mount, inner });
    return handle;
  }

  protected override async doRead(req: SourceRequest<'read'>): Promise<Uint8Array> {
    const h = this.#handle(req.handle, 'read');
    return h.mount.source.read({ ...req, handle: h.inner });
  }

  protected override async doWrite(req: SourceRequest<'write'>): Promise<{ written: number }> {
    const h = this.#handle(req.handle, 'write');
    return h.mount.source.write({ ...req, handle: h.inner });
  }

  protected override async doFlush(req: SourceRequest<'flush'>): Promise<void> {
    const h = this.#handle(req.handle, 'flush');
    return h.mount.source.flush({ handle: h.inner });
  }

  /** A close's last write goes to the mount's Source with it (one request to a remote one). */
  protected override get closeCarriesWrite(): boolean {
    return true;
  }

  protected override async doCloseFile(req: SourceRequest<'closeFile'>): Promise<void> {
    const h = this.#handle(req.handle, 'close');
    await closeThrough({
      req,
      forget: () => this.#handles.delete(req.handle),
      close: () => h.mount.source.closeFile({ handle: h.inner, abort: req.abort, write: req.write }),
    });
  }

  protected override async doCreate(req: SourceRequest<'create'>): Promise<Entry & { handle: Handle }> {
    const t = this.#mounted(req.parent, 'create');
    this.#checkNotBusy(req.parent, req.name, 'create');
    const created = await t.mount.source.create({ ...req, parent: t.inner });
    return { ...this.#out(t.mount, created), handle: this.#track(t.mount, created.handle) };
  }

  protected override async doMkdir(req: SourceRequest<'mkdir'>): Promise<Entry> {
    const t = this.#mounted(req.parent, 'mkdir');
    this.#checkNotBusy(req.parent, req.name, 'mkdir');
    return this.#out(t.mount, await t.mount.source.mkdir({ ...req, parent: t.inner }));
  }

  protected override async doUnlink(req: SourceRequest<'unlink'>): Promise<void> {
    const t = this.#mounted(req.parent, 'unlink');
    this.#checkNotBusy(req.parent, req.name, 'unlink');
    await t.mount.source.unlink({ ...req, parent: t.inner });
  }

  protected override async doRmdir(req: SourceRequest<'rmdir'>): Promise<void> {
    const t = this.#mounted(req.parent, 'rmdir');
    this.#checkNotBusy(req.parent, req.name, 'rmdir');
    await t.mount.source.rmdir({ ...req, parent: t.inner });
  }

  protected override async doRename(req: SourceRequest<'rename'>): Promise<void> {
    const from = this.#mounted(req.parent, 'rename');
    const to = this.#mounted(req.newParent, 'rename');
    this.#checkNotBusy(req.parent, req.name, 'rename');
    this.#checkNotBusy(req.newParent, req.newName, 'rename');
    if (from.mount === to.mount)
      return from.mount.source.rename({ ...req, parent: from.inner, newParent: to.inner });
    if (from.mount.rename !== 'copy' && to.mount.rename !== 'copy') {
      throw FsError.EXDEV(
        'rename',
        req.name,
        `${from.mount.path} and ${to.mount.path} are different mounts (a mount with rename = "copy" allows moving files by copy)`,
      );
    }
    // Two mounts of one export are one filesystem: a plain rename there.
    if (from.mount.source === to.mount.source && from.mount.exp.root === to.mount.exp.root)
      return from.mount.source.rename({ ...req, parent: from.inner, newParent: to.inner });
    await moveAcross({
      from: { source: from.mount.source, parent: from.inner, name: req.name },
      to: { source: to.mount.source, parent: to.inner, name: req.newName },
    });
  }

  protected override async doSymlink(req: SourceRequest<'symlink'>): Promise<Entry> {
    const t = this.#mounted(req.parent, 'symlink');
    this.#checkNotBusy(req.parent, req.name, 'symlink');
    return this.#out(t.mount, await t.mount.source.symlink({ ...req, parent: t.inner }));
  }

  protected override async doReadlink(req: SourceRequest<'readlink'>): Promise<string> {
    const t = this.#target(req.id, 'readlink');
    if (t.kind === 'synthetic') throw FsError.EINVAL('readlink', t.path, 'not a symlink');
    return t.mount.source.readlink({ id: t.inner });
  }

  protected override async doLink(req: SourceRequest<'link'>): Promise<Entry> {
    const t = this.#mounted(req.id, 'link');
    const parent = this.#mounted(req.newParent, 'link');
    this.#checkNotBusy(req.newParent, req.newName, 'link');
    return this.#out(t.mount, await t.mount.source.link({ ...req, id: t.inner, newParent: parent.inner }));
  }

  protected override async doGetxattr(req: SourceRequest<'getxattr'>): Promise<Uint8Array> {
    const t = this.#mounted(req.id, 'getxattr');
    return t.mount.source.getxattr({ ...req, id: t.inner });
  }

  protected override async doSetxattr(req: SourceRequest<'setxattr'>): Promise<void> {
    const t = this.#mounted(req.id, 'setxattr');
    return t.mount.source.setxattr({ ...req, id: t.inner });
  }

  protected override async doListxattr(req: SourceRequest<'listxattr'>): Promise<string[]> {
    const t = this.#target(req.id, 'listxattr');
    return t.kind === 'synthetic' ? [] : t.mount.source.listxattr({ id: t.inner });
  }

  protected override async doRemovexattr(req: SourceRequest<'removexattr'>): Promise<void> {
    const t = this.#mounted(req.id, 'removexattr');
    return t.mount.source.removexattr({ ...req, id: t.inner });
  }

  protected override async doLock(req: SourceRequest<'lock'>): Promise<LockInfo | null> {
    const h = this.#handle(req.handle, 'lock');
    return h.mount.source.lock({ ...req, handle: h.inner });
  }

  protected override async doStatfs(req: SourceRequest<'statfs'>): Promise<StatFs> {
    const t = this.#target(req.id, 'statfs');
    if (t.kind === 'mounted') return t.mount.source.statfs({ id: t.inner });
    return { bsize: 4096, blocks: 0, bfree: 0, bavail: 0, files: 0, ffree: 0, namemax: 255 };
  }
}

function info(m: Mount): MountInfo {
  return {
    path: m.path,
    slot: m.slot,
    export: m.exp.name,
    source_kind: m.exp.source_kind,
    source_id: m.exp.source_id,
    ro: m.ro || m.exp.ro,
    rename: m.rename,
    ...(m.hidden ? { hidden: true } : {}),
  };
}

/** Strict ancestors of a path, '/' first. */
function ancestors(path: string): string[] {
  const segs = splitPath('resolve', path);
  return segs.map((_, i) => joinPath(segs.slice(0, i)));
}

/** Stable local id of a synthetic directory, derived from its path (root is 1). */
function syntheticLocal(path: string): bigint {
  if (path === '/') return 1n;
  const h = createHash('sha256').update(path).digest();
  const local = h.readBigUInt64BE(0) & 0xffff_ffff_ffffn;
  return local < 2n ? local + 2n : local;
}

/** Map an inner Source's invalidation into the namespace's ids (other exports are ignored). */
function translateEvent(ev: Invalidation, innerIndex: number, slot: number): Invalidation | undefined {
  const map = (id: NodeId): NodeId | undefined =>
    exportIndexOf(id) === innerIndex ? makeId(slot, localPartOf(id)) : undefined;
  if (ev.kind === 'entry') {
    const parent = map(ev.parent);
    return parent === undefined ? undefined : { kind: 'entry', parent, name: ev.name };
  }
  const id = map(ev.id);
  return id === undefined ? undefined : { kind: ev.kind, id };
}
