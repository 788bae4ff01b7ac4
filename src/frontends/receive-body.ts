import type { IncomingMessage } from 'node:http';
import { FsError } from '../core/fs-error.ts';
import type { Handle, Source } from '../sources/source.ts';
import { writeAll } from './write-all.ts';

/** Request bytes gathered into one Source write. */
const WRITE_CHUNK = 1024 * 1024;
/** Writes in flight while the next chunk arrives. */
const WRITES_IN_FLIGHT = 2;

/**
 * Copy a request body into a handle open for writing (the upload of WebDAV's PUT and the REST
 * API's content PUT), gathered into 1 MiB writes with a couple in flight while the next
 * arrives. `onBytes` sees every chunk, in order, as it arrives (e.g. to hash the body).
 * Rejects with `ECONNABORTED` when the client stops before the end of its body (fewer bytes
 * than its `Content-Length`); the caller then discards the handle (`closeFile` with `abort`).
 * Resolves to the number of bytes written.
 */
export async function receiveBody(opts: {
  req: IncomingMessage;
  source: Source;
  handle: Handle;
  /** Operation and path errors name. */
  op: string;
  path: string;
  onBytes?: ((bytes: Uint8Array) => void) | undefined;
}): Promise<number> {
  const { req, onBytes } = opts;
  let offset = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const inFlight: Promise<void>[] = [];
  const flush = async () => {
    const data = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    pending = [];
    const write = writeAll({
      source: opts.source,
      handle: opts.handle,
      offset,
      data,
      op: opts.op,
      path: opts.path,
    });
    // Observed now so a failure while the next chunk arrives is not an unhandled rejection;
    // it is thrown where the write is awaited.
    write.catch(() => undefined);
    inFlight.push(write);
    offset += pendingBytes;
    pendingBytes = 0;
    if (inFlight.length >= WRITES_IN_FLIGHT) await inFlight.shift();
  };
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      onBytes?.(chunk);
      pending.push(chunk);
      pendingBytes += chunk.byteLength;
      if (pendingBytes >= WRITE_CHUNK) await flush();
    }
    if (pendingBytes > 0) await flush();
    await Promise.all(inFlight.splice(0));
  } finally {
    await Promise.allSettled(inFlight);
  }
  const announced = req.headers['content-length'];
  if (!req.complete || (announced !== undefined && Number(announced) !== offset)) {
    const of = announced === undefined ? '' : ` of the ${announced} announced`;
    throw FsError.ECONNABORTED(opts.op, opts.path, `the client stopped sending after ${offset} bytes${of}`);
  }
  return offset;
}
