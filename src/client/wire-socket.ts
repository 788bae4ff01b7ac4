import { randomBytes, randomFillSync } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect, type TLSSocket } from 'node:tls';
import {
  acceptKey,
  CLOSED,
  CLOSING,
  closeBody,
  CONNECTING,
  FrameWriter,
  frameHeadLength,
  maskInto,
  maskRotations,
  OP,
  OPEN,
  writeFrameHead,
} from '../protocol/websocket.ts';
import { FrameReader } from '../protocol/websocket-reader.ts';
import { type PlainMessage, SealedChannel, type SealKeys } from '../protocol/sealed-messages.ts';

/**
 * The client side of a Tessera WebSocket (RFC 6455), written for the data path. Receiving is
 * the shared {@link FrameReader}'s: the socket reads straight into its buffers, so a READ's
 * payload lands in the caller's `into` (see `payloadTarget`). Sending masks each frame (as a
 * client must) into one buffer, reused once the socket has taken it.
 *
 * Scope: what a Tessera node speaks — no extensions (no compression), text and binary
 * messages, fragmentation, ping/pong, close handshake.
 */

/** Largest HTTP response to the upgrade request. */
const MAX_HANDSHAKE_BYTES = 16 * 1024;
/**
 * Send buffers at least this big are kept for reuse, up to SEND_POOL_KEEP of them: enough
 * for a window of pipelined 1 MiB WRITEs (RemoteSource keeps 16 in flight, each frame alive
 * until the socket took it) plus a few, since every buffer missing from the pool is a fresh
 * megabyte per window (page faults, GC work: ~0.2 CPU-seconds per GiB written). A pool
 * unused for SEND_POOL_IDLE_MS is dropped, so an idle session holds no megabytes.
 */
const SEND_POOL_MIN = 64 * 1024;
const SEND_POOL_KEEP = 24;
const SEND_POOL_IDLE_MS = 5000;

export { CLOSED, CLOSING, CONNECTING, OPEN };

/** Where the payload of a binary message goes, given its header; undefined: a fresh buffer. */
export type PayloadTarget = (header: Buffer, payloadLength: number) => Uint8Array | undefined;

/** Options of {@link WireSocket.connect}. */
export interface WireSocketOptions {
  /** `ws://` or `wss://` URL (host, port, path). */
  url: URL;
  /** The subprotocol to ask for (and require in the answer). */
  protocol: string;
  /** Largest message accepted (all its fragments together). */
  maxMessage: number;
  /** Give up on the connection and handshake after this long. */
  timeoutMs: number;
  /** Split binary messages as `u32 N · N header bytes · payload` and place the payload here. */
  payloadTarget?: PayloadTarget | undefined;
  /** More headers for the upgrade request (names and values of plain ASCII). */
  headers?: Readonly<Record<string, string>> | undefined;
  /** Seal every data message with these keys (a sealed connection, see sealed-messages.ts). */
  seal?: SealKeys | undefined;
}

/** A failed connection attempt, with the system error code when there is one. */
export class WireSocketError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

/**
 * A client WebSocket. Events (from `start()` on): `message` (data, isBinary) — data is a
 * Buffer, or for a binary message the list of its parts: `[prefixAndHeader, payload]` when
 * split by `payloadTarget`, else its fragments; `pong`; `error` (a protocol violation or a
 * socket error; `close` follows); `close`.
 */
export class WireSocket extends EventEmitter {
  readyState = CONNECTING;
  /** SHA-256 fingerprint of the server certificate (wss only). */
  fingerprint: string | undefined;

  #sock: Socket | undefined;
  /** One frame at a time under TLS (see FrameWriter). */
  #writer: FrameWriter | undefined;
  readonly #reader: FrameReader;
  readonly #key = randomBytes(16).toString('base64');
  #handshake: Buffer | undefined = Buffer.alloc(0);
  #onHandshake: ((err?: Error) => void) | undefined;
  // Sending.
  #sendPool: Buffer[] = [];
  #sendPoolUsed = 0;
  #sendPoolTimer: NodeJS.Timeout | undefined;
  #maskBytes = Buffer.alloc(0);
  #maskAt = 0;
  #closeSent = false;
  readonly #sealed: SealedChannel | undefined;

  readonly #url: URL;
  readonly #protocol: string;
  /** Bytes that arrived after the upgrade but before `start()`. */
  #early: Buffer[] | undefined = [];

  private constructor(opts: WireSocketOptions) {
    super();
    const target = opts.payloadTarget;
    const place =
      target &&
      ((header: Buffer, length: number) => {
        const buf = target(header, length);
        return buf && { buf };
      });
    const sealed = opts.seal && new SealedChannel(opts.seal);
    this.#sealed = sealed;
    this.#reader = new FrameReader({
      masked: false,
      // Sealed: every message is split (its head opened) whether or not a target is given.
      maxMessage: sealed ? SealedChannel.maxMessage(opts.maxMessage) : opts.maxMessage,
      place: sealed ? sealed.wrapPlace(place) : place,
      on: {
        message: (data, binary) => {
          if (sealed === undefined) return this.emit('message', data, binary);
          const opened = sealed.open(data, binary);
          if ('problem' in opened) return this.#fail(opened.problem);
          this.emit('message', opened.data, opened.binary);
        },
        control: (opcode, payload) => this.#control(opcode, payload),
        problem: (p) => this.#fail(p.why),
      },
    });
    this.#url = opts.url;
    this.#protocol = opts.protocol;
  }

  /** Connect (TCP or TLS without certificate checks: the caller pins), then upgrade. */
  static connect(opts: WireSocketOptions): Promise<WireSocket> {
    const { url } = opts;
    if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
      return Promise.reject(new WireSocketError(`not a WebSocket URL: ${url.href}`));
    }
    const secure = url.protocol === 'wss:';
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const port = Number(url.port || (secure ? 443 : 80));
    const ws = new WireSocket(opts);
    const onread = {
      // Called before every read: the frame's own buffer when one is waiting, else staging.
      buffer: () => ws.#reader.readBuffer(),
      callback: (n: number, buf: Uint8Array) => {
        ws.#onRead(n, buf);
        return true;
      },
    };
    // `onread` is in Node's tls.connect options, though not in its type definitions.
    const sock = secure
      ? tlsConnect({
          host,
          port,
          rejectUnauthorized: false,
          ...(isIP(host) === 0 ? { servername: host } : {}),
          onread,
        } as ConnectionOptions)
      : netConnect({ host, port, onread });
    ws.#sock = sock;
    ws.#writer = new FrameWriter({ sock, serial: secure });
    return new Promise<WireSocket>((resolve, reject) => {
      let settled = false;
      const finish = (err?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        sock.off('error', onError);
        sock.off('close', onEarlyClose);
        if (err) {
          ws.readyState = CLOSED;
          sock.destroy();
          reject(err);
          return;
        }
        ws.readyState = OPEN;
        sock.on('error', (e: Error) => ws.emit('error', e));
        sock.on('close', () => ws.#closed());
        resolve(ws);
      };
      const onError = (err: NodeJS.ErrnoException) => finish(new WireSocketError(err.message, err.code));
      const onEarlyClose = () =>
        finish(new WireSocketError(`${url.host} closed the connection during the upgrade`));
      const timer = setTimeout(
        () =>
          finish(
            new WireSocketError(
              `no WebSocket upgrade from ${url.host} within ${opts.timeoutMs} ms`,
              'ETIMEDOUT',
            ),
          ),
        opts.timeoutMs,
      );
      sock.once('error', onError);
      sock.once('close', onEarlyClose);
      sock.once(secure ? 'secureConnect' : 'connect', () => {
        sock.setNoDelay(true);
        if (secure) ws.fingerprint = (sock as TLSSocket).getPeerCertificate().fingerprint256;
        sock.write(
          `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\n` +
            `Connection: Upgrade\r\nSec-WebSocket-Key: ${ws.#key}\r\nSec-WebSocket-Version: 13\r\n` +
            `Sec-WebSocket-Protocol: ${opts.protocol}\r\n` +
            Object.entries(opts.headers ?? {})
              .map(([name, value]) => `${name}: ${value}\r\n`)
              .join('') +
            '\r\n',
        );
      });
      ws.#onHandshake = finish;
    });
  }

  /**
   * Deliver events from now on. Frames the server sent right after the upgrade wait until
   * the caller has its listeners in place.
   */
  start(): void {
    const early = this.#early;
    if (early === undefined) return;
    this.#early = undefined;
    for (const chunk of early) if (this.readyState !== CLOSED) this.#reader.push(chunk);
  }

  /**
   * Keying material exported from the TLS session (RFC 8446 §7.5), for keys bound to it.
   * Throws on a connection without TLS.
   */
  exportKeyingMaterial(opts: { length: number; label: string; context: Buffer }): Buffer {
    const sock = this.#sock as Partial<TLSSocket> | undefined;
    if (sock?.exportKeyingMaterial === undefined)
      throw new WireSocketError(`${this.#url.host}: no TLS session to export keys from`);
    return sock.exportKeyingMaterial(opts.length, opts.label, opts.context);
  }

  /** Bytes written but not yet taken by the kernel. */
  get bufferedAmount(): number {
    return this.#writer?.buffered ?? 0;
  }

  // Receiving -----------------------------------------------------------------------------

  #onRead(n: number, buf: Uint8Array): void {
    if (n <= 0 || this.readyState === CLOSED) return;
    if (this.#handshake === undefined && this.#early === undefined) return this.#reader.onRead(n, buf);
    let chunk = Buffer.from(buf.buffer, buf.byteOffset, n);
    if (this.#handshake !== undefined) {
      chunk = this.#readHandshake(chunk);
      if (chunk.length === 0) return;
    }
    // Not started yet: keep a copy (the staging buffer is reused by the next read).
    if (this.#early !== undefined) this.#early.push(Buffer.from(chunk));
    else this.#reader.push(chunk);
  }

  /** Consume the HTTP answer to the upgrade; returns the bytes after it (already frames). */
  #readHandshake(chunk: Buffer): Buffer {
    const all = Buffer.concat([this.#handshake!, chunk]);
    const end = all.indexOf('\r\n\r\n');
    if (end < 0) {
      if (all.length > MAX_HANDSHAKE_BYTES)
        this.#handshakeFailed('oversized HTTP answer to the WebSocket upgrade');
      else this.#handshake = all;
      return Buffer.alloc(0);
    }
    this.#handshake = undefined;
    const lines = all.toString('latin1', 0, end).split('\r\n');
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1];
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    const where = this.#url.href;
    if (status !== '101') {
      this.#handshakeFailed(`HTTP ${status ?? '(no status)'} from ${where}`);
      return Buffer.alloc(0);
    }
    const accept = acceptKey(this.#key);
    if (
      headers.get('upgrade')?.toLowerCase() !== 'websocket' ||
      headers.get('sec-websocket-accept') !== accept
    ) {
      this.#handshakeFailed(`${where} answered the WebSocket upgrade with a wrong accept key`);
      return Buffer.alloc(0);
    }
    if (headers.get('sec-websocket-protocol') !== this.#protocol) {
      this.#handshakeFailed(`${where} did not agree to the '${this.#protocol}' subprotocol`);
      return Buffer.alloc(0);
    }
    if (headers.has('sec-websocket-extensions')) {
      this.#handshakeFailed(`${where} answered with extensions that were not asked for`);
      return Buffer.alloc(0);
    }
    this.#onHandshake?.();
    return all.subarray(end + 4);
  }

  #handshakeFailed(message: string): void {
    this.#handshake = undefined;
    this.#onHandshake?.(new WireSocketError(message));
  }

  #control(opcode: number, payload: Buffer): void {
    if (opcode === OP.ping) {
      if (this.readyState === OPEN) this.#sendFrame(OP.pong, [payload]);
    } else if (opcode === OP.pong) {
      this.emit('pong', payload);
    } else {
      // Close: answer it (once), then end the connection.
      if (!this.#closeSent && this.readyState === OPEN) {
        this.#closeSent = true;
        this.#sendFrame(OP.close, [payload.subarray(0, 2)]);
      }
      this.readyState = CLOSING;
      this.#writer?.end();
    }
  }

  #fail(why: string): void {
    if (this.readyState === CLOSED) return;
    this.emit('error', new WireSocketError(`WebSocket protocol error: ${why}`, 'EPROTO'));
    this.terminate();
  }

  #closed(): void {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    this.#trimSendPool();
    this.#reader.stop({ done: true });
    // Nothing is sealed or opened after this (sends need OPEN; the reader stopped).
    this.#sealed?.close();
    this.emit('close');
  }

  // Sending -------------------------------------------------------------------------------

  #maskKey(): Buffer {
    if (this.#maskAt + 4 > this.#maskBytes.length) {
      this.#maskBytes = randomFillSync(Buffer.allocUnsafe(4096));
      this.#maskAt = 0;
    }
    const key = this.#maskBytes.subarray(this.#maskAt, this.#maskAt + 4);
    this.#maskAt += 4;
    return key;
  }

  /**
   * One frame carrying `parts` joined, masked into a single buffer (masking copies anyway);
   * `sealed`: the parts are a message to seal first (into that buffer, then masked there).
   */
  #sendFrame(
    opcode: number,
    parts: readonly Uint8Array[],
    cb?: (err?: Error | null) => void,
    sealed?: PlainMessage['kind'],
  ): void {
    if (!this.#writer) return;
    const sealer = sealed !== undefined ? this.#sealed?.sealer : undefined;
    let length = 0;
    if (sealer !== undefined) length = sealer.sealedLength({ kind: sealed!, parts });
    else for (const p of parts) length += p.byteLength;
    const headLength = frameHeadLength(length, true);
    const total = headLength + length;
    let frame: Buffer;
    let pooled: Buffer | undefined;
    if (total >= SEND_POOL_MIN) {
      this.#sendPoolUsed = Date.now();
      this.#sendPoolTimer ??= setInterval(() => this.#trimSendPool(), SEND_POOL_IDLE_MS).unref();
      pooled = this.#sendPool.findLast((b) => b.length >= total);
      if (pooled) this.#sendPool.splice(this.#sendPool.lastIndexOf(pooled), 1);
      else pooled = Buffer.allocUnsafe(Math.max(total, 1024 * 1024 + 64 * 1024));
      frame = pooled.subarray(0, total);
    } else frame = Buffer.allocUnsafe(total);
    const key = this.#maskKey();
    writeFrameHead({ buf: frame, end: headLength, opcode, fin: true, length, key });
    if (sealer !== undefined) {
      sealer.sealInto({ msg: { kind: sealed!, parts }, out: frame, at: headLength });
      maskInto(frame.subarray(headLength), key, frame, headLength);
      this.#write(frame, pooled, cb);
      return;
    }
    const keys = parts.length > 1 ? maskRotations(key) : [key];
    let at = headLength;
    for (const part of parts) {
      // Each part continues the mask where the previous one stopped.
      maskInto(part, keys[(at - headLength) & 3]!, frame, at);
      at += part.byteLength;
    }
    this.#write(frame, pooled, cb);
  }

  /** Write a frame; its pooled buffer goes back to the pool once the socket took it. */
  #write(frame: Buffer, pooled: Buffer | undefined, cb?: (err?: Error | null) => void): void {
    this.#writer!.write(frame, (err) => {
      if (pooled && !err && this.#sendPool.length < SEND_POOL_KEEP) this.#sendPool.push(pooled);
      cb?.(err);
    });
  }

  #trimSendPool(): void {
    if (Date.now() - this.#sendPoolUsed < SEND_POOL_IDLE_MS && this.readyState !== CLOSED) return;
    this.#sendPool = [];
    clearInterval(this.#sendPoolTimer);
    this.#sendPoolTimer = undefined;
  }

  /**
   * Send one message: a string as text; bytes, or several byte ranges joined, as binary.
   * `cb` runs once the socket has taken it (or with an error when it cannot be sent).
   */
  send(data: string | Uint8Array | readonly Uint8Array[], cb?: (err?: Error | null) => void): void {
    if (this.readyState !== OPEN) {
      if (cb) process.nextTick(cb, new WireSocketError('the WebSocket is not open'));
      return;
    }
    const kind = typeof data === 'string' ? 'text' : 'binary';
    const parts =
      typeof data === 'string' ? [Buffer.from(data, 'utf8')] : data instanceof Uint8Array ? [data] : data;
    // Sealed, a text message travels as binary (its kind is sealed inside).
    if (this.#sealed) this.#sendFrame(OP.binary, parts, cb, kind);
    else this.#sendFrame(kind === 'text' ? OP.text : OP.binary, parts, cb);
  }

  /** Send a ping (the answer arrives as `pong`). */
  ping(): void {
    if (this.readyState === OPEN) this.#sendFrame(OP.ping, []);
  }

  /** Start the close handshake; `close` follows once the server answered and hung up. */
  close(code = 1000, reason = ''): void {
    if (this.readyState !== OPEN) return;
    this.readyState = CLOSING;
    this.#closeSent = true;
    this.#sendFrame(OP.close, [closeBody(code, reason)]);
  }

  /** Drop the connection at once. */
  terminate(): void {
    this.#sock?.destroy();
    this.#closed();
  }
}
