import {
  type FrameProblem,
  maskInto,
  maskRotations,
  MAX_FRAME_HEAD,
  MessageAssembly,
  OP,
} from './websocket.ts';

/**
 * The receiving half of a Tessera WebSocket (RFC 6455), shared by the client's `WireSocket`
 * and the node's `ServerWireSocket`, written for the data path: socket reads land in one
 * reused staging buffer, and once a big frame's bytes are under way the next read lands
 * straight in the buffer they end up in ({@link FrameReader.readBuffer}, for a socket that
 * reads into buffers it is given). A whole binary message is split as
 * `u32 N · N header bytes · payload`, and its payload goes where `place` says (a READ's
 * `into` on the client, a pooled buffer for a WRITE on the node). A masked frame (client
 * to server) is unmasked on the way, in place when it was read into place. Nothing is
 * allocated per socket read and each byte is copied at most once.
 */

/** Socket reads land here unless a frame's own buffer is waiting for them. */
const STAGING_BYTES = 64 * 1024;
/** A frame's own buffer takes socket reads directly while at least this much of it is to come. */
const DIRECT_BYTES = 16 * 1024;
const EMPTY = Buffer.alloc(0);

/** A buffer for a binary message's payload, and how to hand it back once the message is unused. */
export interface PayloadLease {
  /** At least as long as the payload. */
  buf: Uint8Array;
  release?: (() => void) | undefined;
}

/** Where the payload of a whole binary message goes, given its JSON header; undefined: a fresh buffer. */
export type PayloadPlace = (header: Buffer, payloadLength: number) => PayloadLease | undefined;

/** What a {@link FrameReader} reports. */
export interface FrameReaderEvents {
  /**
   * A data message: a Buffer, or for a binary message the list of its parts —
   * `[prefixAndHeader, payload]` when split, else its fragments. `release`, when given,
   * must be called once the payload is no longer used.
   */
  message(data: Buffer | Buffer[], binary: boolean, release: (() => void) | undefined): void;
  /** A control frame (close, ping, pong) with its payload. */
  control(opcode: number, payload: Buffer): void;
  /** A rule broken; nothing more is read. */
  problem(problem: FrameProblem): void;
}

/** A binary message being split: `u32 N · header`, then its payload (in a lent buffer if any). */
interface Split {
  prefix: Buffer;
  have: number;
  payload: Buffer | undefined;
  lease: PayloadLease | undefined;
}

/** Parses the frames of one connection; see the module comment. */
export class FrameReader {
  readonly #masked: boolean;
  readonly #place: PayloadPlace | undefined;
  readonly #on: FrameReaderEvents;
  readonly #message: MessageAssembly;
  readonly #staging = Buffer.allocUnsafe(STAGING_BYTES);
  // Frame being received.
  readonly #head = Buffer.alloc(MAX_FRAME_HEAD);
  #headHave = 0;
  #headNeed = 2;
  #inFrame = false;
  #opcode = 0;
  #fin = false;
  #remaining = 0;
  /** Payload position within the frame (for the mask) and the mask's four rotations. */
  #pos = 0;
  #keys: Buffer[] | undefined;
  /** Where the current frame's bytes go; `#destAt` of them arrived. */
  #dest: Buffer = EMPTY;
  #destAt = 0;
  #split: Split | undefined;
  /** The frame's own buffer, as last offered for a socket read. */
  #offered: Buffer | undefined;
  #stopped = false;

  /** `masked`: frames must be masked (a server reading a client), else must not be. */
  constructor(opts: {
    masked: boolean;
    maxMessage: number;
    place?: PayloadPlace | undefined;
    on: FrameReaderEvents;
  }) {
    this.#masked = opts.masked;
    this.#place = opts.place;
    this.#on = opts.on;
    this.#message = new MessageAssembly(opts.maxMessage);
  }

  /**
   * Where the next socket read should land: the current frame's own buffer while at least
   * DIRECT_BYTES of it are to come, else staging.
   */
  readBuffer(): Buffer {
    if (
      this.#inFrame &&
      this.#remaining >= DIRECT_BYTES &&
      this.#dest.length - this.#destAt >= this.#remaining
    ) {
      this.#offered = this.#dest.subarray(this.#destAt, this.#destAt + this.#remaining);
      return this.#offered;
    }
    this.#offered = undefined;
    return this.#staging;
  }

  /** `n` bytes were read into `buf` — a buffer {@link readBuffer} gave, or any other. */
  onRead(n: number, buf: Uint8Array): void {
    if (n <= 0 || this.#stopped) return;
    const dest = this.#dest;
    if (
      buf === this.#offered &&
      this.#inFrame &&
      buf.buffer === dest.buffer &&
      buf.byteOffset === dest.byteOffset + this.#destAt
    ) {
      this.#offered = undefined;
      // Read straight into place (readBuffer never offers more than the frame's bytes).
      if (this.#keys !== undefined) this.#unmask(dest, this.#destAt, n, dest, this.#destAt);
      else {
        this.#pos += n;
        this.#remaining -= n;
      }
      this.#destAt += n;
      if (this.#remaining === 0) this.#endFrame();
      return;
    }
    this.push(
      buf === this.#staging ? this.#staging.subarray(0, n) : Buffer.from(buf.buffer, buf.byteOffset, n),
    );
  }

  /** Parse the bytes of `chunk` (not kept: the caller may reuse it). */
  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length && !this.#stopped) {
      if (!this.#inFrame) {
        const take = Math.min(this.#headNeed - this.#headHave, chunk.length - at);
        chunk.copy(this.#head, this.#headHave, at, at + take);
        this.#headHave += take;
        at += take;
        if (this.#headHave === this.#headNeed) this.#readHead();
        continue;
      }
      at += this.#take(chunk, at);
    }
  }

  /**
   * Read nothing more; a lent payload buffer goes back — unless it was offered for a socket
   * read and the socket is not `done` (closed): the socket may still read into it, so it is
   * left to the garbage collector instead of going to someone else. Idempotent.
   */
  stop(opts: { done?: boolean } = {}): void {
    this.#stopped = true;
    this.#inFrame = false;
    const lease = this.#split?.lease;
    const offered = this.#offered !== undefined && this.#offered.buffer === this.#dest.buffer;
    if (lease !== undefined && (opts.done === true || !offered)) lease.release?.();
    this.#split = undefined;
    this.#dest = EMPTY;
    this.#offered = undefined;
    this.#message.reset();
  }

  /** The header read so far: ask for its extended length and mask key, or start the frame. */
  #readHead(): void {
    const h = this.#head;
    const len7 = h[1]! & 0x7f;
    if (this.#headNeed === 2) {
      if ((h[0]! & 0x70) !== 0) return this.#fail('reserved bits set (no extension was agreed)', 1002);
      const masked = (h[1]! & 0x80) !== 0;
      if (masked !== this.#masked)
        return this.#fail(
          masked ? 'a server must not mask its frames' : 'client frames must be masked',
          1002,
        );
      this.#headNeed = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (masked ? 4 : 0);
      if (this.#headNeed > 2) return;
    }
    let length = len7;
    if (len7 === 126) length = h.readUInt16BE(2);
    else if (len7 === 127) {
      if (h.readUInt32BE(2) !== 0) return this.#fail('frame length beyond 4 GiB', 1009);
      length = h.readUInt32BE(6);
    }
    const keyAt = this.#headNeed - 4;
    this.#headHave = 0;
    this.#headNeed = 2;
    const opcode = h[0]! & 0x0f;
    const fin = (h[0]! & 0x80) !== 0;
    const problem = this.#message.frame(opcode, fin, length);
    if (problem) return this.#fail(problem.why, problem.closeCode);
    this.#keys = this.#masked ? maskRotations(Buffer.from(h.subarray(keyAt, keyAt + 4))) : undefined;
    this.#opcode = opcode;
    this.#fin = fin;
    this.#remaining = length;
    this.#pos = 0;
    this.#inFrame = true;
    this.#destAt = 0;
    // A whole binary message in one frame is split so its payload can go where `place` says.
    if (opcode === OP.binary && fin && this.#place !== undefined && length >= 4) {
      this.#split = { prefix: Buffer.allocUnsafe(4), have: 0, payload: undefined, lease: undefined };
      this.#dest = EMPTY;
    } else {
      this.#split = undefined;
      this.#dest = length === 0 ? EMPTY : Buffer.allocUnsafe(length);
    }
    if (length === 0) this.#endFrame();
  }

  /** Move `n` frame bytes from `from` at `at` to `out` at `outAt`, unmasking them if masked. */
  #unmask(from: Buffer, at: number, n: number, out: Buffer, outAt: number): void {
    if (this.#keys !== undefined) maskInto(from.subarray(at, at + n), this.#keys[this.#pos & 3]!, out, outAt);
    else from.copy(out, outAt, at, at + n);
    this.#pos += n;
    this.#remaining -= n;
  }

  /** Take frame bytes from `chunk` at `at`; returns how many were used. */
  #take(chunk: Buffer, at: number): number {
    const split = this.#split;
    if (split !== undefined && split.payload === undefined) {
      const n = Math.min(split.prefix.length - split.have, chunk.length - at, this.#remaining);
      this.#unmask(chunk, at, n, split.prefix, split.have);
      split.have += n;
      if (split.have === split.prefix.length) this.#prefixDone(split);
      if (this.#remaining === 0 && this.#inFrame) this.#endFrame();
      return n;
    }
    const n = Math.min(this.#remaining, chunk.length - at);
    this.#unmask(chunk, at, n, this.#dest, this.#destAt);
    this.#destAt += n;
    if (this.#remaining === 0) this.#endFrame();
    return n;
  }

  /** The `u32 N` (then the N header bytes) of a split message are in. */
  #prefixDone(split: Split): void {
    if (split.prefix.length === 4) {
      const headerLength = split.prefix.readUInt32BE(0);
      if (headerLength === 0 || headerLength > this.#remaining) {
        // Not a well-formed Tessera message: read it whole and let the decoder say what is wrong.
        const whole = Buffer.allocUnsafe(4 + this.#remaining);
        split.prefix.copy(whole, 0);
        this.#split = undefined;
        this.#dest = whole;
        this.#destAt = 4;
        return;
      }
      const grown = Buffer.allocUnsafe(4 + headerLength);
      split.prefix.copy(grown, 0, 0, 4);
      split.prefix = grown;
      return;
    }
    const length = this.#remaining;
    const lease = length > 0 ? this.#place?.(split.prefix.subarray(4), length) : undefined;
    split.lease = lease !== undefined && lease.buf.byteLength >= length ? lease : undefined;
    if (lease !== undefined && split.lease === undefined) lease.release?.();
    split.payload = split.lease
      ? Buffer.from(split.lease.buf.buffer, split.lease.buf.byteOffset, length)
      : Buffer.allocUnsafe(length);
    this.#dest = split.payload;
    this.#destAt = 0;
  }

  #endFrame(): void {
    this.#inFrame = false;
    const opcode = this.#opcode;
    const split = this.#split;
    const data = this.#dest;
    this.#dest = EMPTY;
    this.#split = undefined;
    if (opcode >= OP.close) return this.#on.control(opcode, data);
    if (split !== undefined) {
      this.#message.reset();
      this.#on.message([split.prefix, split.payload ?? EMPTY], true, split.lease?.release);
      return;
    }
    const done = this.#message.add(data, this.#fin);
    if (done === undefined) return;
    if ('why' in done) return this.#fail(done.why, done.closeCode);
    this.#on.message(done.data, done.binary, undefined);
  }

  #fail(why: string, closeCode: number): void {
    if (this.#stopped) return;
    this.stop();
    this.#on.problem({ why, closeCode });
  }
}
