import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { FsError } from '../core/fs-error.ts';
import { exportIndexOf, type NodeId } from '../core/ids.ts';
import type { Entry, Handle, Source } from '../sources/source.ts';
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
async function receiveBody(opts: {
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

/**
 * Make a request body the whole content of `name` in `parent`, visible only once it is all
 * there (the upload of WebDAV's PUT and the REST API's content PUT). An existing file is
 * opened with `truncate`, so it stays the same file (its mode, extended attributes and, where
 * the Source can, its id); a new one is created (`exclusive`: `EEXIST` if another writer made
 * it first). The Source's atomic write keeps readers on the old content until the close; a
 * Source without one (`atomic` false) gets a hidden temporary file renamed over the target.
 * `verify` runs once the body is in and before it becomes visible: throwing there (a digest
 * that does not match…) discards the upload, as does any failure or a client that goes away.
 * Resolves to the entry written.
 */
export async function uploadFile(opts: {
  req: IncomingMessage;
  source: Source;
  parent: NodeId;
  name: string;
  /** What is at `name` now (undefined: nothing). */
  existing: Entry | undefined;
  exclusive: boolean;
  /** The export's `caps.atomic_write`. */
  atomic: boolean;
  op: string;
  path: string;
  onBytes?: ((bytes: Uint8Array) => void) | undefined;
  verify?: (() => void) | undefined;
}): Promise<Entry> {
  const { source, parent, name, existing } = opts;
  let handle: Handle;
  let temp: string | undefined;
  if (!opts.atomic) {
    temp = `.${name}.tessera-put-${randomBytes(6).toString('hex')}`;
    ({ handle } = await source.create({ parent, name: temp, mode: 0o644, exclusive: true }));
  } else if (existing) {
    ({ handle } = await source.openFile({
      id: existing.id,
      flags: { read: false, write: true, truncate: true },
    }));
  } else {
    ({ handle } = await source.create({ parent, name, mode: 0o644, exclusive: opts.exclusive }));
  }
  try {
    try {
      await receiveBody({ ...opts, handle });
      opts.verify?.();
    } catch (err) {
      await source.closeFile({ handle, abort: true }).catch(() => undefined);
      throw err;
    }
    await source.closeFile({ handle });
    // noreplace keeps `exclusive` true to its word: a file another writer made meanwhile stays.
    if (temp !== undefined)
      await source.rename({
        parent,
        name: temp,
        newParent: parent,
        newName: name,
        noreplace: opts.exclusive,
      });
  } catch (err) {
    // Whatever failed (the body, the close, the rename), the temporary file goes.
    if (temp !== undefined) await source.unlink({ parent, name: temp }).catch(() => undefined);
    throw err;
  }
  return source.lookup({ parent, name });
}

/** Whether the export holding `id` writes atomically (`caps.atomic_write`; unknown: true). */
export async function writesAtomically(source: Source, id: NodeId): Promise<boolean> {
  const slot = exportIndexOf(id);
  const info = (await source.listExports()).find((e) => exportIndexOf(e.root) === slot);
  return info?.caps.atomic_write !== false;
}
