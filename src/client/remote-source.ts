import type { Attr } from '../core/attr.ts';
import { FsError } from '../core/fs-error.ts';
import type { NodeId } from '../core/ids.ts';
import { invalidationSchema } from '../protocol/schemas.ts';
import { MultiExportSource } from '../sources/multi-export-source.ts';
import type { DirEntry, Entry, ExportInfo, Handle, LockInfo, Source, StatFs } from '../sources/source.ts';
import { type CallResult, Connection, type ConnectOptions } from './connection.ts';
import type { OpName } from '../protocol/ops.ts';

type Req<K extends keyof Source> = Source[K] extends (req: infer R) => unknown ? R : never;

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

  protected override async doLookup(req: Req<'lookup'>): Promise<Entry> {
    return (await this.#call('LOOKUP', req)).result;
  }
  protected override async doGetattr(req: Req<'getattr'>): Promise<Attr> {
    return (await this.#call('GETATTR', req)).result;
  }
  protected override async doSetattr(req: Req<'setattr'>): Promise<Attr> {
    return (await this.#call('SETATTR', req)).result;
  }
  protected override async doReaddirp(
    req: Req<'readdirp'>,
  ): Promise<{ entries: DirEntry[]; cookie: string; eof: boolean }> {
    return (await this.#call('READDIRP', req)).result;
  }
  protected override async doOpenFile(req: Req<'openFile'>): Promise<{ handle: Handle }> {
    return (await this.#call('OPEN', req)).result;
  }

  /**
   * Reads bigger than one chunk are split into pipelined requests and reassembled. With
   * `into` the bytes are received straight into it (no buffer per read, no reassembly copy).
   */
  protected override async doRead(req: Req<'read'>): Promise<Uint8Array> {
    if (req.length <= CHUNK_BYTES) {
      const { handle, offset, length } = req;
      return (
        (await this.#call('READ', { handle, offset, length }, undefined, req.into)).payload ?? Buffer.alloc(0)
      );
    }
    if (req.into !== undefined) return this.#readInto(req, req.into);
    const parts: Buffer[] = [];
    const starts: number[] = [];
    for (let off = 0; off < req.length; off += CHUNK_BYTES) starts.push(off);
    let next = 0;
    const results = new Array<Buffer>(starts.length);
    const worker = async () => {
      while (next < starts.length) {
        const i = next++;
        const off = starts[i]!;
        const length = Math.min(CHUNK_BYTES, req.length - off);
        results[i] =
          (await this.#call('READ', { handle: req.handle, offset: req.offset + off, length })).payload ??
          Buffer.alloc(0);
      }
    };
    await Promise.all(Array.from({ length: Math.min(WINDOW, starts.length) }, worker));
    // Stop at the first short chunk: that is the end of the file.
    for (const [i, part] of results.entries()) {
      parts.push(part);
      if (part.length < Math.min(CHUNK_BYTES, req.length - starts[i]!)) break;
    }
    return Buffer.concat(parts);
  }

  /** A read of several chunks into `into`: each chunk lands in its place; stops at the end of file. */
  async #readInto(req: Req<'read'>, into: Uint8Array): Promise<Uint8Array> {
    const starts: number[] = [];
    for (let off = 0; off < req.length; off += CHUNK_BYTES) starts.push(off);
    const got = new Array<number>(starts.length).fill(0);
    let next = 0;
    const worker = async () => {
      while (next < starts.length) {
        const i = next++;
        const off = starts[i]!;
        const length = Math.min(CHUNK_BYTES, req.length - off);
        const place = into.subarray(off, off + length);
        const args = { handle: req.handle, offset: req.offset + off, length };
        const part = (await this.#call('READ', args, undefined, place)).payload ?? Buffer.alloc(0);
        // An answer that did not arrive in place (a fragmented one) is copied there.
        if (part.buffer !== place.buffer || part.byteOffset !== place.byteOffset) place.set(part);
        got[i] = part.length;
      }
    };
    await Promise.all(Array.from({ length: Math.min(WINDOW, starts.length) }, worker));
    // Stop at the first short chunk: that is the end of the file.
    let total = 0;
    for (const [i, n] of got.entries()) {
      total += n;
      if (n < Math.min(CHUNK_BYTES, req.length - starts[i]!)) break;
    }
    return into.subarray(0, total);
  }

  /** Writes bigger than one chunk are split into pipelined requests. */
  protected override async doWrite(req: Req<'write'>): Promise<{ written: number }> {
    const data = req.data;
    if (data.byteLength <= CHUNK_BYTES) {
      return (await this.#call('WRITE', { handle: req.handle, offset: req.offset }, data)).result;
    }
    let next = 0;
    let written = 0;
    const worker = async () => {
      while (next * CHUNK_BYTES < data.byteLength) {
        const off = next++ * CHUNK_BYTES;
        const chunk = data.subarray(off, Math.min(off + CHUNK_BYTES, data.byteLength));
        written += (await this.#call('WRITE', { handle: req.handle, offset: req.offset + off }, chunk)).result
          .written;
      }
    };
    await Promise.all(Array.from({ length: WINDOW }, worker));
    return { written };
  }
  protected override async doFlush(req: Req<'flush'>): Promise<void> {
    await this.#call('FLUSH', req);
  }
  protected override async doCloseFile(req: Req<'closeFile'>): Promise<void> {
    await this.#call('CLOSE', req.abort ? { handle: req.handle, abort: true } : { handle: req.handle });
  }
  protected override async doCreate(req: Req<'create'>): Promise<Entry & { handle: Handle }> {
    return (await this.#call('CREATE', req)).result;
  }
  protected override async doMkdir(req: Req<'mkdir'>): Promise<Entry> {
    return (await this.#call('MKDIR', req)).result;
  }
  protected override async doUnlink(req: Req<'unlink'>): Promise<void> {
    await this.#call('UNLINK', req);
  }
  protected override async doRmdir(req: Req<'rmdir'>): Promise<void> {
    await this.#call('RMDIR', req);
  }
  protected override async doRename(req: Req<'rename'>): Promise<void> {
    await this.#call('RENAME', req);
  }
  protected override async doSymlink(req: Req<'symlink'>): Promise<Entry> {
    return (await this.#call('SYMLINK', req)).result;
  }
  protected override async doReadlink(req: Req<'readlink'>): Promise<string> {
    return (await this.#call('READLINK', req)).result.target;
  }
  protected override async doLink(req: Req<'link'>): Promise<Entry> {
    return (await this.#call('LINK', req)).result;
  }
  protected override async doGetxattr(req: Req<'getxattr'>): Promise<Uint8Array> {
    return (await this.#call('GETXATTR', req)).payload ?? Buffer.alloc(0);
  }
  protected override async doSetxattr(req: Req<'setxattr'>): Promise<void> {
    await this.#call(
      'SETXATTR',
      { id: req.id, name: req.name, ...(req.mode ? { mode: req.mode } : {}) },
      req.value,
    );
  }
  protected override async doListxattr(req: Req<'listxattr'>): Promise<string[]> {
    return (await this.#call('LISTXATTR', req)).result.names;
  }
  protected override async doRemovexattr(req: Req<'removexattr'>): Promise<void> {
    await this.#call('REMOVEXATTR', req);
  }
  protected override async doLock(req: Req<'lock'>): Promise<LockInfo | null> {
    return (await this.#call('LOCK', req)).result.conflict;
  }
  protected override async doStatfs(req: Req<'statfs'>): Promise<StatFs> {
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
