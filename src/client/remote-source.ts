import type { Attr } from '../core/attr.ts';
import { FsError } from '../core/fs-error.ts';
import { mapLimit } from '../core/map-limit.ts';
import type { NodeId } from '../core/ids.ts';
import { invalidationSchema } from '../protocol/schemas.ts';
import { MultiExportSource } from '../sources/multi-export-source.ts';
import type {
  DirEntry,
  Entry,
  ExportInfo,
  Handle,
  LockInfo,
  Source,
  StatFs,
  SourceRequest,
} from '../sources/source.ts';
import { writeWhole } from '../sources/source.ts';
import { SINCE } from '../protocol/version.ts';
import { type CallResult, Connection, type ConnectOptions } from './connection.ts';
import type { OpName } from '../protocol/ops.ts';

/** Bytes per READ/WRITE request; bigger calls are split and pipelined. */
export const CHUNK_BYTES = 1024 * 1024;
/** Requests of one big read or write in flight at once. */
export const WINDOW = 16;

/**
 * A Source over the wire: every operation is a request to a node, ids are the node's own
 * (so a remote export keeps its export index), and invalidations arrive as pushes. One
 * RemoteSource is one session; when the connection drops every call in flight fails with a
 * retryable error and later calls fail too (reconnecting is the mount layer's job).
 */
export class RemoteSource extends MultiExportSource {
  #conn: Connection | undefined;
  #sub: number | undefined;
  #subscribing: Promise<void> | undefined;
  #unpush: (() => void) | undefined;

  constructor(private readonly opts: { connect: ConnectOptions } | { connection: Connection }) {
    super();
  }

  /** The session, once open. */
  get connection(): Connection {
    if (!this.#conn) throw FsError.ENOTCONN('remote', undefined, 'remote source is not open');
    return this.#conn;
  }

  protected override async doOpen(): Promise<void> {
    this.#conn =
      'connection' in this.opts ? this.opts.connection : await Connection.connect(this.opts.connect);
    this.#unpush = this.#conn.onPush((ev, body) => {
      if (ev !== 'INVALIDATE' || body.sub !== this.#sub || !Array.isArray(body.events)) return;
      for (const raw of body.events) {
        const parsed = invalidationSchema.safeParse(raw);
        if (parsed.success) this.hub.emit(parsed.data);
      }
    });
    await this.refreshExports();
  }

  protected override async doClose(): Promise<void> {
    this.#unpush?.();
    await this.#conn?.close();
  }

  /** Re-read the node's exports (EXPORTS). */
  async refreshExports(): Promise<ExportInfo[]> {
    this.knownExports = (await this.#call('EXPORTS', {})).result.exports;
    return this.exportsInfo();
  }

  override watch(listener: Parameters<Source['watch']>[0]): () => void {
    const stop = super.watch(listener);
    if (this.#sub === undefined && this.#conn && !this.#conn.closed) {
      this.#subscribing ??= this.#call('SUBSCRIBE', {})
        .then(({ result }) => {
          this.#sub = result.sub;
        })
        .catch(() => {
          this.#subscribing = undefined;
        });
    }
    return stop;
  }

  /** Resolves once a pending SUBSCRIBE is in place (so no push is missed after watch()). */
  async subscribed(): Promise<void> {
    await this.#subscribing;
  }

  #call<K extends OpName>(
    op: K,
    args: unknown,
    payload?: Uint8Array,
    into?: Uint8Array,
  ): Promise<CallResult<K>> {
    if (!this.#conn)
      return Promise.reject(FsError.ENOTCONN(op.toLowerCase(), undefined, 'remote source is not open'));
    return this.#conn.call(op, args, { payload, into });
  }

  protected override async doLookup(req: SourceRequest<'lookup'>): Promise<Entry> {
    return (await this.#call('LOOKUP', req)).result;
  }
  protected override async doGetattr(req: SourceRequest<'getattr'>): Promise<Attr> {
    return (await this.#call('GETATTR', req)).result;
  }
  protected override async doSetattr(req: SourceRequest<'setattr'>): Promise<Attr> {
    return (await this.#call('SETATTR', req)).result;
  }
  protected override async doReaddirp(
    req: SourceRequest<'readdirp'>,
  ): Promise<{ entries: DirEntry[]; cookie: string; eof: boolean }> {
    return (await this.#call('READDIRP', req)).result;
  }
  protected override async doOpenFile(req: SourceRequest<'openFile'>): Promise<{ handle: Handle }> {
    return (await this.#call('OPEN', req)).result;
  }

  /**
   * Reads bigger than one chunk are split into pipelined requests, each received straight
   * into its place in `into` (or in one buffer of the read's length): no buffer per chunk,
   * no reassembly copy.
   */
  protected override async doRead(req: SourceRequest<'read'>): Promise<Uint8Array> {
    const { handle, offset, length } = req;
    if (length <= CHUNK_BYTES) {
      return (
        (await this.#call('READ', { handle, offset, length }, undefined, req.into)).payload ?? Buffer.alloc(0)
      );
    }
    const into = req.into ?? Buffer.allocUnsafe(length);
    const got = await mapLimit(chunkStarts(length), WINDOW, async (off) => {
      const place = into.subarray(off, Math.min(off + CHUNK_BYTES, length));
      const args = { handle, offset: offset + off, length: place.byteLength };
      const part = (await this.#call('READ', args, undefined, place)).payload ?? Buffer.alloc(0);
      // An answer that did not arrive in place (a fragmented one) is copied there.
      if (part.buffer !== place.buffer || part.byteOffset !== place.byteOffset) place.set(part);
      return { n: part.byteLength, short: part.byteLength < place.byteLength };
    });
    // Stop at the first short chunk: that is the end of the file.
    let total = 0;
    for (const { n, short } of got) {
      total += n;
      if (short) break;
    }
    return into.subarray(0, total);
  }

  /** Writes bigger than one chunk are split into pipelined requests. */
  protected override async doWrite(req: SourceRequest<'write'>): Promise<{ written: number }> {
    const { handle, offset, data } = req;
    if (data.byteLength <= CHUNK_BYTES) {
      return (await this.#call('WRITE', { handle, offset }, data)).result;
    }
    const written = await mapLimit(chunkStarts(data.byteLength), WINDOW, async (off) => {
      const chunk = data.subarray(off, off + CHUNK_BYTES);
      return (await this.#call('WRITE', { handle, offset: offset + off }, chunk)).result.written;
    });
    return { written: written.reduce((a, b) => a + b, 0) };
  }
  protected override async doFlush(req: SourceRequest<'flush'>): Promise<void> {
    await this.#call('FLUSH', req);
  }
  /** A CLOSE carries the handle's last write to a node that knows the field. */
  protected override get closeCarriesWrite(): boolean {
    return this.#speaks('closeWrite');
  }

  /** Whether this session's peer knows the wire field `field` (see {@link SINCE}). */
  #speaks(field: keyof typeof SINCE): boolean {
    return (this.#conn?.session.version ?? 0) >= SINCE[field];
  }

  protected override async doCloseFile(req: SourceRequest<'closeFile'>): Promise<void> {
    const { handle, write } = req;
    if (write === undefined) {
      await this.#call('CLOSE', req.abort ? { handle, abort: true } : { handle });
      return;
    }
    // Bigger than one request: all but the last chunk go ahead as WRITEs.
    const head = Math.max(0, write.data.byteLength - CHUNK_BYTES);
    if (head > 0) {
      await writeWhole({
        write: (w) => this.doWrite(w),
        req: {
          handle,
          offset: write.offset,
          data: write.data.subarray(0, head),
        },
      });
    }
    await this.#call('CLOSE', { handle, offset: write.offset + head }, write.data.subarray(head));
  }
  protected override async doCreate(req: SourceRequest<'create'>): Promise<Entry & { handle: Handle }> {
    return (await this.#call('CREATE', req)).result;
  }
  protected override async doMkdir(req: SourceRequest<'mkdir'>): Promise<Entry> {
    return (await this.#call('MKDIR', req)).result;
  }
  protected override async doUnlink(req: SourceRequest<'unlink'>): Promise<void> {
    await this.#call('UNLINK', req);
  }
  protected override async doRmdir(req: SourceRequest<'rmdir'>): Promise<void> {
    await this.#call('RMDIR', req);
  }
  protected override async doRename(req: SourceRequest<'rename'>): Promise<void> {
    await this.#call('RENAME', req);
  }
  protected override async doSymlink(req: SourceRequest<'symlink'>): Promise<Entry> {
    return (await this.#call('SYMLINK', req)).result;
  }
  protected override async doReadlink(req: SourceRequest<'readlink'>): Promise<string> {
    return (await this.#call('READLINK', req)).result.target;
  }
  protected override async doLink(req: SourceRequest<'link'>): Promise<Entry> {
    return (await this.#call('LINK', req)).result;
  }
  protected override async doGetxattr(req: SourceRequest<'getxattr'>): Promise<Uint8Array> {
    return (await this.#call('GETXATTR', req)).payload ?? Buffer.alloc(0);
  }
  protected override async doSetxattr(req: SourceRequest<'setxattr'>): Promise<void> {
    await this.#call(
      'SETXATTR',
      { id: req.id, name: req.name, ...(req.mode ? { mode: req.mode } : {}) },
      req.value,
    );
  }
  protected override async doListxattr(req: SourceRequest<'listxattr'>): Promise<string[]> {
    return (await this.#call('LISTXATTR', req)).result.names;
  }
  protected override async doRemovexattr(req: SourceRequest<'removexattr'>): Promise<void> {
    await this.#call('REMOVEXATTR', req);
  }
  protected override async doLock(req: SourceRequest<'lock'>): Promise<LockInfo | null> {
    // A v1 node knows one lock space and refuses the field: its flock is a whole-file POSIX lock.
    const { kind, ...v1 } = req;
    const known = kind !== undefined && this.#speaks('lockKind');
    return (await this.#call('LOCK', known ? { ...v1, kind } : v1)).result.conflict;
  }
  protected override async doStatfs(req: SourceRequest<'statfs'>): Promise<StatFs> {
    return (await this.#call('STATFS', req)).result;
  }

  /**
   * Server-side content hash of a file (for end-to-end verification of transfers), or of the
   * byte range `offset`…`offset + length` (cut short at the end of the file; `size` says how
   * many bytes were hashed).
   */
  async hash(req: {
    id: NodeId;
    offset?: number | undefined;
    length?: number | undefined;
  }): Promise<{ algo: 'sha256'; hex: string; size: number }> {
    const args = {
      id: req.id,
      algo: 'sha256',
      ...(req.offset !== undefined ? { offset: req.offset } : {}),
      ...(req.length !== undefined ? { length: req.length } : {}),
    };
    return (await this.#call('HASH', args)).result;
  }

  /** Wait until `id` changes or `timeoutMs` passes. */
  async wait(req: { id: NodeId; timeoutMs: number; signal?: AbortSignal }): Promise<{ changed: boolean }> {
    const res = await this.connection.call(
      'WAIT',
      { id: req.id, timeoutMs: req.timeoutMs },
      req.signal ? { signal: req.signal } : {},
    );
    return { changed: res.result.changed };
  }

  /** Take the oldest entry of a queue directory. */
  async take(req: { dir: NodeId; timeoutMs?: number }): Promise<{ name: string; data: Buffer }> {
    const res = await this.#call('TAKE', req);
    return { name: res.result.name, data: res.payload ?? Buffer.alloc(0) };
  }

  /** Round-trip time to the node, in ms. */
  async ping(): Promise<number> {
    const start = performance.now();
    await this.#call('PING', {});
    return performance.now() - start;
  }
}

/** Offsets of the CHUNK_BYTES pieces of `length` bytes. */
function chunkStarts(length: number): number[] {
  const starts: number[] = [];
  for (let off = 0; off < length; off += CHUNK_BYTES) starts.push(off);
  return starts;
}
