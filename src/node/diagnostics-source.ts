import type { Attr } from '../core/attr.ts';
import { nowNs, syntheticAttr } from '../core/attr.ts';
import { FsError } from '../core/fs-error.ts';
import { localPartOf, makeId, type NodeId, rootId } from '../core/ids.ts';
import { SingleExportSource } from '../sources/base-source.ts';
import type { Caps, DirEntry, Entry, Handle, SourceRequest, StatFs } from '../sources/source.ts';

/** The export index of the diagnostics tree inside its own Source. */
const OWN_INDEX = 1;

const CAPS: Caps = {
  native_watch: false,
  case_sensitive: true,
  symlink: false,
  xattr: false,
  lock: false,
  hardlink: false,
  max_file_size: 64 * 1024 * 1024,
  writable: false,
  posix_attrs: false,
  atomic_write: true,
  persistent_ids: true,
};

/**
 * A node's read-only diagnostics tree (`/.tessera/` in its namespace): a few files whose
 * content is generated when they are looked at — status, mounts, sessions, recent errors,
 * metrics. Opening a file takes a snapshot, so reads of one handle see one consistent text.
 * Because it is an ordinary Source in the namespace, the protocol serves it too, and a node
 * that mounts another's namespace sees the other's `/.tessera/`.
 */
export class DiagnosticsSource extends SingleExportSource {
  readonly #files: readonly { name: string; generate: () => string }[];
  readonly #snapshots = new Map<Handle, Buffer>();
  readonly #born = nowNs();
  #nextHandle = 1;

  constructor(opts: { name: string; files: Record<string, () => string> }) {
    super({
      name: opts.name,
      exportIndex: OWN_INDEX,
      ro: true,
      desc: "the node's diagnostics (generated, read-only)",
      sourceKind: 'diagnostics',
      sourceId: `diagnostics:${opts.name}`,
    });
    this.#files = Object.entries(opts.files)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([name, generate]) => ({ name, generate }));
  }

  get caps(): Caps {
    return { ...CAPS };
  }

  #fileOf(id: NodeId, op: string): { name: string; generate: () => string } {
    const i = Number(localPartOf(id)) - 2;
    const file = this.#files[i];
    if (file === undefined || id !== makeId(OWN_INDEX, BigInt(i + 2)))
      throw FsError.ESTALE(op, id.toString());
    return file;
  }

  #attr(kind: 'dir' | 'file', size: number): Attr {
    return syntheticAttr({ kind, size, timeNs: kind === 'dir' ? this.#born : nowNs() });
  }

  #entry(i: number): DirEntry {
    const file = this.#files[i]!;
    return {
      name: file.name,
      id: makeId(OWN_INDEX, BigInt(i + 2)),
      attr: this.#attr('file', Buffer.byteLength(file.generate())),
    };
  }

  protected override async doLookup(req: SourceRequest<'lookup'>): Promise<Entry> {
    if (req.parent !== rootId(OWN_INDEX)) throw FsError.ENOTDIR('lookup', req.parent.toString());
    const i = this.#files.findIndex((f) => f.name === req.name);
    if (i < 0) throw FsError.ENOENT('lookup', req.name);
    const { id, attr } = this.#entry(i);
    return { id, attr };
  }

  protected override async doGetattr(req: SourceRequest<'getattr'>): Promise<Attr> {
    if (req.id === rootId(OWN_INDEX)) return this.#attr('dir', 0);
    return this.#attr('file', Buffer.byteLength(this.#fileOf(req.id, 'getattr').generate()));
  }

  protected override async doReaddirp(
    req: SourceRequest<'readdirp'>,
  ): Promise<{ entries: DirEntry[]; cookie: string; eof: boolean }> {
    if (req.dir !== rootId(OWN_INDEX)) throw FsError.ENOTDIR('readdirp', req.dir.toString());
    const start = req.cookie === '' ? 0 : Number(req.cookie);
    if (!Number.isInteger(start) || start < 0)
      throw FsError.EINVAL(
        'readdirp',
        req.cookie,
        'malformed readdir cookie (expected one this listing gave out)',
      );
    const end = Math.min(this.#files.length, start + Math.max(1, req.max));
    const entries: DirEntry[] = [];
    for (let i = start; i < end; i++) entries.push(this.#entry(i));
    return { entries, cookie: String(end), eof: end >= this.#files.length };
  }

  protected override async doOpenFile(req: SourceRequest<'openFile'>): Promise<{ handle: Handle }> {
    if (req.id === rootId(OWN_INDEX)) throw FsError.EISDIR('open', req.id.toString());
    const text = this.#fileOf(req.id, 'open').generate();
    const handle = this.#nextHandle++;
    this.#snapshots.set(handle, Buffer.from(text));
    return { handle };
  }

  protected override async doRead(req: SourceRequest<'read'>): Promise<Uint8Array> {
    const data = this.#snapshots.get(req.handle);
    if (!data) throw FsError.EBADF('read', String(req.handle));
    return data.subarray(
      Math.min(req.offset, data.byteLength),
      Math.min(req.offset + req.length, data.byteLength),
    );
  }

  protected override async doFlush(req: SourceRequest<'flush'>): Promise<void> {
    if (!this.#snapshots.has(req.handle)) throw FsError.EBADF('flush', String(req.handle));
  }

  protected override async doCloseFile(req: SourceRequest<'closeFile'>): Promise<void> {
    if (!this.#snapshots.delete(req.handle)) throw FsError.EBADF('close', String(req.handle));
  }

  protected override async doStatfs(): Promise<StatFs> {
    return { bsize: 4096, blocks: 0, bfree: 0, bavail: 0, files: this.#files.length, ffree: 0, namemax: 255 };
  }

  protected override async doClose(): Promise<void> {
    this.#snapshots.clear();
  }
}

/** Lines kept by {@link RecentErrors}. */
const RECENT_MAX = 200;

/** The node's most recent warning and error log lines (JSON), newest last. */
export class RecentErrors {
  readonly #lines: string[] = [];

  add(line: string): void {
    this.#lines.push(line);
    if (this.#lines.length > RECENT_MAX) this.#lines.shift();
  }

  /** A JSON array of the log records. */
  json(): string {
    return `[${this.#lines.join(',\n')}]\n`;
  }
}
