import type { ServerResponse } from 'node:http';
import type { Handle, Source } from '../sources/source.ts';

/** Bytes per read from the Source while sending a file's body. */
const CHUNK = 1024 * 1024;
/** Reads in flight ahead of the socket. */
const READ_AHEAD = 4;
/** Chunks handed to the socket and not yet written out, at most. */
const WRITE_WINDOW = 2;
/** Free chunks kept for reuse, at most (16 MiB). */
const POOL_KEEP = 16;

/**
 * Reusable 1 MiB buffers: each read goes into one, which comes back once the socket has taken
 * its bytes (no fresh megabyte per read). A cache, not a limit: an empty pool allocates.
 */
class ChunkPool {
  readonly #free: Buffer[] = [];

  take(): Buffer {
    return this.#free.pop() ?? Buffer.allocUnsafeSlow(CHUNK);
  }

  give(buf: Buffer): void {
    if (this.#free.length < POOL_KEEP) this.#free.push(buf);
  }
}

/** One pool for every HTTP front-end of the process (WebDAV GET, the REST API's content GET). */
const pool = new ChunkPool();

/**
 * How {@link sendFileBody} ended: every byte handed to the socket and the response ended, the
 * client went away first, or the file had fewer bytes than asked for (it shrank meanwhile).
 */
export type SendOutcome = 'complete' | 'gone' | 'short';

/**
 * Send bytes `[start, end)` of an open file as the body of `res` (headers already written):
 * {@link READ_AHEAD} reads in flight into pooled buffers, written in order, at most
 * {@link WRITE_WINDOW} chunks waiting on the socket, so the kernel always has the next bytes
 * when the client reads and the file is read while the socket drains. `onBytes` sees every
 * chunk, in order, before it is written (e.g. to hash the body); the view is only valid
 * during the call. A file that shrank cannot honour the Content-Length already sent: the
 * connection is cut so the client sees a short body (`'short'`). A read error cuts it too,
 * and is thrown.
 */
export async function sendFileBody(opts: {
  source: Source;
  handle: Handle;
  start: number;
  end: number;
  res: ServerResponse;
  onBytes?: ((bytes: Uint8Array) => void) | undefined;
}): Promise<SendOutcome> {
  const { source, handle, end, res, onBytes } = opts;
  let offset = opts.start;
  const inFlight: Promise<{ bytes: Uint8Array; buf: Buffer; length: number }>[] = [];
  let queued = 0;
  let wake: (() => void) | undefined;
  const onClose = () => wake?.();
  res.on('close', onClose);
  const issue = () => {
    if (offset >= end) return;
    const length = Math.min(CHUNK, end - offset);
    const buf = pool.take();
    const read = source.read({ handle, offset, length, into: buf }).then(
      (bytes) => ({ bytes, buf, length }),
      (err: unknown) => {
        pool.give(buf);
        throw err;
      },
    );
    // Observed now (a failure while waiting for the socket is not an unhandled rejection);
    // thrown where the read is awaited.
    read.catch(() => undefined);
    inFlight.push(read);
    offset += length;
  };
  try {
    while (inFlight.length < READ_AHEAD && offset < end) issue();
    while (inFlight.length > 0) {
      const { bytes, buf, length } = await inFlight.shift()!;
      if (res.destroyed) return 'gone';
      if (bytes.length !== length) {
        res.destroy();
        return 'short';
      }
      onBytes?.(bytes);
      queued++;
      res.write(bytes, () => {
        queued--;
        pool.give(buf);
        wake?.();
      });
      issue();
      // Keep a chunk or two queued on the socket (rather than waiting for it to drain
      // empty), so the kernel always has the next bytes when the client reads.
      while (queued >= WRITE_WINDOW && !res.destroyed) await new Promise<void>((resolve) => (wake = resolve));
    }
    if (res.destroyed) return 'gone';
    res.end();
    return 'complete';
  } catch (err) {
    res.destroy();
    throw err;
  } finally {
    res.off('close', onClose);
    // Reads still in flight after an early return must not reject unobserved.
    await Promise.allSettled(inFlight);
  }
}
