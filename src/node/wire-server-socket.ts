import { isUtf8 } from 'node:buffer';
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  acceptKey,
  CLOSED,
  CLOSING,
  closeBody,
  FrameWriter,
  frameHeadLength,
  OP,
  OPEN,
  validCloseCode,
  writeFrameHead,
} from '../protocol/websocket.ts';
import { FrameReader, type PayloadLease as ReaderLease } from '../protocol/websocket-reader.ts';
import { type PlainMessage, SEAL_ROOM, SealedChannel, type SealKeys } from '../protocol/sealed-messages.ts';
import { readIntoUserBuffers } from './socket-user-buffer.ts';

/**
 * The node's side of a Tessera WebSocket (RFC 6455), written for the data path like the
 * client's `WireSocket`. Receiving is the shared {@link FrameReader}'s: the socket reads
 * straight into its buffers (see readIntoUserBuffers), so a WRITE's bytes land — and are
 * unmasked — in a pooled buffer, handed back once the write is done. Frames go out as one
 * buffer each (the header in room left in front of the payload when there is some), one
 * write at a time under TLS (see FrameWriter).
 *
 * Scope: what a Tessera client speaks — no extensions, text and binary messages,
 * fragmentation, ping/pong, close handshake. Every rule a server must enforce is: masked
 * client frames, no reserved bits, whole small control frames, valid close codes, UTF-8
 * text, the message size limit.
 */

export { CLOSED, CLOSING, OPEN };

/** A buffer lent for a message's payload, handed back with `release` once it is unused. */
export type PayloadLease = ReaderLease & { release: () => void };

/** Where the payload of a whole binary message of `length` bytes goes; undefined: a fresh buffer. */
export type PayloadPlace = (length: number) => PayloadLease | undefined;

/** Options of {@link ServerWireSocket.accept}. */
export interface AcceptOptions {
  req: IncomingMessage;
  socket: Duplex;
  /** Bytes that arrived after the upgrade request. */
  head: Buffer;
  /** The subprotocol agreed (the caller checked that the client offered it). */
  protocol: string;
  /** Largest message accepted (all its fragments together); bigger ends the connection (1009). */
  maxMessage: number;
  payloadPlace?: PayloadPlace | undefined;
  /** Seal every data message with these keys (a sealed connection, see sealed-messages.ts). */
  seal?: SealKeys | undefined;
}

/** A refused upgrade: the HTTP status and why. */
export class UpgradeRefused extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** A WebSocket protocol violation by the peer, with the close code it earns. */
export class WireProtocolError extends Error {
  readonly code = 'EPROTO';
  constructor(
    message: string,
    readonly closeCode: number,
  ) {
    super(`WebSocket protocol error: ${message}`);
  }
}

const KEY_PATTERN = /^[+/0-9A-Za-z]{21}[AQgw]==$/;
const EMPTY = Buffer.alloc(0);

function headerTokens(value: string | string[] | undefined): string[] {
  const joined = Array.isArray(value) ? value.join(',') : (value ?? '');
  return joined
    .split(',')
    .map((t) => t.trim().toLowerCase())
    .filter(Boolean);
}

/**
 * A server WebSocket. Events: `message` (data, isBinary, release?) — data is a Buffer, or
 * for a binary message the list of its parts: `[prefixAndHeader, payload]` when split for
 * `payloadPlace`, else its fragments; `release`, when given, must be called once the
 * payload is no longer used; `pong`; `error` (a protocol violation or socket error; `close`
 * follows); `close`.
 */
export class ServerWireSocket extends EventEmitter {
  readyState = OPEN;
  /** Whether the socket reads into the reader's buffers (see readIntoUserBuffers), not `data` events. */
  readsInPlace = false;

  readonly #sock: Duplex;
  readonly #writer: FrameWriter;
  readonly #reader: FrameReader;
  #paused = false;
  #closeSent = false;
  #closeTimer: NodeJS.Timeout | undefined;
  /** A protocol violation was seen: nothing more is read. */
  #failed = false;
  /** Bytes that arrived with the upgrade request (and after it), parsed once listeners are in place. */
  #early: Buffer[] | undefined = [];
  readonly #sealed: SealedChannel | undefined;

  private constructor(opts: {
    sock: Duplex;
    maxMessage: number;
    place: PayloadPlace | undefined;
    seal: SealKeys | undefined;
  }) {
    super();
    this.#sock = opts.sock;
    const place = opts.place;
    const byLength = place && ((_header: Buffer, length: number) => place(length));
    const sealed = opts.seal && new SealedChannel(opts.seal);
    this.#sealed = sealed;
    this.#reader = new FrameReader({
      masked: true,
      maxMessage: sealed ? SealedChannel.maxMessage(opts.maxMessage) : opts.maxMessage,
      place: sealed ? sealed.wrapPlace(byLength) : byLength,
      on: {
        message: (data, binary, release) => {
          if (sealed === undefined) return this.emit('message', data, binary, release);
          const opened = sealed.open(data, binary);
          if ('problem' in opened) {
            release?.();
            return this.#fail(opened.problem, 1008);
          }
          this.emit('message', opened.data, opened.binary, release);
        },
        control: (opcode, payload) => this.#control(opcode, payload),
        problem: (p) => this.#fail(p.why, p.closeCode),
      },
    });
    this.#writer = new FrameWriter({
      sock: opts.sock,
      serial: this.encrypted,
    });
  }

  /**
   * Complete the upgrade: check the request (RFC 6455 §4.2.1), answer 101 and return the
   * socket. Throws {@link UpgradeRefused} for a request that is not a valid WebSocket
   * upgrade (the caller answers it with that status).
   */
  static accept(opts: AcceptOptions): ServerWireSocket {
    const { req, socket } = opts;
    const h = req.headers;
    if (req.method !== 'GET') throw new UpgradeRefused(400, 'a WebSocket upgrade must be a GET');
    if (!headerTokens(h.upgrade).includes('websocket'))
      throw new UpgradeRefused(400, "the upgrade must be to 'websocket'");
    if (!headerTokens(h.connection).includes('upgrade'))
      throw new UpgradeRefused(400, "'Connection: Upgrade' missing");
    if (h['sec-websocket-version'] !== '13')
      throw new UpgradeRefused(400, 'only WebSocket version 13 is spoken');
    const key = h['sec-websocket-key'];
    if (typeof key !== 'string' || !KEY_PATTERN.test(key.trim()))
      throw new UpgradeRefused(400, 'missing or malformed Sec-WebSocket-Key');
    if (!socket.readable || !socket.writable) throw new UpgradeRefused(400, 'the connection is gone');
    const ws = new ServerWireSocket({
      sock: socket,
      maxMessage: opts.maxMessage,
      place: opts.payloadPlace,
      seal: opts.seal,
    });
    const net = socket as { setNoDelay?: (on: boolean) => void; setTimeout?: (ms: number) => void };
    net.setTimeout?.(0);
    net.setNoDelay?.(true);
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${acceptKey(key.trim())}\r\nSec-WebSocket-Protocol: ${opts.protocol}\r\n\r\n`,
    );
    if (opts.head.length > 0) ws.#early!.push(opts.head);
    const reads = {
      buffer: () => ws.#reader.readBuffer(),
      callback: (n: number, buf: Uint8Array) => ws.#onRead(n, buf),
    };
    ws.readsInPlace = readIntoUserBuffers(socket, reads);
    if (ws.readsInPlace) socket.resume();
    else socket.on('data', (chunk: Buffer) => ws.#onRead(chunk.length, chunk));
    socket.on('end', () => {
      // The peer ended without a close handshake: finish our side once what is queued went out.
      ws.readyState = CLOSING;
      ws.#writer.end();
    });
    socket.on('error', (err: Error) => ws.emit('error', err));
    socket.on('close', () => ws.#closed());
    // The caller attaches its listeners first.
    queueMicrotask(() => ws.#start());
    return ws;
  }

  /** Whether the connection is TLS. */
  get encrypted(): boolean {
    return (this.#sock as { encrypted?: boolean }).encrypted === true;
  }

  /**
   * Keying material exported from the connection's TLS session (RFC 8446 §7.5); undefined
   * on a connection without TLS.
   */
  exportKeyingMaterial(opts: { length: number; label: string; context: Buffer }): Buffer | undefined {
    const sock = this.#sock as { exportKeyingMaterial?: (n: number, label: string, ctx: Buffer) => Buffer };
    return sock.exportKeyingMaterial?.(opts.length, opts.label, opts.context);
  }

  /** Bytes written but not yet taken by the kernel. */
  get bufferedAmount(): number {
    return this.#writer.buffered;
  }

  /** Whether reading is paused (backpressure). */
  get isPaused(): boolean {
    return this.#paused;
  }

  /** Stop reading from the socket until {@link resume}. */
  pause(): void {
    this.#paused = true;
    this.#sock.pause();
  }

  resume(): void {
    this.#paused = false;
    this.#sock.resume();
  }

  // Receiving -----------------------------------------------------------------------------

  #start(): void {
    const early = this.#early ?? [];
    this.#early = undefined;
    for (const chunk of early) if (!this.#failed && this.readyState !== CLOSED) this.#reader.push(chunk);
  }

  #onRead(n: number, buf: Uint8Array): void {
    if (this.#failed || this.readyState === CLOSED) return;
    // Before start(): keep a copy (the reader's staging buffer is reused by the next read).
    if (this.#early !== undefined) this.#early.push(Buffer.from(buf.subarray(0, n)));
    else this.#reader.onRead(n, buf);
  }

  #control(opcode: number, payload: Buffer): void {
    if (opcode === OP.ping) {
      if (this.readyState === OPEN) this.#sendFrame(OP.pong, payload, 0);
      return;
    }
    if (opcode === OP.pong) {
      this.emit('pong', payload);
      return;
    }
    // Close: check it, answer it (once), then end the connection.
    let code = 1000;
    if (payload.length === 1) return this.#fail('a close frame with a 1-byte body', 1002);
    if (payload.length >= 2) {
      code = payload.readUInt16BE(0);
      if (!validCloseCode(code)) return this.#fail(`invalid close code ${code}`, 1002);
      if (!isUtf8(payload.subarray(2))) return this.#fail('close reason is not valid UTF-8', 1007);
    }
    if (!this.#closeSent) this.#sendClose(payload.length >= 2 ? code : undefined, '');
    this.readyState = CLOSING;
    this.#writer.end();
  }

  #fail(why: string, closeCode: number): void {
    if (this.#failed || this.readyState === CLOSED) return;
    this.#failed = true;
    this.#reader.stop();
    this.emit('error', new WireProtocolError(why, closeCode));
    if (!this.#closeSent && this.readyState === OPEN) this.#sendClose(closeCode, why);
    this.readyState = CLOSING;
    this.#writer.end();
    this.#cutOffLater();
  }

  #closed(): void {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    clearTimeout(this.#closeTimer);
    this.#reader.stop({ done: true });
    // Nothing is sealed or opened after this (sends need OPEN; the reader stopped).
    this.#sealed?.close();
    this.emit('close');
  }

  /** A peer that never finishes closing is cut off. */
  #cutOffLater(): void {
    this.#closeTimer ??= setTimeout(() => this.#sock.destroy(), 2000);
    this.#closeTimer.unref();
  }

  // Sending -------------------------------------------------------------------------------

  /**
   * One unmasked frame carrying `parts` joined. `headroom` bytes in front of a single part
   * (in its memory) are free: the header goes there and the frame is written as that one
   * buffer; otherwise header and parts are copied into a fresh one (both ways a single
   * write, which TLS encrypts in place).
   */
  #sendFrame(
    opcode: number,
    parts: Buffer | readonly Buffer[],
    headroom: number,
    cb?: (err?: Error | null) => void,
  ): void {
    const one = Buffer.isBuffer(parts) ? parts : parts.length === 1 ? parts[0]! : undefined;
    let length = 0;
    if (one !== undefined) length = one.length;
    else for (const p of parts as readonly Buffer[]) length += p.length;
    const headLength = frameHeadLength(length, false);
    let frame: Buffer;
    if (one !== undefined && headroom >= headLength) {
      frame = Buffer.from(one.buffer, one.byteOffset - headLength, headLength + length);
    } else {
      frame = Buffer.allocUnsafe(headLength + length);
      let at = headLength;
      for (const p of one !== undefined ? [one] : (parts as readonly Buffer[])) {
        p.copy(frame, at);
        at += p.length;
      }
    }
    writeFrameHead({ buf: frame, end: headLength, opcode, fin: true, length });
    this.#writer.write(frame, cb);
  }

  #sendClose(code: number | undefined, reason: string): void {
    this.#closeSent = true;
    this.#sendFrame(OP.close, code === undefined ? EMPTY : closeBody(code, reason), 0);
  }

  /**
   * Send one binary message: `data`, or several parts joined (copied once, into the frame).
   * `headroom`: bytes free in front of a single `data` in its memory (a READ answer built in
   * a pooled buffer), so the frame header needs no copy of the bytes. `cb` runs once the
   * socket took it (or with an error when it cannot be sent).
   */
  sendBinary(
    data: Buffer | readonly Buffer[],
    opts: { headroom?: number } = {},
    cb?: (err?: Error | null) => void,
  ): void {
    if (this.readyState !== OPEN) {
      if (cb) process.nextTick(cb, new Error('the WebSocket is not open'));
      return;
    }
    const headroom = opts.headroom ?? 0;
    const sealer = this.#sealed?.sealer;
    if (sealer === undefined) return this.#sendFrame(OP.binary, data, headroom, cb);
    // Sealed in place when the frame header still fits in front, else into a fresh buffer.
    if (Buffer.isBuffer(data) && headroom >= SEAL_ROOM + 10)
      return this.#sendFrame(OP.binary, sealer.sealInPlace(data), headroom - SEAL_ROOM, cb);
    this.#sendSealed({ kind: 'binary', parts: Buffer.isBuffer(data) ? [data] : data }, cb);
  }

  /** Seal a message into a fresh buffer (room for the frame header in front) and send it. */
  #sendSealed(msg: PlainMessage, cb?: (err?: Error | null) => void): void {
    const sealer = this.#sealed!.sealer;
    const buf = Buffer.allocUnsafe(10 + sealer.sealedLength(msg));
    sealer.sealInto({ msg, out: buf, at: 10 });
    this.#sendFrame(OP.binary, buf.subarray(10), 10, cb);
  }

  /** Send one text message (encoded once, behind room for the frame header). */
  sendText(text: string, cb?: (err?: Error | null) => void): number {
    if (this.readyState !== OPEN) {
      if (cb) process.nextTick(cb, new Error('the WebSocket is not open'));
      return 0;
    }
    const length = Buffer.byteLength(text);
    if (this.#sealed !== undefined) {
      this.#sendSealed({ kind: 'text', parts: [Buffer.from(text, 'utf8')] }, cb);
      return length;
    }
    const buf = Buffer.allocUnsafe(10 + length);
    buf.write(text, 10, 'utf8');
    this.#sendFrame(OP.text, buf.subarray(10), 10, cb);
    return length;
  }

  /** Send a ping (the answer arrives as `pong`). */
  ping(): void {
    if (this.readyState === OPEN) this.#sendFrame(OP.ping, EMPTY, 0);
  }

  /** Start the close handshake; the connection ends once the peer answered (or after 2 s). */
  close(code = 1000, reason = ''): void {
    if (this.readyState !== OPEN) return;
    this.readyState = CLOSING;
    this.#sendClose(code, reason);
    this.#cutOffLater();
  }

  /** Drop the connection at once. */
  terminate(): void {
    this.#sock.destroy();
  }
}
