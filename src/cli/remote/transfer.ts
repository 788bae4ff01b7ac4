import { createHash, type Hash, randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FsError } from '../../core/fs-error.ts';
import type { NodeId } from '../../core/ids.ts';
import type { RemoteSource } from '../../client/remote-source.ts';
import type { Handle, Source } from '../../sources/source.ts';
import { ProgressBar, type ProgressSink } from './progress.ts';
import { relabel, type Resolved } from './remote-fs.ts';

/** Bytes per READ or WRITE request. */
export const TRANSFER_CHUNK = 1024 * 1024;
/** Requests of one transfer in flight at once. */
export const TRANSFER_WINDOW = 16;

/**
 * Read a file in order, keeping up to `window` chunk reads in flight. Stops at the first
 * short chunk (the end of the file). `sizeHint` (the size getattr gave) keeps a small file
 * from asking for chunks it does not have; a file that grew is still read to its end.
 */
export async function* readChunks(opts: {
  source: Source;
  handle: Handle;
  sizeHint: number;
  chunk?: number;
  window?: number;
}): AsyncGenerator<Uint8Array> {
  const chunk = opts.chunk ?? TRANSFER_CHUNK;
  const window = opts.window ?? TRANSFER_WINDOW;
  const inflight: Promise<Uint8Array>[] = [];
  let next = 0;
  const issue = () => {
    const p = opts.source.read({ handle: opts.handle, offset: next, length: chunk });
    // Reads left behind after the end (or after a failure) must not become unhandled.
    p.catch(() => undefined);
    inflight.push(p);
    next += chunk;
  };
  issue();
  for (;;) {
    while (inflight.length < window && next <= opts.sizeHint) issue();
    const data = await inflight.shift()!;
    if (data.byteLength > 0) yield data;
    if (data.byteLength < chunk) return;
    if (inflight.length === 0) issue();
  }
}

/**
 * Writes to one handle with up to `window` requests in flight. A failure surfaces at the
 * next `write` or at `finish`.
 */
export class PipelinedWriter {
  readonly #inflight = new Set<Promise<void>>();
  #error: unknown;
  #failed = false;

  constructor(
    private readonly opts: {
      source: Source;
      handle: Handle;
      /** Namespace path of the file, for errors. */
      path: string;
      window?: number;
    },
  ) {}

  /** Queue `data` at `offset`; waits while the window is full. */
  async write(offset: number, data: Uint8Array): Promise<void> {
    this.#check();
    while (this.#inflight.size >= (this.opts.window ?? TRANSFER_WINDOW)) {
      await Promise.race(this.#inflight);
      this.#check();
    }
    const p: Promise<void> = this.opts.source
      .write({ handle: this.opts.handle, offset, data })
      .then(({ written }) => {
        if (written !== data.byteLength)
          throw FsError.EIO('write', undefined, `short write: ${written} of ${data.byteLength} bytes`);
      })
      .catch((err: unknown) => {
        if (!this.#failed) {
          this.#failed = true;
          this.#error = relabel(err, 'write', this.opts.path);
        }
      })
      .finally(() => this.#inflight.delete(p));
    this.#inflight.add(p);
  }

  #check(): void {
    if (this.#failed) throw this.#error;
  }

  /** Wait for every write; throws the first failure. */
  async finish(): Promise<void> {
    await Promise.all(this.#inflight);
    this.#check();
  }
}

/** A content hash that did not match: what moved and what the node holds. */
function mismatch(opts: {
  op: string;
  path: string;
  sent: string;
  size: number;
  node: { hex: string; size: number };
}): FsError {
  return FsError.EIO(
    opts.op,
    opts.path,
    `content hash mismatch: ${opts.size} bytes with sha256 ${opts.sent} moved, the node holds ${opts.node.size} bytes with sha256 ${opts.node.hex}`,
  );
}

/** The node's sha256 of a file. */
async function nodeHash(
  source: RemoteSource,
  id: NodeId,
  path: string,
): Promise<{ hex: string; size: number }> {
  try {
    return await source.hash({ id });
  } catch (err) {
    throw relabel(err, 'hash', path);
  }
}

/** Stream a remote file through `sink` in order (reads pipelined), hashing as it goes. */
export async function streamFile(opts: {
  source: RemoteSource;
  file: Resolved;
  bar?: ProgressBar | undefined;
  sink: (chunk: Uint8Array, offset: number) => Promise<void>;
}): Promise<{ hash: Hash; size: number }> {
  let handle: Handle;
  try {
    ({ handle } = await opts.source.openFile({ id: opts.file.id, flags: { read: true, write: false } }));
  } catch (err) {
    throw relabel(err, 'open', opts.file.path);
  }
  const hash = createHash('sha256');
  let size = 0;
  const chunks = readChunks({ source: opts.source, handle, sizeHint: opts.file.attr.size });
  try {
    for (;;) {
      let next: IteratorResult<Uint8Array>;
      try {
        next = await chunks.next();
      } catch (err) {
        throw relabel(err, 'read', opts.file.path);
      }
      if (next.done === true) break;
      const chunk = next.value;
      hash.update(chunk);
      await opts.sink(chunk, size);
      size += chunk.byteLength;
      opts.bar?.update(size);
    }
  } finally {
    await chunks.return(undefined).catch(() => undefined);
    await opts.source.closeFile({ handle }).catch(() => undefined);
  }
  return { hash, size };
}

/**
 * Download a remote file to `local`. The bytes go to a temp file next to it, hashed on the
 * way; the node's HASH of the file must match before the temp file is renamed into place.
 * On any failure (or a mismatch) the temp file is removed: no partial local file is left.
 */
export async function downloadFile(opts: {
  source: RemoteSource;
  file: Resolved;
  local: string;
  progress: ProgressSink | undefined;
}): Promise<{ size: number; sha256: string }> {
  const tmp = join(
    dirname(opts.local),
    `.${basename(opts.local)}.tessera-${randomBytes(6).toString('hex')}.part`,
  );
  let fh: FileHandle | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    // Sync: the process exits right after, and no partial file may stay behind.
    rmSync(tmp, { force: true });
    process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const bar = new ProgressBar({
    sink: opts.progress,
    label: basename(opts.local),
    total: opts.file.attr.size,
  });
  try {
    try {
      fh = await open(tmp, 'wx', 0o666);
    } catch (err) {
      throw FsError.from(err, 'get', dirname(opts.local));
    }
    const fd = fh;
    const { hash, size } = await streamFile({
      source: opts.source,
      file: opts.file,
      bar,
      sink: async (chunk, offset) => {
        await fd.write(chunk, 0, chunk.byteLength, offset);
      },
    });
    await fd.sync();
    await fd.close();
    fh = undefined;
    const sent = hash.digest('hex');
    const node = await nodeHash(opts.source, opts.file.id, opts.file.path);
    if (node.hex !== sent || node.size !== size)
      throw mismatch({ op: 'get', path: opts.file.path, sent, size, node });
    try {
      await rename(tmp, opts.local);
    } catch (err) {
      throw FsError.from(err, 'get', opts.local);
    }
    return { size, sha256: sent };
  } catch (err) {
    await fh?.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  } finally {
    bar.finish();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** How the bytes of a new remote file are produced: call `write` in order, return the hash. */
type Producer = (write: (offset: number, chunk: Uint8Array) => Promise<void>) => Promise<{
  hash: Hash;
  size: number;
}>;

/**
 * Create (or replace) `name` in `dir` through one handle, so the file appears only at close,
 * and verify it with the node's HASH. The hash is asked before the close when the node can
 * answer it for a file still being written, so a bad copy never becomes visible; otherwise
 * right after. A failure before the close drops the session, which makes the node discard
 * the handle's writes (the protocol's abandoned-handle rule): nothing half-written appears.
 */
export async function writeVerified(opts: {
  source: RemoteSource;
  op: string;
  dir: Resolved;
  name: string;
  path: string;
  mode: number;
  produce: Producer;
  /** Runs after the bytes are written, before the close (e.g. the source file's own HASH). */
  check?: (sent: string, size: number) => Promise<void>;
}): Promise<{ id: NodeId; size: number; sha256: string }> {
  const { source } = opts;
  const existed = await source.lookup({ parent: opts.dir.id, name: opts.name }).then(
    () => true,
    () => false,
  );
  let created;
  try {
    created = await source.create({ parent: opts.dir.id, name: opts.name, mode: opts.mode & 0o7777 });
  } catch (err) {
    throw relabel(err, 'create', opts.path);
  }
  let sent: string;
  let size: number;
  try {
    const writer = new PipelinedWriter({ source, handle: created.handle, path: opts.path });
    const produced = await opts.produce((offset, chunk) => writer.write(offset, chunk));
    await writer.finish();
    sent = produced.hash.digest('hex');
    size = produced.size;
    await opts.check?.(sent, size);
    const early = await source.hash({ id: created.id }).catch(() => undefined);
    if (early && early.hex === sent && early.size === size) {
      await source.closeFile({ handle: created.handle }).catch((err: unknown) => {
        throw relabel(err, 'close', opts.path);
      });
      return { id: created.id, size, sha256: sent };
    }
  } catch (err) {
    source.connection.terminate();
    throw err;
  }
  // This node hashes only what is visible: close, then check the file that is there now.
  try {
    await source.closeFile({ handle: created.handle });
  } catch (err) {
    throw relabel(err, 'close', opts.path);
  }
  const now = await source.lookup({ parent: opts.dir.id, name: opts.name }).catch((err: unknown) => {
    throw relabel(err, 'lookup', opts.path);
  });
  const node = await nodeHash(source, now.id, opts.path);
  if (node.hex !== sent || node.size !== size) {
    if (!existed) await source.unlink({ parent: opts.dir.id, name: opts.name }).catch(() => undefined);
    throw mismatch({ op: opts.op, path: opts.path, sent, size, node });
  }
  return { id: now.id, size, sha256: sent };
}

/** Upload a local regular file to `name` in `dir`, verified end to end. */
export async function uploadFile(opts: {
  source: RemoteSource;
  local: string;
  dir: Resolved;
  name: string;
  path: string;
  progress: ProgressSink | undefined;
}): Promise<{ size: number; sha256: string }> {
  let fh: FileHandle;
  try {
    fh = await open(opts.local, 'r');
  } catch (err) {
    throw FsError.from(err, 'put', opts.local);
  }
  try {
    const st = await fh.stat();
    if (st.isDirectory())
      throw FsError.EISDIR('put', opts.local, 'put sends one file (directories: not yet)');
    if (!st.isFile()) throw FsError.EINVAL('put', opts.local, 'not a regular file');
    const bar = new ProgressBar({ sink: opts.progress, label: basename(opts.local), total: st.size });
    try {
      const result = await writeVerified({
        source: opts.source,
        op: 'put',
        dir: opts.dir,
        name: opts.name,
        path: opts.path,
        mode: st.mode & 0o777,
        produce: async (write) => {
          const hash = createHash('sha256');
          let size = 0;
          for (;;) {
            // A fresh buffer per chunk: it stays in flight until its WRITE is answered.
            const buf = Buffer.allocUnsafe(TRANSFER_CHUNK);
            let got: number;
            try {
              ({ bytesRead: got } = await fh.read(buf, 0, TRANSFER_CHUNK, size));
            } catch (err) {
              throw FsError.from(err, 'put', opts.local);
            }
            if (got === 0) break;
            const chunk = buf.subarray(0, got);
            hash.update(chunk);
            await write(size, chunk);
            size += got;
            bar.update(size);
          }
          return { hash, size };
        },
      });
      return { size: result.size, sha256: result.sha256 };
    } finally {
      bar.finish();
    }
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/**
 * Copy a remote file to `name` in `dir` through this client, verified against the HASH of
 * both the source (what was read) and the copy (what was written).
 */
export async function copyRemoteFile(opts: {
  source: RemoteSource;
  op: string;
  file: Resolved;
  dir: Resolved;
  name: string;
  path: string;
  progress: ProgressSink | undefined;
}): Promise<{ id: NodeId; size: number; sha256: string }> {
  const bar = new ProgressBar({ sink: opts.progress, label: opts.file.path, total: opts.file.attr.size });
  try {
    return await writeVerified({
      source: opts.source,
      op: opts.op,
      dir: opts.dir,
      name: opts.name,
      path: opts.path,
      mode: opts.file.attr.mode,
      produce: (write) =>
        streamFile({
          source: opts.source,
          file: opts.file,
          bar,
          sink: (chunk, offset) => write(offset, chunk),
        }),
      check: async (sent, size) => {
        const node = await nodeHash(opts.source, opts.file.id, opts.file.path);
        if (node.hex !== sent || node.size !== size)
          throw mismatch({ op: opts.op, path: opts.file.path, sent, size, node });
      },
    });
  } finally {
    bar.finish();
  }
}
