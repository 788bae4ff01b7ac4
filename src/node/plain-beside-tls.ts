import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';

/** The first byte of every TLS connection: a handshake record (RFC 8446 §5.1). */
const TLS_HANDSHAKE = 0x16;
/** A connection that sends nothing this long is dropped before it is told apart. */
const FIRST_BYTE_TIMEOUT_MS = 30_000;

/**
 * Serve plain HTTP beside TLS on one listening socket: each connection's first byte says
 * which (a TLS handshake record starts with 0x16, an HTTP request with a letter). TLS
 * connections go on to `tls` as if nothing had happened; the others are handed to `plain`.
 * The byte read is put back, and both servers read it again (a TLS socket takes a raw
 * socket's buffered bytes first; so does an HTTP parser).
 *
 * Used so a sealed connection (docs/protocol.md) reaches the node at its one address.
 */
export function servePlainBesideTls(opts: { tls: HttpsServer; plain: HttpServer }): void {
  const { tls, plain } = opts;
  // The TLS server's own connection listener wraps the socket; it runs once the byte is seen.
  const tlsListeners = tls.listeners('connection') as ((socket: Socket) => void)[];
  tls.removeAllListeners('connection');
  tls.on('connection', (socket: Socket) => {
    const timer = setTimeout(() => socket.destroy(), FIRST_BYTE_TIMEOUT_MS);
    timer.unref();
    const onClose = () => clearTimeout(timer);
    socket.once('close', onClose);
    socket.once('data', (chunk: Buffer) => {
      clearTimeout(timer);
      socket.off('close', onClose);
      socket.pause();
      socket.unshift(chunk);
      if (chunk[0] === TLS_HANDSHAKE) for (const listener of tlsListeners) listener.call(tls, socket);
      else {
        plain.emit('connection', socket);
        // The HTTP server reads a socket that flows; the byte put back comes first.
        socket.resume();
      }
    });
  });
}
