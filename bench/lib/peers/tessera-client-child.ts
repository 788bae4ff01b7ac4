/**
 * A Tessera client (one RemoteSource session) in a process of its own, driven over IPC by
 * the benchmark: like `dd`, `find` and `rclone`, the client side of each contender runs in
 * its own process rather than in the benchmark's (whose heap and event loop are the
 * benchmark's business, not the client's). See tessera-client.ts for the protocol.
 */
import { CHUNK_BYTES, RemoteSource, WINDOW } from '../../../src/client/remote-source.ts';
import type { NodeId } from '../../../src/core/ids.ts';
import { MAX_READDIR_PAGE } from '../../../src/sources/dir-pager.ts';
import { type ClientReply, type ClientRequest, WALK_CONCURRENCY } from './tessera-client.ts';

let src: RemoteSource | undefined;
let root: NodeId | undefined;
const block = Buffer.alloc(CHUNK_BYTES);

function session(): { src: RemoteSource; root: NodeId } {
  if (!src || root === undefined) throw new Error('not connected');
  return { src, root };
}

async function lookupPath(path: string): Promise<NodeId> {
  const s = session();
  let id = s.root;
  for (const name of path.split('/').filter(Boolean)) id = (await s.src.lookup({ parent: id, name })).id;
  return id;
}

/** One reused 1 MiB buffer per read in flight (as `dd` reuses its one buffer). */
const readBuffers = Array.from({ length: WINDOW }, () => Buffer.allocUnsafe(CHUNK_BYTES));

/**
 * Sequential read: a window of pipelined 1 MiB READs, each into its worker's reused buffer
 * (`into`), bytes discarded. Returns the bytes read.
 */
async function read(path: string): Promise<number> {
  const { src } = session();
  const id = await lookupPath(path);
  const { handle } = await src.openFile({ id, flags: { read: true, write: false } });
  let next = 0;
  let total = 0;
  let eof = false;
  try {
    const worker = async (into: Buffer) => {
      while (!eof) {
        const offset = next;
        next += CHUNK_BYTES;
        const part = await src.read({ handle, offset, length: CHUNK_BYTES, into });
        total += part.byteLength;
        if (part.byteLength < CHUNK_BYTES) eof = true;
      }
    };
    await Promise.all(readBuffers.map(worker));
  } finally {
    await src.closeFile({ handle });
  }
  return total;
}

/** Sequential write of `bytes` (a multiple of 1 MiB): CREATE, a window of pipelined WRITEs, CLOSE. */
async function write(path: string, bytes: number): Promise<number> {
  const { src } = session();
  const slash = path.lastIndexOf('/');
  const parent = await lookupPath(path.slice(0, Math.max(0, slash)));
  const { handle } = await src.create({ parent, name: path.slice(slash + 1), mode: 0o644 });
  let next = 0;
  try {
    const worker = async () => {
      while (next < bytes) {
        const offset = next;
        next += CHUNK_BYTES;
        const { written } = await src.write({ handle, offset, data: block });
        if (written !== CHUNK_BYTES) throw new Error(`short write at ${offset}: ${written}`);
      }
    };
    await Promise.all(Array.from({ length: WINDOW }, worker));
  } finally {
    // CLOSE over the wire takes only the handle; a failed write throws anyway.
    await src.closeFile({ handle });
  }
  return bytes;
}

/**
 * Metadata walk: READDIRP (which returns every entry's attributes: the stat of every file,
 * over the wire) of every directory under `path`, WALK_CONCURRENCY directories at once.
 * Returns the number of non-directories seen.
 */
async function walk(path: string): Promise<number> {
  const { src } = session();
  const top = await lookupPath(path);
  let files = 0;
  const queue: NodeId[] = [top];
  let active = 0;
  await new Promise<void>((resolve, reject) => {
    const pump = () => {
      if (queue.length === 0 && active === 0) return resolve();
      while (active < WALK_CONCURRENCY && queue.length > 0) {
        const dir = queue.shift()!;
        active++;
        void (async () => {
          for (let cookie = '', eof = false; !eof;) {
            const page = await src.readdirp({ dir, cookie, max: MAX_READDIR_PAGE });
            for (const e of page.entries) {
              if (e.attr.kind === 'dir') queue.push(e.id);
              else files++;
            }
            ({ cookie, eof } = page);
          }
        })().then(() => {
          active--;
          pump();
        }, reject);
      }
    };
    pump();
  });
  return files;
}

async function handle(req: ClientRequest): Promise<number> {
  switch (req.t) {
    case 'connect': {
      src = new RemoteSource({ connect: req.connect });
      await src.open();
      root = (await src.listExports()).find((e) => e.name === `/${req.exportName}`)?.root;
      if (root === undefined) throw new Error(`the node does not show export ${req.exportName}`);
      return 0;
    }
    case 'read':
      return read(req.path);
    case 'write':
      return write(req.path, req.bytes);
    case 'walk':
      return walk(req.path);
    case 'unlink': {
      const slash = req.path.lastIndexOf('/');
      const parent = await lookupPath(req.path.slice(0, Math.max(0, slash)));
      await session().src.unlink({ parent, name: req.path.slice(slash + 1) });
      return 0;
    }
    case 'close':
      await src?.close();
      src = undefined;
      return 0;
  }
}

const reply = (r: ClientReply) => process.send?.(r);
process.on('message', (req: ClientRequest) => {
  handle(req).then(
    (value) => {
      reply({ t: 'done', seq: req.seq, value });
      if (req.t === 'close') process.disconnect();
    },
    (err: unknown) =>
      reply({ t: 'error', seq: req.seq, message: err instanceof Error ? err.message : String(err) }),
  );
});
// The benchmark went away (even by SIGKILL): leave too.
process.on('disconnect', () => {
  void (src?.close() ?? Promise.resolve()).finally(() => process.exit(0));
});
