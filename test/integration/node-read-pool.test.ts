// READ answers are read into pooled buffers and sent as one frame (src/node/read-buffers.ts),
// and received straight into the caller's buffer when it gives one (`into`, see
// src/client/wire-socket.ts): many reads in flight at once, over TLS and plain ws, must each
// get exactly their own bytes although the buffers behind them are reused.
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
import { CHEAP_ARGON2 } from '../helpers/argon2.ts';

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
      // A memory export too: it ignores `into`, so its answers take the unpooled path.
      await addExport({
        root: home,
        entry: { name: 'mem', kind: 'memory', path: '', ro: false, desc: '', options: {} },
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

    it(`reads over ${transport} land in the caller's buffer (into), also across chunks and at EOF`, async () => {
      const src = sources[i]!;
      const exp = (await src.listExports()).find((e) => e.name === '/disk')!;
      const { data } = files[0]!;
      const id: NodeId = (await src.lookup({ parent: exp.root, name: 'a.bin' })).id;
      const { handle } = await src.openFile({ id, flags: { read: true, write: false } });
      try {
        const into = Buffer.alloc(MIB);
        const one = await src.read({ handle, offset: 4096, length: MIB, into });
        assert.equal(one.buffer, into.buffer, 'a one-chunk read is received in place');
        assert.ok(Buffer.from(one).equals(data.subarray(4096, 4096 + MIB)));
        // Several chunks, pipelined, each into its slice of one buffer; the file ends inside.
        const big = Buffer.alloc(6 * MIB);
        const offset = 3 * MIB + 5;
        const many = await src.read({ handle, offset, length: big.length, into: big });
        assert.equal(many.buffer, big.buffer);
        assert.equal(many.byteOffset, big.byteOffset);
        assert.equal(many.byteLength, data.length - offset);
        assert.ok(Buffer.from(many).equals(data.subarray(offset)));
        const tail = await src.read({ handle, offset: data.length - 10, length: MIB, into });
        assert.ok(Buffer.from(tail).equals(data.subarray(data.length - 10)));
        const past = await src.read({ handle, offset: data.length + 1, length: MIB, into });
        assert.equal(past.byteLength, 0);
      } finally {
        await src.closeFile({ handle });
      }
    });

    it(`reads over ${transport} from a Source that ignores into still give the right bytes`, async () => {
      const src = sources[i]!;
      const exp = (await src.listExports()).find((e) => e.name === '/mem')!;
      const data = pattern(3 * MIB + 999, 3);
      const made = await src.create({ parent: exp.root, name: `m-${transport}.bin`, mode: 0o644 });
      await src.write({ handle: made.handle, offset: 0, data });
      await src.closeFile({ handle: made.handle });
      const { handle } = await src.openFile({ id: made.id, flags: { read: true, write: false } });
      try {
        const into = Buffer.alloc(4 * MIB);
        const one = await src.read({ handle, offset: 7, length: MIB, into });
        assert.ok(Buffer.from(one).equals(data.subarray(7, 7 + MIB)));
        const all = await src.read({ handle, offset: 0, length: into.length, into });
        assert.equal(all.buffer, into.buffer, 'chunks that did not arrive in place are copied there');
        assert.ok(Buffer.from(all).equals(data));
      } finally {
        await src.closeFile({ handle });
      }
    });
  }
});
