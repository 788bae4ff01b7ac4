import { z } from 'zod';
import type { Attr } from '../../core/attr.ts';
import { FsError } from '../../core/fs-error.ts';
import { localPartOf, makeId, type NodeId } from '../../core/ids.ts';
import { SingleExportSource } from '../base-source.ts';
import { DirPager } from '../dir-pager.ts';
import type { SourceSpec } from '../registry.ts';
import type { Caps, DirEntry, Entry, Handle, LockInfo, OpenFlags, Source, StatFs } from '../source.ts';
import { opensForWrite } from '../source.ts';
import { MemoryStore, type MemNode, resizeTo, type StoreChange, writeInto } from './memory-store.ts';

interface OpenHandle {
  node: MemNode;
  flags: OpenFlags;
  /** Private copy being written; replaces the node's content at close. */
  staged: { data: Buffer; size: number } | undefined;
  /** For a created file: where it becomes visible at close. */
  pending: { parent: bigint; name: string; exclusive: boolean } | undefined;
  /** Lock owners named through this handle: their locks on the file go when it closes. */
  owners: Set<string>;
}

const optionsSchema = z.strictObject({ capacity: z.number().int().positive().optional() });

/**
 * The reference Source: a tree in memory. Used by tests and as the model every other
 * adapter is compared with. Several MemorySources may share one `MemoryStore` (read-only
 * views, restarts, writers behind each other's back).
 */
export class MemorySource extends SingleExportSource {
  readonly store: MemoryStore;
  readonly #handles = new Map<Handle, OpenHandle>();
  readonly #pager = new DirPager();
  #nextHandle = 1;
  #unsubscribe: (() => void) | undefined;

  constructor(opts: {
    name?: string;
    exportIndex?: number;
    ro?: boolean;
    store?: MemoryStore;
    desc?: string;
  }) {
    const name = opts.name ?? 'memory';
    super({
      name,
      exportIndex: opts.exportIndex ?? 1,
      ro: opts.ro ?? false,
      desc: opts.desc ?? 'in-memory tree',
      sourceKind: 'memory',
      sourceId: `memory:${name}`,
    });
    this.store = opts.store ?? new MemoryStore();
  }

  get caps(): Caps {
    return {
      native_watch: true,
      case_sensitive: true,
      symlink: true,
      xattr: true,
      lock: true,
      hardlink: true,
      max_file_size: 2 ** 32,
      writable: !this.identity.ro,
      posix_attrs: true,
      atomic_write: true,
      persistent_ids: true,
    };
  }

  protected override async doOpen(): Promise<void> {
    this.#unsubscribe = this.store.subscribe((change) => this.#announce(change));
  }

  protected override async doClose(): Promise<void> {
    this.#unsubscribe?.();
    for (const [handle] of this.#handles) this.#drop(handle);
    this.#pager.clear();
  }

  #announce(change: StoreChange): void {
    if (change.kind === 'entry')
      this.hub.emit({ kind: 'entry', parent: this.#id(change.parent), name: change.name });
    else this.hub.emit({ kind: change.kind, id: this.#id(change.local) });
  }

  #id(local: bigint): NodeId {
    return makeId(this.identity.exportIndex, local);
  }

  #node(id: NodeId, op: string): MemNode {
    return this.store.get(this.#local(id, op), op);
  }

  #local(id: NodeId, op: string): bigint {
    if (makeId(this.identity.exportIndex, 1n) >> 48n !== id >> 48n) throw FsError.ESTALE(op, id.toString());
    return localPartOf(id);
  }

  #dir(id: NodeId, op: string) {
    return this.store.dir(this.#local(id, op), op);
  }

  #handle(handle: Handle, op: string): OpenHandle {
    const h = this.#handles.get(handle);
    if (!h) throw FsError.EBADF(op, String(handle));
    return h;
  }

  #entry(node: MemNode): Entry {
    return { id: this.#id(node.local), attr: this.store.attrOf(node) };
  }

  #child(dirId: NodeId, name: string, op: string): MemNode | undefined {
    const local = this.#dir(dirId, op).children.get(name);
    return local === undefined ? undefined : this.store.nodes.get(local);
  }

  protected override async doLookup(req: { parent: NodeId; name: string }): Promise<Entry> {
    const child = this.#child(req.parent, req.name, 'lookup');
    if (!child) throw FsError.ENOENT('lookup', req.name);
    return this.#entry(child);
  }

  protected override async doGetattr(req: { id: NodeId }): Promise<Attr> {
    const node = this.#node(req.id, 'getattr');
    if (node.links > 0) return this.store.attrOf(node);
    // A created file not yet visible: its writer sees what it has written so far.
    const staged = [...this.#handles.values()].find((h) => h.node === node && h.staged)?.staged;
    return this.store.attrOf(node, staged?.size);
  }

  protected override async doSetattr(req: Parameters<Source['setattr']>[0]): Promise<Attr> {
    const node = this.#node(req.id, 'setattr');
    if (req.size !== undefined) {
      if (node.kind === 'dir') throw FsError.EISDIR('setattr', req.id.toString());
      if (node.kind !== 'file') throw FsError.EINVAL('setattr', req.id.toString(), 'size of a non-file');
      const h = req.handle === undefined ? undefined : this.#handle(req.handle, 'setattr');
      if (h?.staged) resizeTo(h.staged, req.size);
      else resizeTo(node, req.size);
      this.store.touch(node, 'm');
    }
    if (req.mode !== undefined) node.mode = req.mode & 0o7777;
    if (req.uid !== undefined) node.uid = req.uid;
    if (req.gid !== undefined) node.gid = req.gid;
    if (req.atimeNs !== undefined) node.atimeNs = req.atimeNs;
    if (req.mtimeNs !== undefined) node.mtimeNs = req.mtimeNs;
    if (req.mode !== undefined || req.uid !== undefined || req.gid !== undefined) this.store.touch(node, 'c');
    this.store.announce({ kind: req.size !== undefined ? 'data' : 'attr', local: node.local }, this);
    const h = req.handle === undefined ? undefined : this.#handles.get(req.handle);
    return this.store.attrOf(node, h?.staged?.size);
  }

  protected override async doReaddirp(req: { dir: NodeId; cookie: string; max: number }) {
    const dir = this.#dir(req.dir, 'readdirp');
    const page = await this.#pager.page({
      cookie: req.cookie,
      max: req.max,
      list: async () => [...dir.children.keys()],
    });
    const entries: DirEntry[] = [];
    for (const name of page.names) {
      const local = dir.children.get(name);
      const node = local === undefined ? undefined : this.store.nodes.get(local);
      if (node) entries.push({ name, ...this.#entry(node) });
    }
    return { entries, cookie: page.cookie, eof: page.eof };
  }

  #openNode(node: MemNode, flags: OpenFlags, pending?: OpenHandle['pending']): Handle {
    const writes = opensForWrite(flags);
    let staged: OpenHandle['staged'];
    if (writes) {
      staged = flags.truncate
        ? { data: Buffer.alloc(0), size: 0 }
        : { data: Buffer.from(node.data.subarray(0, node.size)), size: node.size };
    }
    const handle = this.#nextHandle++;
    node.opens++;
    this.#handles.set(handle, { node, flags, staged, pending, owners: new Set() });
    return handle;
  }

  protected override async doOpenFile(req: { id: NodeId; flags: OpenFlags }): Promise<{ handle: Handle }> {
    const node = this.#node(req.id, 'open');
    if (node.kind === 'dir') throw FsError.EISDIR('open', req.id.toString());
    if (node.kind !== 'file') throw FsError.EINVAL('open', req.id.toString(), `cannot open a ${node.kind}`);
    return { handle: this.#openNode(node, req.flags) };
  }

  protected override async doRead(req: {
    handle: Handle;
    offset: number;
    length: number;
  }): Promise<Uint8Array> {
    const h = this.#handle(req.handle, 'read');
    if (!h.flags.read && !h.staged)
      throw FsError.EBADF('read', String(req.handle), 'handle not open for reading');
    const src = h.staged ?? h.node;
    const end = Math.min(src.size, req.offset + req.length);
    if (end <= req.offset) return new Uint8Array(0);
    return Buffer.from(src.data.subarray(req.offset, end));
  }

  protected override async doWrite(req: {
    handle: Handle;
    offset: number;
    data: Uint8Array;
  }): Promise<{ written: number }> {
    const h = this.#handle(req.handle, 'write');
    if (!h.staged) throw FsError.EBADF('write', String(req.handle), 'handle not open for writing');
    writeInto(h.staged, h.flags.append ? h.staged.size : req.offset, req.data);
    return { written: req.data.byteLength };
  }

  protected override async doFlush(req: { handle: Handle }): Promise<void> {
    this.#handle(req.handle, 'flush');
  }

  protected override async doCloseFile(req: { handle: Handle; abort?: boolean | undefined }): Promise<void> {
    const h = this.#handle(req.handle, 'close');
    try {
      if (req.abort === true) return;
      if (h.pending) {
        const dir = this.store.dir(h.pending.parent, 'close');
        if (h.pending.exclusive && dir.children.has(h.pending.name)) {
          throw FsError.EEXIST('close', h.pending.name, 'another writer created the file first');
        }
        this.#commit(h);
        this.store.attach(dir, h.pending.name, h.node);
        this.store.announce({ kind: 'entry', parent: dir.local, name: h.pending.name }, this);
      } else if (h.staged) {
        this.#commit(h);
        this.store.announce({ kind: 'data', local: h.node.local }, this);
      }
    } finally {
      this.#drop(req.handle);
    }
  }

  #commit(h: OpenHandle): void {
    if (!h.staged) return;
    h.node.data = h.staged.data;
    h.node.size = h.staged.size;
    this.store.touch(h.node, 'm');
  }

  #drop(handle: Handle): void {
    const h = this.#handles.get(handle);
    if (!h) return;
    this.#handles.delete(handle);
    const file = h.node.local.toString();
    for (const owner of [`h${handle}`, ...h.owners]) this.store.locks.releaseOwner(owner, file);
    h.node.opens--;
    this.store.release(h.node);
  }

  protected override async doCreate(
    req: Parameters<Source['create']>[0],
  ): Promise<Entry & { handle: Handle }> {
    const dir = this.#dir(req.parent, 'create');
    const existing = dir.children.get(req.name);
    if (existing !== undefined) {
      if (req.exclusive) throw FsError.EEXIST('create', req.name);
      const node = this.store.nodes.get(existing);
      if (node?.kind === 'dir') throw FsError.EISDIR('create', req.name);
    }
    const node = this.store.allocate('file', req.mode);
    const flags = { read: req.flags?.read ?? false, write: true, truncate: true };
    const handle = this.#openNode(node, flags, {
      parent: dir.local,
      name: req.name,
      exclusive: req.exclusive ?? false,
    });
    return { ...this.#entry(node), handle };
  }

  #makeEntry(parent: NodeId, name: string, op: string, make: () => MemNode): Entry {
    const dir = this.#dir(parent, op);
    if (dir.children.has(name)) throw FsError.EEXIST(op, name);
    const node = make();
    this.store.attach(dir, name, node);
    this.store.announce({ kind: 'entry', parent: dir.local, name }, this);
    return this.#entry(node);
  }

  protected override async doMkdir(req: { parent: NodeId; name: string; mode: number }): Promise<Entry> {
    return this.#makeEntry(req.parent, req.name, 'mkdir', () => this.store.allocate('dir', req.mode));
  }

  protected override async doSymlink(req: { parent: NodeId; name: string; target: string }): Promise<Entry> {
    return this.#makeEntry(req.parent, req.name, 'symlink', () => {
      const node = this.store.allocate('symlink', 0o777);
      node.target = req.target;
      return node;
    });
  }

  protected override async doReadlink(req: { id: NodeId }): Promise<string> {
    const node = this.#node(req.id, 'readlink');
    if (node.kind !== 'symlink') throw FsError.EINVAL('readlink', req.id.toString(), 'not a symlink');
    return node.target ?? '';
  }

  protected override async doLink(req: { id: NodeId; newParent: NodeId; newName: string }): Promise<Entry> {
    const node = this.#node(req.id, 'link');
    if (node.kind === 'dir') throw FsError.EPERM('link', req.id.toString(), 'cannot hard-link a directory');
    return this.#makeEntry(req.newParent, req.newName, 'link', () => node);
  }

  protected override async doUnlink(req: { parent: NodeId; name: string }): Promise<void> {
    const dir = this.#dir(req.parent, 'unlink');
    const child = this.#child(req.parent, req.name, 'unlink');
    if (!child) throw FsError.ENOENT('unlink', req.name);
    if (child.kind === 'dir') throw FsError.EISDIR('unlink', req.name);
    this.store.detach(dir, req.name);
    this.store.announce({ kind: 'entry', parent: dir.local, name: req.name }, this);
  }

  protected override async doRmdir(req: { parent: NodeId; name: string }): Promise<void> {
    const dir = this.#dir(req.parent, 'rmdir');
    const child = this.#child(req.parent, req.name, 'rmdir');
    if (!child) throw FsError.ENOENT('rmdir', req.name);
    if (child.kind !== 'dir') throw FsError.ENOTDIR('rmdir', req.name);
    if ((child.children?.size ?? 0) > 0) throw FsError.ENOTEMPTY('rmdir', req.name);
    this.store.detach(dir, req.name);
    this.store.announce({ kind: 'entry', parent: dir.local, name: req.name }, this);
  }

  protected override async doRename(req: Parameters<Source['rename']>[0]): Promise<void> {
    const from = this.#dir(req.parent, 'rename');
    const to = this.#dir(req.newParent, 'rename');
    const node = this.#child(req.parent, req.name, 'rename');
    if (!node) throw FsError.ENOENT('rename', req.name);
    const target = this.#child(req.newParent, req.newName, 'rename');
    if (target === node) return;
    if (target) {
      if (req.noreplace) throw FsError.EEXIST('rename', req.newName);
      if (node.kind === 'dir' && target.kind !== 'dir') throw FsError.ENOTDIR('rename', req.newName);
      if (node.kind !== 'dir' && target.kind === 'dir') throw FsError.EISDIR('rename', req.newName);
      if (target.kind === 'dir' && (target.children?.size ?? 0) > 0)
        throw FsError.ENOTEMPTY('rename', req.newName);
    }
    if (node.kind === 'dir') {
      // Refuse moving a directory into its own subtree.
      for (let cur: bigint | undefined = to.local; cur !== undefined;) {
        if (cur === node.local)
          throw FsError.EINVAL('rename', req.newName, 'cannot move a directory into itself');
        if (cur === 1n) break;
        cur = this.store.nodes.get(cur)?.parent;
      }
    }
    node.links++; // keep it alive between detach and attach
    this.store.detach(from, req.name);
    this.store.attach(to, req.newName, node);
    node.links--;
    this.store.announce({ kind: 'entry', parent: from.local, name: req.name }, this);
    this.store.announce({ kind: 'entry', parent: to.local, name: req.newName }, this);
  }

  protected override async doGetxattr(req: { id: NodeId; name: string }): Promise<Uint8Array> {
    const value = this.#node(req.id, 'getxattr').xattrs.get(req.name);
    if (!value) throw FsError.ENODATA('getxattr', req.name);
    return Buffer.from(value);
  }

  protected override async doSetxattr(req: Parameters<Source['setxattr']>[0]): Promise<void> {
    const node = this.#node(req.id, 'setxattr');
    if (!req.name.startsWith('user.'))
      throw FsError.EOPNOTSUPP('setxattr', req.name, 'only user.* attributes');
    if (req.value.byteLength > 65536) throw FsError.E2BIG('setxattr', req.name);
    const has = node.xattrs.has(req.name);
    if (req.mode === 'create' && has) throw FsError.EEXIST('setxattr', req.name);
    if (req.mode === 'replace' && !has) throw FsError.ENODATA('setxattr', req.name);
    node.xattrs.set(req.name, Buffer.from(req.value));
    this.store.touch(node, 'c');
    this.store.announce({ kind: 'attr', local: node.local }, this);
  }

  protected override async doListxattr(req: { id: NodeId }): Promise<string[]> {
    return [...this.#node(req.id, 'listxattr').xattrs.keys()];
  }

  protected override async doRemovexattr(req: { id: NodeId; name: string }): Promise<void> {
    const node = this.#node(req.id, 'removexattr');
    if (!node.xattrs.delete(req.name)) throw FsError.ENODATA('removexattr', req.name);
    this.store.touch(node, 'c');
    this.store.announce({ kind: 'attr', local: node.local }, this);
  }

  protected override async doLock(req: Parameters<Source['lock']>[0]): Promise<LockInfo | null> {
    const h = this.#handle(req.handle, 'lock');
    const file = h.node.local.toString();
    const owner = req.owner ?? `h${req.handle}`;
    if (req.owner !== undefined) h.owners.add(req.owner);
    const table = this.store.locks.of(req.kind);
    if (req.type === 'unlock') {
      table.set(file, { owner, type: 'unlock', start: req.start, length: req.length });
      return null;
    }
    const lock = { owner, type: req.type, start: req.start, length: req.length };
    if (req.cmd === 'test') return table.test(file, lock);
    if (req.cmd === 'set') table.set(file, lock);
    else await table.wait(file, lock);
    return null;
  }

  protected override async doStatfs(req: { id: NodeId }): Promise<StatFs> {
    this.#node(req.id, 'statfs');
    const bsize = 4096;
    const blocks = Math.floor(this.store.capacity / bsize);
    const free = Math.max(0, blocks - Math.ceil(this.store.usedBytes() / bsize));
    return {
      bsize,
      blocks,
      bfree: free,
      bavail: free,
      files: 1 << 24,
      ffree: (1 << 24) - this.store.nodes.size,
      namemax: 255,
    };
  }
}

/** Registry entry point. */
export function createSource(spec: SourceSpec): Source {
  const parsed = optionsSchema.safeParse(spec.options ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw FsError.EINVAL(
      'export',
      spec.name,
      `bad memory option ${issue?.path.join('.') ?? ''}: ${issue?.message ?? ''}`,
    );
  }
  return new MemorySource({
    name: spec.name,
    exportIndex: spec.exportIndex,
    ro: spec.ro,
    store: new MemoryStore({ capacity: parsed.data.capacity }),
  });
}
