// READ answers are read into pooled buffers and sent as one frame (src/node/read-buffers.ts):
// many reads in flight at once, over TLS and plain ws, must each get exactly their own bytes
// although the buffers behind them are reused.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RemoteSource } from '../../src/client/remote-source.ts';
import { addExport, initHome } from '../../src/core/home.ts';
import type { NodeId } from '../../src/core/ids.ts';
import { createLogger } from '../../src/core/log.ts';
import { ensureOwnerCredential } from '../../src/node/credentials.ts';
import { createNode, type TesseraNode } from '../../src/node/node.ts';

const CHEAP_ARGON2 = { m: 1024, t: 1, p: 1 };
const MIB = 1024 * 1024;

/** Bytes that differ at every 4-byte position and from file to file. */
function pattern(size: number, seed: number): Buffer {
  const buf = Buffer.alloc(size);
  for (let i = 0; i + 4 <= size; i += 4) buf.writeUInt32LE((Math.imul(i + seed, 2654435761) ^ seed) >>> 0, i);
  for (let i = size - (size % 4); i < size; i++) buf[i] = (i * 31 + seed) & 0xff;
  return buf;
}

describe('pooled READ buffers', () => {
  let root: string;
  let files: { name: string; data: Buffer }[];
  const nodes: TesseraNode[] = [];
  const sources: RemoteSource[] = [];

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'tessera-read-pool-'));
    const data = join(root, 'data');
    await mkdir(data);
    files = [
      { name: 'a.bin', data: pattern(8 * MIB + 123, 1) },
      { name: 'b.bin', data: pattern(3 * MIB, 2) },
    ];
    for (const f of files) await writeFile(join(data, f.name), f.data);
    for (const insecure of [false, true]) {
      const home = join(root, insecure ? 'home-ws' : 'home-tls');
      await initHome({ root: home, name: insecure ? 'pool-ws' : 'pool-tls' });
      await addExport({
        root: home,
        entry: { name: 'disk', kind: 'linux', path: data, ro: false, desc: '', options: {} },
      });
      const cred = await ensureOwnerCredential({ home, argon2: CHEAP_ARGON2 });
      const node = await createNode({
        home,
        listen: '127.0.0.1:0',
        insecure,
        logger: createLogger({ level: 'silent' }),
        argon2: CHEAP_ARGON2,
      });
      nodes.push(node);
      const src = new RemoteSource({
        connect: {
          url: node.url,
          credential: { id: cred.id, secret: cred.secret },
          trust: node.fingerprint ? { fingerprint: node.fingerprint } : undefined,
        },
      });
      await src.open();
      sources.push(src);
    }
  });

  after(async () => {
    for (const src of sources) await src.close();
    for (const node of nodes) await node.close();
    await rm(root, { recursive: true, force: true });
  });

  for (const [i, transport] of ['TLS', 'ws'].entries()) {
    it(`many reads in flight over ${transport} each get their own bytes`, async () => {
      const src = sources[i]!;
      const exp = (await src.listExports()).find((e) => e.name === '/disk')!;
      const handles: { handle: number; data: Buffer }[] = [];
      for (const f of files) {
        const id: NodeId = (await src.lookup({ parent: exp.root, name: f.name })).id;
        handles.push({ ...(await src.openFile({ id, flags: { read: true, write: false } })), data: f.data });
      }
      // Chunks of both files, in a scrambled order, 48 in flight; odd sizes and offsets too.
      const jobs: { h: (typeof handles)[number]; offset: number; length: number }[] = [];
      for (let pass = 0; pass < 3; pass++) {
        for (const h of handles) {
          for (let off = 0; off < h.data.length + MIB; off += MIB) jobs.push({ h, offset: off, length: MIB });
          jobs.push(
            { h, offset: 12345 + pass, length: 777_777 },
            { h, offset: h.data.length - 5, length: MIB },
          );
        }
      }
      jobs.sort((a, b) => ((a.offset * 7919 + a.length) % 101) - ((b.offset * 7919 + b.length) % 101));
      let next = 0;
      await Promise.all(
        Array.from({ length: 48 }, async () => {
          while (next < jobs.length) {
            const { h, offset, length } = jobs[next++]!;
            const got = Buffer.from(await src.read({ handle: h.handle, offset, length }));
            const want = h.data.subarray(
              Math.min(offset, h.data.length),
              Math.min(offset + length, h.data.length),
            );
            assert.ok(got.equals(want), `bytes ${offset}+${length} of a ${h.data.length}-byte file`);
          }
        }),
      );
      for (const h of handles) await src.closeFile({ handle: h.handle });
    });
  }
});
