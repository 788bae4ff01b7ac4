import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** Where each read goes and who hears of it, as in the `onread` option of `net.connect`. */
export interface UserBufferReads {
  /** Called before every read: the buffer it fills. */
  buffer: () => Uint8Array;
  /** `n` bytes were read into `buf`. */
  callback: (n: number, buf: Uint8Array) => void;
}

/**
 * Switch a socket a server accepted (plain TCP or TLS) to reading into buffers the caller
 * gives, the way `net.connect`/`tls.connect` do with their `onread` option — which Node
 * offers only for sockets it connects. Without it every read is a fresh buffer pushed
 * through the stream machinery (for TLS, one per 16 KiB record: ~65,000 allocations and
 * `data` events per GiB received). Node keeps that mode in three fields of the socket
 * under internal symbols; this finds them by name and engages the mode the same way the
 * constructor does. Returns false, changing nothing, when this Node does not have them
 * (the caller then reads `data` events); `data` is not emitted once it returned true.
 * Bytes already buffered in the stream are handed to `callback` first (copied into the
 * caller's buffer).
 */
export function readIntoUserBuffers(socket: Duplex, reads: UserBufferReads): boolean {
  if (!(socket instanceof Socket)) return false;
  const sock = socket as unknown as Record<symbol, unknown> & {
    _handle?: { useUserBuffer?: (buf: Uint8Array) => void } | null;
  };
  const handle = sock._handle;
  if (typeof handle?.useUserBuffer !== 'function') return false;
  const symbols = Object.getOwnPropertySymbols(socket);
  const field = (name: string) => symbols.find((s) => s.description === name);
  const kBuffer = field('kBuffer');
  const kBufferCb = field('kBufferCb');
  const kBufferGen = field('kBufferGen');
  if (kBuffer === undefined || kBufferCb === undefined || kBufferGen === undefined) return false;
  // Already reading into user buffers, or an unexpected shape: leave it alone.
  if (sock[kBuffer] !== null || sock[kBufferCb] !== null || sock[kBufferGen] !== null) return false;
  for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) {
    for (let at = 0; at < chunk.length;) {
      const buf = reads.buffer();
      const n = Math.min(buf.byteLength, chunk.length - at);
      buf.set(chunk.subarray(at, at + n));
      at += n;
      reads.callback(n, buf);
    }
  }
  const first = reads.buffer();
  sock[kBufferGen] = reads.buffer;
  sock[kBufferCb] = (n: number, buf: Uint8Array) => {
    reads.callback(n, buf);
    return true;
  };
  sock[kBuffer] = first;
  handle.useUserBuffer(first);
  return true;
}
