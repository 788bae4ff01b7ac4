/**
 * A Tessera client (one RemoteSource session) in a process of its own, driven over IPC by
 * the benchmark: like `dd`, `find` and `rclone`, the client side of each contender runs in
 * its own process rather than in the benchmark's (whose heap and event loop are the
 * benchmark's business, not the client's). See tessera-client.ts for the protocol.
 */
import { CHUNK_BYTES, RemoteSource, WINDOW } from '../../../src/client/remote-source.ts';
import type { NodeId } from '../../../src/core/ids.ts';
import { lookupPath as lookup, readSequential, walkTree } from '../source-ops.ts';
import type { ClientReply, ClientRequest } from './tessera-client.ts';

let src: RemoteSource | undefined;
let root: NodeId | undefined;
const block = Buffer.alloc(CHUNK_BYTES);

function session(): { src: RemoteSource; root: NodeId } {
  if (!src || root === undefined) throw new Error('not connected');
  return { src, root };
}

function lookupPath(path: string): Promise<NodeId> {
  const s = session();
  return lookup({ source: s.src, root: s.root, path });
}

/** One reused 1 MiB buffer per read in flight (as `dd` reuses its one buffer). */
const readBuffers = Array.from({ length: WINDOW }, () => Buffer.allocUnsafe(CHUNK_BYTES));

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
      return readSequential({ source: session().src, id: await lookupPath(req.path), buffers: readBuffers });
    case 'write':
      return write(req.path, req.bytes);
    case 'walk':
      return walkTree({ source: session().src, top: await lookupPath(req.path) });
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
