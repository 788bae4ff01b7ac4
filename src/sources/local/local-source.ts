import type { BigIntStats } from 'node:fs';
import {
  chmod,
  lchown,
  link,
  lutimes,
  mkdir,
  readdir,
  readlink,
  rename,
  rm,
  rmdir,
  statfs,
  symlink,
  unlink,
} from 'node:fs/promises';
import type { Attr } from '../../core/attr.ts';
import { FsError } from '../../core/fs-error.ts';
import type { NodeId } from '../../core/ids.ts';
import { SingleExportSource } from '../base-source.ts';
import { DirPager } from '../dir-pager.ts';
import type { SourceSpec } from '../registry.ts';
import type {
  Caps,
  DirEntry,
  Entry,
  Handle,
  InvalidationListener,
  LockInfo,
  OpenFlags,
  Source,
  StatFs,
} from '../source.ts';
import { DirScanner } from './dir-scanner.ts';
import { lstatAll, lstatBig, lstatMaybe } from './fast-stat.ts';
import type { IdJournal } from './id-journal.ts';
import { openIdState } from './id-state.ts';
import { type IdTable, ROOT_LOCAL } from './id-table.ts';
import { attrOf, nsToUtimeSeconds, type StatFields } from './local-attr.ts';
import { LocalFiles } from './local-files.ts';
import { LocalLocks } from './local-locks.ts';
import { parseLocalOptions, type LocalOptions } from './local-options.ts';
import type { LocalPlatform } from './local-platform.ts';
import type { Resolver } from './resolver.ts';
import { renameNoReplace } from './rename-noreplace.ts';
import { isStaleTemp, isTempName, refuseReserved } from './temp-files.ts';
import type { ChangeWatcher, WatchContext } from './watch-context.ts';

/** The parts that exist only while the source is open. */
interface Live {
  resolver: Resolver;
  table: IdTable;
  files: LocalFiles;
  locks: LocalLocks;
  journal: IdJournal | undefined;
  scanner: DirScanner;
  watcher: ChangeWatcher;
  /** Attributes of a resolved id (made once: getattr is the hottest path). */
  attrOf: (st: StatFields, local: number) => Attr;
}

/**
 * A directory of this host exported as a Source: the shared implementation behind the
 * `linux`, `posix` and `windows` kinds, which differ only in their `LocalPlatform`.
 * Ids come from inode numbers (see `IdTable`), paths are re-checked on every use and never
 * followed through symlinks (see `Resolver`), writes are atomic (see `LocalFiles`).
 */
export class LocalSource extends SingleExportSource {
  readonly #spec: SourceSpec;
  readonly #platform: LocalPlatform;
  readonly #options: LocalOptions;
  readonly #caps: Caps;
  readonly #pager = new DirPager();
  #live: Live | undefined;

  constructor(opts: { spec: SourceSpec; platform: LocalPlatform }) {
    const { spec, platform } = opts;
    super({
      name: spec.name,
      exportIndex: spec.exportIndex,
      ro: spec.ro,
      desc: spec.path,
      sourceKind: platform.kind,
      sourceId: `${platform.kind}:${spec.name}`,
    });
    this.#spec = spec;
    this.#platform = platform;
    this.#options = parseLocalOptions(platform.kind, spec.name, spec.options);
    this.#caps = Object.freeze({
      ...platform.caps,
      lock: true,
      max_file_size: Number.MAX_SAFE_INTEGER,
      writable: !spec.ro,
      posix_attrs: true,
      atomic_write: true,
      persistent_ids: spec.stateDir !== undefined,
    });
  }

  get caps(): Caps {
    return this.#caps;
  }

  /** The export's root directory on this host (resolved at open). */
  get rootPath(): string | undefined {
    return this.#live?.resolver.rootPath;
  }

  /** Whether change events are being collected now (only while someone watches). */
  get watching(): boolean {
    return this.#live?.watcher.running ?? false;
  }

  /** Run one scanner pass now (tests; sources without native events). */
  async scanNow(): Promise<void> {
    await this.#open('scan').scanner.scanNow();
  }

  /** Write queued id-map changes to the journal now. */
  async flushState(): Promise<void> {
    await this.#live?.journal?.flush();
  }

  #open(op: string): Live {
    const live = this.#live;
    if (!live) throw FsError.ENOTCONN(op, undefined, 'source is not open');
    return live;
  }

  protected override async doOpen(): Promise<void> {
    this.#platform.requireHost?.();
    const { table, resolver, journal } = await openIdState({
      exportName: this.#spec.name,
      path: this.#spec.path,
      exportIndex: this.identity.exportIndex,
      stateDir: this.#spec.stateDir,
      ro: this.identity.ro,
    });
    const locks = new LocalLocks({ kernel: this.#platform.kernelLocks });
    const files = new LocalFiles({
      resolver,
      locks,
      xattr: this.#platform.xattr,
      directWrite: this.#platform.directWrite,
      renameNoReplace: this.#platform.renameNoReplace,
      createPublish: this.#platform.createPublish,
    });
    const ctx = this.#watchContext(resolver);
    const scanner = new DirScanner({ ctx, intervalMs: this.#options.scanIntervalMs });
    const watcher =
      this.#platform.nativeWatcher?.({ ctx, dirs: () => table.dirs(), fallback: scanner }) ?? scanner;
    if (watcher !== scanner) table.onDir = (local) => watcher.add(local);
    const attrOfLocal = (st: StatFields, local: number): Attr => attrOf(st, table.genOf(local));
    this.#live = { resolver, table, files, locks, journal, scanner, watcher, attrOf: attrOfLocal };
    scanner.add(ROOT_LOCAL);
    if (this.hub.active) watcher.start();
  }

  protected override async doClose(): Promise<void> {
    const live = this.#live;
    if (!live) return;
    live.watcher.stop();
    live.scanner.stop();
    await live.files.closeAll();
    await live.locks.closeAll();
    this.#pager.clear();
    await live.journal?.close();
    this.#live = undefined;
  }

  override watch(listener: InvalidationListener): () => void {
    const unsubscribe = super.watch(listener);
    this.#live?.watcher.start();
    return () => {
      unsubscribe();
      if (!this.hub.active) this.#live?.watcher.stop();
    };
  }

  #watchContext(resolver: Resolver): WatchContext {
    return {
      dirPath: (dir) => resolver.dirPath(dir),
      localOf: (st) => resolver.peek(st),
      relearn: (dir, name, st) => {
        const local = resolver.peek(st);
        if (local !== undefined && resolver.table.node(local))
          resolver.table.learn(local, dir, name, st.isDirectory());
      },
      entry: (dir, name) => this.hub.emit({ kind: 'entry', parent: resolver.idOf(dir), name }),
      changed: (local, kind) => this.hub.emit({ kind, id: resolver.idOf(local) }),
      tree: (dir) => this.hub.emit({ kind: 'tree', id: resolver.idOf(dir) }),
    };
  }

  /** Clients looked into `dir`: the polling scanner watches it from now on. */
  #interest(live: Live, dir: number): void {
    if (live.watcher === live.scanner) live.scanner.add(dir);
  }

  #attr(live: Live, local: number, st: StatFields): Attr {
    return attrOf(st, live.table.genOf(local));
  }

  #entry(live: Live, parent: number, name: string, st: BigIntStats): Entry {
    const local = live.resolver.learn(parent, name, st);
    return { id: live.resolver.idOf(local), attr: this.#attr(live, local, st) };
  }

  protected override async doLookup(req: { parent: NodeId; name: string }): Promise<Entry> {
    const live = this.#open('lookup');
    const { resolver } = live;
    if (isTempName(req.name)) throw FsError.ENOENT('lookup', req.name);
    const parent = resolver.localOf(req.parent, 'lookup');
    // Stat the child alongside the parent's check: one round trip instead of two.
    const guess = resolver.dirPath(parent);
    const early = guess === undefined ? undefined : lstatBig(resolver.child(guess, req.name));
    void early?.catch(() => undefined);
    const dir = await resolver.resolveDir(parent, 'lookup');
    const st =
      early !== undefined && dir.path === guess
        ? await early
        : await lstatBig(resolver.child(dir.path, req.name));
    this.#interest(live, dir.local);
    return this.#entry(live, dir.local, req.name, st);
  }

  /**
   * getattr is the hottest call a filesystem gets (every `stat`, every `ls -l` entry), so it
   * skips the base class's generic wrapper when open: getattr is always supported, has no
   * names to check and mutates nothing, and `doGetattr` rejects only with FsErrors. Anything
   * unusual (not open) goes through the base class as usual.
   */
  override getattr(req: { id: NodeId }): Promise<Attr> {
    if (!this.isOpen) return super.getattr(req);
    try {
      return this.doGetattr(req);
    } catch (err) {
      return Promise.reject(FsError.from(err, 'getattr', req.id.toString()));
    }
  }

  protected override doGetattr(req: { id: NodeId }): Promise<Attr> {
    const live = this.#open('getattr');
    return live.resolver.resolveWith(req.id, 'getattr', live.attrOf);
  }

  protected override async doSetattr(req: Parameters<Source['setattr']>[0]): Promise<Attr> {
    const live = this.#open('setattr');
    const id = req.id.toString();
    const h = req.handle === undefined ? undefined : live.files.get(req.handle, 'setattr');
    const r = await live.resolver.resolve(req.id, 'setattr');
    if (h && h.local !== r.local)
      throw FsError.EINVAL('setattr', id, `handle ${req.handle} belongs to another file`);
    let handleSt: BigIntStats | undefined;
    if (req.size !== undefined) {
      if (r.st.isDirectory()) throw FsError.EISDIR('setattr', id);
      if (!r.st.isFile()) throw FsError.EINVAL('setattr', id, 'only a regular file has a size to change');
      // Through a write handle: its private copy. Otherwise in place, as truncate(2) does.
      if (h?.writable) handleSt = await live.files.truncate(h, req.size);
      else await live.files.truncateInPlace(r, req.size);
    }
    const staged = live.files.stagedFor(r.local);
    if (req.mode !== undefined) {
      if (r.st.isSymbolicLink())
        throw FsError.EOPNOTSUPP('setattr', id, 'the mode of a symlink cannot be changed');
      await chmod(r.path, req.mode & 0o7777);
      for (const s of staged) await s.fh.chmod(req.mode & 0o7777);
    }
    if (req.uid !== undefined || req.gid !== undefined) {
      await lchown(r.path, req.uid ?? -1, req.gid ?? -1);
      for (const s of staged) await s.fh.chown(req.uid ?? -1, req.gid ?? -1).catch(() => undefined);
    }
    if (req.atimeNs !== undefined || req.mtimeNs !== undefined) {
      if ((req.atimeNs ?? 0n) < 0n || (req.mtimeNs ?? 0n) < 0n) {
        throw FsError.EINVAL('setattr', id, 'times before 1970 are not supported by the local source');
      }
      const now = await lstatBig(r.path);
      const atime = nsToUtimeSeconds(req.atimeNs ?? now.atimeNs);
      const mtime = nsToUtimeSeconds(req.mtimeNs ?? now.mtimeNs);
      await lutimes(r.path, atime, mtime);
      for (const s of staged) await s.fh.utimes(atime, mtime);
    }
    const after = await live.resolver.resolve(r.local, 'setattr');
    const attr = this.#attr(live, after.local, after.st);
    if (handleSt && h?.stage) attr.size = Number(handleSt.size);
    return attr;
  }

  protected override async doReaddirp(req: { dir: NodeId; cookie: string; max: number }) {
    const live = this.#open('readdirp');
    const { resolver } = live;
    const dir = await resolver.resolveDir(req.dir, 'readdirp');
    this.#interest(live, dir.local);
    const page = await this.#pager.page({
      cookie: req.cookie,
      max: req.max,
      list: async () => {
        const all = await readdir(dir.path);
        const names: string[] = [];
        const temps: string[] = [];
        for (const name of all) (isTempName(name) ? temps : names).push(name);
        // Pre-sorted with the built-in order (same as the pager's): its sort then runs in one pass.
        names.sort();
        if (temps.length > 0 && !this.identity.ro)
          void this.#sweepTemps(live, dir.local, dir.path, temps, false);
        return names;
      },
    });
    const toEntry = (st: StatFields, i: number): DirEntry => {
      const name = page.names[i]!;
      const local = resolver.learn(dir.local, name, st);
      return { name, id: resolver.idOf(local), attr: live.attrOf(st, local) };
    };
    // A whole page in a few thread-pool jobs where the platform can (one lstat request per
    // entry otherwise).
    const statBatch = this.#platform.statBatch;
    const found = statBatch
      ? await statBatch(dir.path, page.names, toEntry)
      : await lstatAll(dir.path, page.names, this.#options.statConcurrency, toEntry);
    const entries: DirEntry[] = [];
    for (const e of found) if (e !== undefined) entries.push(e); // undefined: vanished since the listing
    return { entries, cookie: page.cookie, eof: page.eof };
  }

  /** Remove temp files left by a crashed writer (old ones; or all not ours, before an rmdir). */
  async #sweepTemps(live: Live, dir: number, dirPath: string, names: string[], all: boolean): Promise<void> {
    for (const name of names) {
      if (live.files.ownsTemp(dir, name)) continue;
      const path = live.resolver.child(dirPath, name);
      const st = await lstatMaybe(path).catch(() => undefined);
      if (st && st.isFile() && (all || isStaleTemp(st)))
        await rm(path, { force: true }).catch(() => undefined);
    }
  }

  protected override async doOpenFile(req: { id: NodeId; flags: OpenFlags }): Promise<{ handle: Handle }> {
    return { handle: await this.#open('open').files.open(req.id, req.flags) };
  }

  protected override async doRead(req: {
    handle: Handle;
    offset: number;
    length: number;
  }): Promise<Uint8Array> {
    return this.#open('read').files.read(req);
  }

  protected override async doWrite(req: {
    handle: Handle;
    offset: number;
    data: Uint8Array;
  }): Promise<{ written: number }> {
    return this.#open('write').files.write(req);
  }

  protected override async doFlush(req: { handle: Handle }): Promise<void> {
    this.#open('flush').files.get(req.handle, 'flush');
  }

  /** A close carrying a write is one step of `LocalFiles` (one thread-pool job for a new file). */
  protected override get closeCarriesWrite(): boolean {
    return true;
  }

  protected override async doCloseFile(req: Parameters<Source['closeFile']>[0]): Promise<void> {
    const files = this.#open('close').files;
    if (req.write !== undefined) await files.closeWithWrite(req.handle, req.write);
    else await files.close(req.handle, req.abort === true);
  }

  protected override async doCreate(
    req: Parameters<Source['create']>[0],
  ): Promise<Entry & { handle: Handle }> {
    const live = this.#open('create');
    const made = await live.files.create(req);
    this.#interest(live, live.resolver.localOf(req.parent, 'create'));
    return {
      id: live.resolver.idOf(made.local),
      attr: this.#attr(live, made.local, made.st),
      handle: made.handle,
    };
  }

  /** Make an entry with `make(path)`, then stat and record it. */
  async #makeEntry(
    op: string,
    parent: NodeId,
    name: string,
    make: (path: string) => Promise<void>,
  ): Promise<Entry> {
    const live = this.#open(op);
    refuseReserved(op, name);
    const dir = await live.resolver.resolveDir(parent, op);
    const path = live.resolver.child(dir.path, name);
    await make(path);
    this.#interest(live, dir.local);
    return this.#entry(live, dir.local, name, await lstatBig(path));
  }

  protected override async doMkdir(req: { parent: NodeId; name: string; mode: number }): Promise<Entry> {
    const want = req.mode & 0o7777;
    return this.#makeEntry('mkdir', req.parent, req.name, async (path) => {
      await mkdir(path, want);
      const st = await lstatBig(path);
      // The process umask may have narrowed the mode; clients ask for exact bits.
      if (st.isDirectory() && (Number(st.mode) & 0o7777) !== want) await chmod(path, want);
    });
  }

  protected override async doSymlink(req: { parent: NodeId; name: string; target: string }): Promise<Entry> {
    return this.#makeEntry('symlink', req.parent, req.name, (path) => symlink(req.target, path));
  }

  protected override async doReadlink(req: { id: NodeId }): Promise<string> {
    const r = await this.#open('readlink').resolver.resolve(req.id, 'readlink');
    if (!r.st.isSymbolicLink()) throw FsError.EINVAL('readlink', req.id.toString(), 'not a symlink');
    return readlink(r.path);
  }

  protected override async doLink(req: { id: NodeId; newParent: NodeId; newName: string }): Promise<Entry> {
    const r = await this.#open('link').resolver.resolve(req.id, 'link');
    if (r.st.isDirectory()) throw FsError.EPERM('link', req.id.toString(), 'cannot hard-link a directory');
    // link(2) never follows a symlink source on Linux, so a symlink is linked as itself.
    return this.#makeEntry('link', req.newParent, req.newName, (path) => link(r.path, path));
  }

  protected override async doUnlink(req: { parent: NodeId; name: string }): Promise<void> {
    const live = this.#open('unlink');
    if (isTempName(req.name)) throw FsError.ENOENT('unlink', req.name);
    const dir = await live.resolver.resolveDir(req.parent, 'unlink');
    const path = live.resolver.child(dir.path, req.name);
    const st = await lstatBig(path);
    if (st.isDirectory()) throw FsError.EISDIR('unlink', req.name);
    await unlink(path);
    this.#forgetName(live, dir.local, req.name, st);
  }

  protected override async doRmdir(req: { parent: NodeId; name: string }): Promise<void> {
    const live = this.#open('rmdir');
    if (isTempName(req.name)) throw FsError.ENOENT('rmdir', req.name);
    const dir = await live.resolver.resolveDir(req.parent, 'rmdir');
    const path = live.resolver.child(dir.path, req.name);
    const st = await lstatBig(path);
    if (!st.isDirectory()) throw FsError.ENOTDIR('rmdir', req.name);
    try {
      await rmdir(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOTEMPTY') throw err;
      // Only crash leftovers inside? They are invisible to clients, so the directory is empty.
      const rest = await readdir(path);
      if (rest.length === 0 || !rest.every(isTempName)) throw err;
      const local = live.resolver.peek(st);
      await this.#sweepTemps(live, local ?? -1, path, rest, true);
      await rmdir(path);
    }
    this.#forgetName(live, dir.local, req.name, st);
  }

  /** `name` in `dir` (which held `st`) is gone: drop it from the id map. */
  #forgetName(live: Live, dir: number, name: string, st: BigIntStats): void {
    const local = live.resolver.peek(st);
    if (local === undefined) return;
    live.table.drop(local, dir, name);
    if (st.isDirectory() || st.nlink <= 1n) {
      live.table.forget(local);
      live.table.unbind(local);
    }
  }

  protected override async doRename(req: Parameters<Source['rename']>[0]): Promise<void> {
    const live = this.#open('rename');
    const { resolver } = live;
    if (isTempName(req.name)) throw FsError.ENOENT('rename', req.name);
    refuseReserved('rename', req.newName);
    const [from, to] = await Promise.all([
      resolver.resolveDir(req.parent, 'rename'),
      resolver.resolveDir(req.newParent, 'rename'),
    ]);
    const srcPath = resolver.child(from.path, req.name);
    const dstPath = resolver.child(to.path, req.newName);
    const src = await lstatBig(srcPath);
    if (from.local === to.local && req.name === req.newName) return;
    const dst = await lstatMaybe(dstPath);
    if (req.noreplace) {
      if (dst) throw FsError.EEXIST('rename', req.newName);
      await renameNoReplace({
        from: srcPath,
        to: dstPath,
        isDir: src.isDirectory(),
        name: req.newName,
        op: 'rename',
        native: this.#platform.renameNoReplace,
      });
    } else {
      await rename(srcPath, dstPath);
    }
    this.#interest(live, from.local);
    this.#interest(live, to.local);
    if (dst && dst.ino === src.ino && dst.dev === src.dev) return; // two names of one file: nothing moved
    const local = resolver.peek(src);
    if (local !== undefined) {
      live.table.drop(local, from.local, req.name);
      live.table.learn(local, to.local, req.newName, src.isDirectory());
    }
    if (dst) this.#forgetName(live, to.local, req.newName, dst);
  }

  protected override async doGetxattr(req: { id: NodeId; name: string }): Promise<Uint8Array> {
    const { xattr, r } = await this.#xattrTarget('getxattr', req.id);
    if (!req.name.startsWith('user.'))
      throw FsError.ENODATA('getxattr', req.name, 'only user.* attributes are exported');
    return xattr.get(r.path, req.name);
  }

  protected override async doSetxattr(req: Parameters<Source['setxattr']>[0]): Promise<void> {
    const { xattr, r } = await this.#xattrTarget('setxattr', req.id);
    if (!req.name.startsWith('user.'))
      throw FsError.EOPNOTSUPP('setxattr', req.name, 'only user.* attributes can be set');
    await xattr.set(r.path, req.name, req.value, req.mode);
  }

  protected override async doListxattr(req: { id: NodeId }): Promise<string[]> {
    const { xattr, r } = await this.#xattrTarget('listxattr', req.id);
    return (await xattr.list(r.path)).filter((n) => n.startsWith('user.'));
  }

  protected override async doRemovexattr(req: { id: NodeId; name: string }): Promise<void> {
    const { xattr, r } = await this.#xattrTarget('removexattr', req.id);
    if (!req.name.startsWith('user.'))
      throw FsError.EOPNOTSUPP('removexattr', req.name, 'only user.* attributes can be removed');
    await xattr.remove(r.path, req.name);
  }

  async #xattrTarget(op: string, id: NodeId) {
    const xattr = this.#platform.xattr;
    if (!xattr) throw FsError.ENOSYS(op, id.toString());
    const r = await this.#open(op).resolver.resolve(id, op);
    return { xattr, r };
  }

  protected override async doLock(req: Parameters<Source['lock']>[0]): Promise<LockInfo | null> {
    const live = this.#open('lock');
    const h = live.files.get(req.handle, 'lock');
    const owner = req.owner ?? `h${req.handle}`;
    h.owners.add(owner);
    return live.locks.lock({
      key: String(h.local),
      handle: req.handle,
      owner,
      cmd: req.cmd,
      type: req.type,
      start: req.start,
      length: req.length,
      kind: req.kind,
      openMirror: () => live.files.openForLocks(h, !this.identity.ro),
      isOpen: () => live.files.has(req.handle),
    });
  }

  protected override async doStatfs(req: { id: NodeId }): Promise<StatFs> {
    const live = this.#open('statfs');
    const r = await live.resolver.resolve(req.id, 'statfs');
    const s = await statfs(r.st.isSymbolicLink() ? live.resolver.rootPath : r.path);
    return {
      bsize: s.bsize,
      blocks: s.blocks,
      bfree: s.bfree,
      bavail: s.bavail,
      files: s.files,
      ffree: s.ffree,
      namemax: 255,
    };
  }
}

/** Build a local source for `spec` on `platform` (options validated now, the path at open). */
export function createLocalSource(spec: SourceSpec, platform: LocalPlatform): LocalSource {
  return new LocalSource({ spec, platform });
}
