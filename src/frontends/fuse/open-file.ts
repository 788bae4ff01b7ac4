import { type Attr, nowNs } from '../../core/attr.ts';
import { FsError } from '../../core/fs-error.ts';
import type { NodeId } from '../../core/ids.ts';
import type { Handle, OpenFlags, Source } from '../../sources/source.ts';
import { ChunkPool } from './chunk-pool.ts';

/** Bytes per read-ahead chunk and per coalesced write sent to the Source. */
export const CHUNK = 1024 * 1024;
/** Chunks read ahead of a sequential reader. */
export const READ_AHEAD = 8;
/** Written bytes sent but not yet acknowledged before a writer has to wait. */
export const WRITE_BEHIND_BYTES = 16 * CHUNK;

/** The chunk buffers of every open file of the process. */
const pool = new ChunkPool({ size: CHUNK });

/** A read-ahead chunk: its buffer can be reused once it is read and nothing holds it. */
interface Chunk {
  bytes: Promise<Buffer>;
  buf: Buffer;
  /** Whether the Source is done filling `buf`. */
  settled: boolean;
  /** Reads answering from it right now. */
  readers: number;
  /** Whether it left the read-ahead (its buffer goes back to the pool once nothing reads it). */
  retired: boolean;
}

/**
 * One open file of the mount: the Source handle, plus
 *
 * - write-behind: the kernel sends writes (up to 1 MiB) one at a time and waits for each answer, so
 *   a write is acknowledged once copied into a 1 MiB coalescing buffer; full buffers go to
 *   the Source pipelined (up to {@link WRITE_BEHIND_BYTES} in flight). The first failure is
 *   kept and reported by the next write, `drain` (flush, fsync, close) — NFS-style;
 * - read-ahead: a sequential reader gets {@link READ_AHEAD} aligned 1 MiB chunks fetched
 *   ahead of it; the kernel's reads are answered from them.
 */
export class OpenFile {
  readonly id: NodeId;
  readonly #flags: OpenFlags;
  #handle: Handle | undefined;
  #reopening: Promise<Handle> | undefined;
  /** The handle locks are taken through (see {@link lockHandle}). */
  #lockHandle: Promise<Handle> | undefined;
  readonly #source: Source;
  /** Whether this handle took byte-range locks (flush must release the owner's). */
  locked = false;
  /** Whether the file was changed through this handle (written or truncated). */
  modified = false;
  /** Whether the handle came from `create` (closing it must make the file appear). */
  #created: boolean;
  /** The attributes the file was created with, while it is not published. */
  readonly #createdAttr: Attr | undefined;
  /** End of the bytes written through this handle (the size of a created file). */
  #writtenEnd = 0;
  #writtenNs: bigint | undefined;

  // write-behind
  #buf: Buffer | undefined;
  #bufStart = 0;
  #bufLen = 0;
  readonly #inflight = new Set<Promise<void>>();
  #inflightBytes = 0;
  #error: FsError | undefined;

  // read-ahead
  readonly #chunks = new Map<number, Chunk>();
  #nextOffset = -1;
  #sequential = 0;
  #generation = 0;

  /** `created`: the attributes `create` answered, for a handle that created the file. */
  constructor(opts: { source: Source; id: NodeId; handle: Handle; flags: OpenFlags; created?: Attr }) {
    this.#source = opts.source;
    this.#created = opts.created !== undefined;
    this.#createdAttr = opts.created;
    this.id = opts.id;
    this.#handle = opts.handle;
    this.#flags = opts.flags;
  }

  /** Whether this handle created the file and the file is not visible on the Source yet. */
  get unpublished(): boolean {
    return this.#created && this.#handle !== undefined;
  }

  /** Attributes of an unpublished created file: as created, at the size written so far. */
  localAttr(): Attr | undefined {
    const a = this.#createdAttr;
    if (a === undefined) return undefined;
    const mtimeNs = this.#writtenNs ?? a.mtimeNs;
    return { ...a, size: Math.max(a.size, this.#writtenEnd), mtimeNs, ctimeNs: mtimeNs };
  }

  /**
   * The Source handle; opened again (without truncating) after a {@link commit} when the file
   * is used through another descriptor of the same open file.
   */
  async handle(): Promise<Handle> {
    if (this.#handle !== undefined) return this.#handle;
    this.#reopening ??= this.#source
      .openFile({ id: this.id, flags: { ...this.#flags, truncate: false } })
      .then(({ handle }) => (this.#handle = handle))
      .finally(() => (this.#reopening = undefined));
    return this.#reopening;
  }

  /**
   * The Source handle for byte-range locks and flock: a read-only one of its own, opened on
   * first use and closed by {@link close}. A closed handle's locks are released, and
   * {@link commit} closes the data handle to publish the file, so locks taken through it
   * would go at the next close(2) of any descriptor, or when another process merely looks
   * up a lock file just created (`open(O_CREAT)` + `flock`). A created file is published
   * first (it cannot be opened before).
   */
  lockHandle(): Promise<Handle> {
    this.#lockHandle ??= (async () => {
      if (this.unpublished) await this.commit();
      const { handle } = await this.#source.openFile({ id: this.id, flags: { read: true, write: false } });
      return handle;
    })().catch((err: unknown) => {
      this.#lockHandle = undefined;
      throw err;
    });
    return this.#lockHandle;
  }

  /**
   * Make what was written visible now: close(2) of a descriptor (FUSE's FLUSH) is where
   * programs expect it — `git` renames a lock file right after closing it, long before the
   * kernel's asynchronous RELEASE. A handle with nothing to publish is kept.
   */
  async commit(): Promise<void> {
    const write = this.#lastWrite();
    if (write === undefined) await this.drain();
    if (this.#handle === undefined || (!this.#created && !this.modified)) return;
    const handle = this.#handle;
    const created = this.#created;
    this.#handle = undefined;
    this.#created = false;
    this.modified = false;
    this.dropReadAhead();
    if (write === undefined) return this.#source.closeFile({ handle });
    try {
      await this.#source.closeFile({ handle, write });
    } catch (err) {
      // As after a failed drain: the handle stays (the failed write left it open), to be
      // closed by the release. A write that reopened a handle meanwhile keeps its own.
      if (this.#handle === undefined) {
        this.#handle = handle;
        this.#created = created;
        this.modified = true;
      } else void this.#source.closeFile({ handle, abort: true }).catch(() => undefined);
      throw FsError.from(err, 'write');
    }
    pool.give(write.data);
  }

  /**
   * The buffered bytes, taken to travel with the close, when they are all that is left to
   * send (nothing in flight, no failure pending): one request instead of a WRITE and a
   * CLOSE. Undefined otherwise (then the close drains first).
   */
  #lastWrite(): { offset: number; data: Buffer } | undefined {
    if (this.#handle === undefined || this.#inflight.size > 0 || this.#error !== undefined) return undefined;
    if (this.#buf === undefined || this.#bufLen === 0 || (!this.#created && !this.modified)) return undefined;
    const write = { offset: this.#bufStart, data: this.#buf.subarray(0, this.#bufLen) };
    this.#buf = undefined;
    this.#bufLen = 0;
    return write;
  }

  /** Whether written bytes are not yet acknowledged by the Source. */
  get dirty(): boolean {
    return this.#bufLen > 0 || this.#inflight.size > 0;
  }

  /**
   * Accept `data` at `offset`; resolves once it is buffered (or sent, if large). A `data`
   * no larger than a chunk is copied before the first await (the caller may reuse it then:
   * the FUSE layer gives its write slot back).
   */
  async write(offset: number, data: Uint8Array): Promise<number> {
    this.#throwPending();
    this.dropReadAhead();
    this.modified = true;
    this.#writtenEnd = Math.max(this.#writtenEnd, offset + data.length);
    this.#writtenNs = nowNs();
    if (this.#buf && offset === this.#bufStart + this.#bufLen && this.#bufLen + data.length <= CHUNK) {
      this.#buf.set(data, this.#bufLen);
      this.#bufLen += data.length;
    } else {
      this.#sendBuffer();
      if (data.length > CHUNK) {
        this.#send(offset, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      } else {
        this.#buf = pool.take();
        this.#buf.set(data, 0);
        this.#bufStart = offset;
        this.#bufLen = data.length;
      }
    }
    if (this.#bufLen === CHUNK) this.#sendBuffer();
    while (this.#inflightBytes > WRITE_BEHIND_BYTES && this.#inflight.size > 0) {
      await Promise.race(this.#inflight);
    }
    this.#throwPending();
    return data.length;
  }

  /**
   * Close the Source handle. A handle opened for writing but never written through is closed
   * with `abort`, so opening a file for writing alone (touch, utimes through an fd) does not
   * rewrite it; a created file always appears.
   */
  async close(): Promise<void> {
    const write = this.#lastWrite();
    try {
      if (write === undefined) await this.drain();
    } finally {
      const handle = this.#handle ?? (await this.#reopening?.catch(() => undefined));
      this.#handle = undefined;
      const lockHandle = await this.#lockHandle?.catch(() => undefined);
      this.#lockHandle = undefined;
      try {
        if (handle !== undefined && write !== undefined) await this.#closeWith(handle, write);
        else if (handle !== undefined)
          await this.#source.closeFile({ handle, abort: !this.#created && !this.modified });
      } finally {
        if (lockHandle !== undefined) await this.#source.closeFile({ handle: lockHandle });
      }
    }
  }

  /** Close with the last write; if it fails, close anyway (as after a failed drain) and say why. */
  async #closeWith(handle: Handle, write: { offset: number; data: Buffer }): Promise<void> {
    try {
      await this.#source.closeFile({ handle, write });
    } catch (err) {
      await this.#source.closeFile({ handle }).catch(() => undefined);
      throw FsError.from(err, 'write');
    }
    pool.give(write.data);
  }

  /** Send what is buffered and wait for every write; rejects with the first failure (once). */
  async drain(): Promise<void> {
    this.#sendBuffer();
    while (this.#inflight.size > 0) await Promise.all(this.#inflight);
    this.#throwPending();
  }

  /** Keep a failure of a write already reported as done, for the next write or drain. */
  keepError(err: unknown): void {
    this.#error ??= FsError.from(err, 'write');
  }

  #throwPending(): void {
    const err = this.#error;
    if (err === undefined) return;
    this.#error = undefined;
    throw err;
  }

  #sendBuffer(): void {
    if (!this.#buf || this.#bufLen === 0) return;
    const bytes = this.#buf.subarray(0, this.#bufLen);
    const start = this.#bufStart;
    this.#buf = undefined;
    this.#bufLen = 0;
    this.#send(start, bytes);
  }

  #send(offset: number, data: Buffer): void {
    this.#inflightBytes += data.length;
    // After a commit the handle is opened again (see handle()); writes wait for it.
    const p: Promise<void> = this.handle()
      .then((handle) => this.#source.write({ handle, offset, data }))
      .then(
        ({ written }) => {
          // Acknowledged: the session is done with the bytes (a caller's own buffer is not
          // pooled; after a failure the bytes may still sit in a socket's queue, so not then).
          pool.give(data);
          if (written < data.length)
            this.#error ??= FsError.EIO(
              'write',
              undefined,
              `short write (${written} of ${data.length} bytes)`,
            );
        },
        (err: unknown) => {
          this.#error ??= FsError.from(err, 'write');
        },
      )
      .finally(() => {
        this.#inflightBytes -= data.length;
        this.#inflight.delete(p);
      });
    this.#inflight.add(p);
  }

  /** Forget read-ahead chunks (the file changed). */
  dropReadAhead(): void {
    if (this.#chunks.size === 0) return;
    for (const chunk of this.#chunks.values()) this.#retire(chunk);
    this.#chunks.clear();
    this.#generation++;
  }

  /**
   * Read `length` bytes at `offset`. Sequential readers are served from read-ahead chunks;
   * others read straight through. The bytes written through this handle are drained first.
   */
  async read(offset: number, length: number): Promise<Uint8Array> {
    const held: Chunk[] = [];
    try {
      return await this.#read(offset, length, held);
    } finally {
      // The caller replies with the bytes (synchronously, as this resolves) before a chunk
      // given back here can be received into again. A chunk is held by each read answering
      // from it, not by every read in progress: with the kernel's read-ahead several reads
      // are always in progress, and no buffer would ever go back.
      for (const chunk of held) {
        chunk.readers--;
        this.#recycle(chunk);
      }
    }
  }

  /** A chunk leaves the read-ahead: its buffer is reusable once no read answers from it. */
  #retire(chunk: Chunk): void {
    chunk.retired = true;
    this.#recycle(chunk);
  }

  /** Give a retired chunk's buffer back once the Source is done with it and nothing reads it. */
  #recycle(chunk: Chunk): void {
    if (chunk.retired && chunk.settled && chunk.readers === 0) {
      chunk.retired = false; // given back once
      pool.give(chunk.buf);
    }
  }

  async #read(offset: number, length: number, held: Chunk[]): Promise<Uint8Array> {
    if (this.dirty) await this.drain();
    const handle = this.#handle ?? (await this.handle());
    const sequential = offset === this.#nextOffset || (offset === 0 && this.#nextOffset <= 0);
    this.#sequential = sequential ? this.#sequential + 1 : 0;
    this.#nextOffset = offset + length;
    if (this.#sequential < 2 && this.#chunks.size === 0) {
      return this.#source.read({ handle, offset, length });
    }
    const first = Math.floor(offset / CHUNK);
    const last = Math.floor((offset + length - 1) / CHUNK);
    // Chunks behind the reader are not needed again.
    for (const [index, chunk] of this.#chunks)
      if (index < first) {
        this.#chunks.delete(index);
        this.#retire(chunk);
      }
    const ahead = this.#sequential >= 2 ? READ_AHEAD : 0;
    for (let i = first; i <= last + ahead; i++) void this.#chunk(handle, i);
    const parts: Uint8Array[] = [];
    for (let i = first; i <= last; i++) {
      const c = this.#chunk(handle, i);
      c.readers++;
      held.push(c);
      const chunk = await c.bytes;
      const from = Math.max(offset, i * CHUNK) - i * CHUNK;
      const to = Math.min(offset + length, (i + 1) * CHUNK) - i * CHUNK;
      parts.push(chunk.subarray(Math.min(from, chunk.length), Math.min(to, chunk.length)));
      if (chunk.length < CHUNK) break; // end of file
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  #chunk(handle: Handle, index: number): Chunk {
    let chunk = this.#chunks.get(index);
    if (chunk === undefined) {
      const generation = this.#generation;
      const buf = pool.take();
      const bytes = this.#source
        .read({ handle, offset: index * CHUNK, length: CHUNK, into: buf })
        .then((got) => {
          c.settled = true;
          const bytes = Buffer.from(got.buffer, got.byteOffset, got.byteLength);
          this.#recycle(c); // retired before its bytes came, and nobody waits for them
          return bytes;
        });
      const c: Chunk = { bytes, buf, settled: false, readers: 0, retired: false };
      chunk = c;
      // A failed chunk is not kept: the next read asks again (and reports its own error).
      bytes.then(undefined, () => {
        if (this.#generation === generation && this.#chunks.get(index) === c) this.#chunks.delete(index);
      });
      this.#chunks.set(index, c);
    }
    return chunk;
  }
}
