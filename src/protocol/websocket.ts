import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';

/**
 * WebSocket (RFC 6455) pieces both ends of the Tessera wire share: the accept key, masking
 * (a client masks what it sends, a server unmasks what it receives), close-code rules, and
 * a writer that hands TLS one frame at a time.
 */

/** The GUID the accept key is derived with (RFC 6455 §1.3). */
export const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`. */
export function acceptKey(key: string): string {
  return createHash('sha1')
    .update(key + WS_GUID)
    .digest('base64');
}

/** `readyState` values of both ends' sockets (as in the WebSocket API). */
export const CONNECTING = 0;
export const OPEN = 1;
export const CLOSING = 2;
export const CLOSED = 3;

/** Opcodes. */
export const OP = { cont: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

type MaskFn = (source: Buffer, mask: Buffer, output: Buffer, offset: number, length: number) => void;

/** bufferutil's native mask when it is installed (it is a dependency; the JS loop is the fallback). */
const nativeMask: MaskFn | undefined = (() => {
  try {
    return (createRequire(import.meta.url)('bufferutil') as { mask: MaskFn }).mask;
  } catch {
    return undefined;
  }
})();

/**
 * XOR `source` with the 4-byte `key` into `output` at `offset` — masking and unmasking are
 * the same operation, and doing it while copying costs one pass over the bytes.
 */
export function maskInto(source: Uint8Array, key: Buffer, output: Uint8Array, offset: number): void {
  const n = source.byteLength;
  if (nativeMask && n >= 64) {
    const src = Buffer.isBuffer(source) ? source : Buffer.from(source.buffer, source.byteOffset, n);
    const out = Buffer.isBuffer(output)
      ? output
      : Buffer.from(output.buffer, output.byteOffset, output.byteLength);
    nativeMask(src, key, out, offset, n);
    return;
  }
  for (let i = 0; i < n; i++) output[offset + i] = source[i]! ^ key[i & 3]!;
}

/** The four rotations of a mask key: bytes at payload position p are masked with `keys[p & 3]`. */
export function maskRotations(key: Buffer): Buffer[] {
  return [0, 1, 2, 3].map((r) =>
    r === 0 ? key : Buffer.from([key[r]!, key[(r + 1) & 3]!, key[(r + 2) & 3]!, key[(r + 3) & 3]!]),
  );
}

/** Largest frame header: 2 bytes, a 64-bit length, a mask key. */
export const MAX_FRAME_HEAD = 14;

/** Bytes of the header of a frame carrying `length` payload bytes (RFC 6455 §5.2). */
export function frameHeadLength(length: number, masked: boolean): number {
  return (length >= 65536 ? 10 : length > 125 ? 4 : 2) + (masked ? 4 : 0);
}

/**
 * Write a frame header for `length` payload bytes ending at `end` in `buf` (with the mask key
 * last when `key` is given); returns where the header starts, or -1 when it does not fit.
 */
export function writeFrameHead(opts: {
  buf: Buffer;
  end: number;
  opcode: number;
  fin: boolean;
  length: number;
  key?: Buffer | undefined;
}): number {
  const { buf, end, length, key } = opts;
  const start = end - frameHeadLength(length, key !== undefined);
  if (start < 0) return -1;
  buf[start] = (opts.fin ? 0x80 : 0) | opts.opcode;
  const maskBit = key ? 0x80 : 0;
  if (length >= 65536) {
    buf[start + 1] = maskBit | 127;
    buf.writeUInt32BE(Math.floor(length / 2 ** 32), start + 2);
    buf.writeUInt32BE(length >>> 0, start + 6);
  } else if (length > 125) {
    buf[start + 1] = maskBit | 126;
    buf.writeUInt16BE(length, start + 2);
  } else buf[start + 1] = maskBit | length;
  if (key) key.copy(buf, end - 4);
  return start;
}

/** Whether a close frame may carry `code` (RFC 6455 §7.4; 1005, 1006 and 1015 never go on the wire). */
export function validCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
    (code >= 3000 && code <= 4999)
  );
}

/**
 * The body of a close frame: `code` and as much of `reason` as fits in a control frame
 * (125 bytes), cut at a character boundary — a reason cut inside a UTF-8 sequence is a
 * protocol error (1007) at the receiving end.
 */
export function closeBody(code: number, reason: string): Buffer {
  const body = Buffer.allocUnsafe(125);
  body.writeUInt16BE(code, 0);
  // Buffer.write writes whole characters only, so the cut never splits one.
  return body.subarray(0, 2 + body.write(reason, 2, 'utf8'));
}

/** Frames held back before they are joined into one write, up to this many bytes. */
const COALESCE_BYTES = 64 * 1024;

/**
 * Writes whole frames to a socket. On a TLS socket only one write is outstanding at a time:
 * Node's TLS layer copies several queued buffers into one fresh allocation before encrypting
 * them (a megabyte-sized copy per batch of big frames), but encrypts a single buffer in place.
 * Small frames that queue up meanwhile are joined into one write. Plain sockets write through
 * (their batches go to `writev` without a copy).
 */
export class FrameWriter {
  readonly #sock: Duplex;
  readonly #serial: boolean;
  #queue: { buf: Buffer; cb: ((err?: Error | null) => void) | undefined }[] = [];
  #queued = 0;
  #writing = false;
  #ending = false;

  constructor(opts: { sock: Duplex; serial: boolean }) {
    this.#sock = opts.sock;
    this.#serial = opts.serial;
  }

  /** Bytes written but not yet taken by the kernel (or TLS), including those queued here. */
  get buffered(): number {
    return this.#sock.writableLength + this.#queued;
  }

  /** Write one frame; `cb` runs once the socket took it (or failed). */
  write(buf: Buffer, cb?: (err?: Error | null) => void): void {
    if (this.#ending) {
      if (cb) process.nextTick(cb, new Error('the socket is ending'));
      return;
    }
    if (!this.#serial) {
      this.#sock.write(buf, cb);
      return;
    }
    this.#queue.push({ buf, cb });
    this.#queued += buf.length;
    if (!this.#writing) this.#next();
  }

  /** End the socket once every frame written so far went out. */
  end(): void {
    this.#ending = true;
    if (!this.#writing) this.#sock.end();
  }

  #next(): void {
    const first = this.#queue[0];
    if (first === undefined || this.#sock.destroyed) {
      this.#failQueued();
      if (this.#ending) this.#sock.end();
      return;
    }
    let take = 1;
    let bytes = first.buf.length;
    while (take < this.#queue.length && bytes + this.#queue[take]!.buf.length <= COALESCE_BYTES) {
      bytes += this.#queue[take]!.buf.length;
      take++;
    }
    const batch = this.#queue.splice(0, take);
    this.#queued -= bytes;
    const buf =
      take === 1
        ? first.buf
        : Buffer.concat(
            batch.map((e) => e.buf),
            bytes,
          );
    this.#writing = true;
    this.#sock.write(buf, (err) => {
      this.#writing = false;
      for (const e of batch) e.cb?.(err);
      if (err) this.#failQueued(err);
      else if (this.#queue.length > 0) this.#next();
      else if (this.#ending) this.#sock.end();
    });
  }

  #failQueued(err?: Error | null): void {
    const queue = this.#queue;
    this.#queue = [];
    this.#queued = 0;
    const why = err ?? new Error('the socket is closed');
    for (const e of queue) e.cb?.(why);
  }
}

/** A frame or message that breaks the rules, with the close code it earns. */
export interface FrameProblem {
  why: string;
  closeCode: number;
}

/**
 * The message-level rules both ends apply frame by frame (RFC 6455 §5.4–5.6): control frames
 * whole and small, continuations only inside a message, no new message inside one, the size
 * limit over all fragments, UTF-8 text. Keeps the fragments of the message being received.
 */
export class MessageAssembly {
  /** Opcode of the message being received (0: none). */
  #opcode = 0;
  #bytes = 0;
  #fragments: Buffer[] = [];

  constructor(readonly maxMessage: number) {}

  /** Check a frame header and note a data frame's start; returns what is wrong, if anything. */
  frame(opcode: number, fin: boolean, length: number): FrameProblem | undefined {
    if (opcode >= 8) {
      if (opcode > OP.pong) return { why: `unknown control opcode ${opcode}`, closeCode: 1002 };
      if (!fin || length > 125)
        return { why: 'control frames must be whole and at most 125 bytes', closeCode: 1002 };
      return undefined;
    }
    if (opcode === OP.cont) {
      if (this.#opcode === 0) return { why: 'continuation frame outside a message', closeCode: 1002 };
    } else if (opcode === OP.text || opcode === OP.binary) {
      if (this.#opcode !== 0) return { why: 'new message before the last one ended', closeCode: 1002 };
      this.#opcode = opcode;
    } else return { why: `unknown opcode ${opcode}`, closeCode: 1002 };
    this.#bytes += length;
    if (this.#bytes > this.maxMessage)
      return { why: `message larger than ${this.maxMessage} bytes`, closeCode: 1009 };
    return undefined;
  }

  /**
   * A data frame's bytes: the message once `fin` (binary: its one buffer or list of
   * fragments; text: joined), else undefined; a problem for text that is not UTF-8.
   */
  add(data: Buffer, fin: boolean): { data: Buffer | Buffer[]; binary: boolean } | FrameProblem | undefined {
    this.#fragments.push(data);
    if (!fin) return undefined;
    const fragments = this.#fragments;
    const binary = this.#opcode === OP.binary;
    this.reset();
    if (binary) return { data: fragments.length === 1 ? fragments[0]! : fragments, binary };
    const text = fragments.length === 1 ? fragments[0]! : Buffer.concat(fragments);
    if (!isUtf8(text)) return { why: 'text message is not valid UTF-8', closeCode: 1007 };
    return { data: text, binary };
  }

  /** The message ended (or was taken whole elsewhere): the next frame starts a new one. */
  reset(): void {
    this.#opcode = 0;
    this.#bytes = 0;
    this.#fragments = [];
  }
}
