import assert from 'node:assert/strict';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WriteQueue } from '../../src/sources/local/write-queue.ts';
import { rng } from '../helpers/rng.ts';

describe('WriteQueue', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-wq-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes pipelined, partly out-of-order and overlapping writes as if one at a time in order', async () => {
    const rand = rng(0x5eed);
    const fh = await open(join(dir, 'f'), 'w+');
    try {
      const q = new WriteQueue(() => fh);
      const expected = Buffer.alloc(3_000_000);
      const writes: { offset: number; data: Buffer }[] = [];
      for (let offset = 0; offset < 2_500_000;) {
        const data = Buffer.alloc(1 + Math.floor(rand() * 70_000), Math.floor(rand() * 256));
        writes.push({ offset, data });
        offset += data.length;
      }
      // Swap neighbours now and then, and slip in overlapping rewrites anywhere.
      for (let i = 1; i < writes.length; i++)
        if (rand() < 0.2) [writes[i - 1], writes[i]] = [writes[i]!, writes[i - 1]!];
      for (let k = 0; k < 8; k++) {
        const at = Math.floor(rand() * writes.length);
        writes.splice(at, 0, { offset: Math.floor(rand() * 2_000_000), data: Buffer.alloc(90_000, 200 + k) });
      }
      const done: Promise<void>[] = [];
      for (const w of writes) {
        done.push(q.write(w.offset, w.data));
        w.data.copy(expected, w.offset);
      }
      await Promise.all(done);
      const end = Math.max(...writes.map((w) => w.offset + w.data.length));
      assert.ok((await readFile(join(dir, 'f'))).equals(expected.subarray(0, end)));
      assert.deepEqual(await q.write(10, Buffer.alloc(0)), undefined, 'an empty write is fine');
    } finally {
      await fh.close();
    }
  });

  it('fails every write of a batch that fails, and keeps serving later ones', async () => {
    let fh = await open(join(dir, 'g'), 'w+');
    const q = new WriteQueue(() => fh);
    await fh.close();
    const failed = await Promise.allSettled([q.write(0, Buffer.from('a')), q.write(1, Buffer.from('b'))]);
    assert.deepEqual(
      failed.map((r) => r.status),
      ['rejected', 'rejected'],
    );
    fh = await open(join(dir, 'g'), 'r+');
    try {
      await q.write(0, Buffer.from('ok'));
      assert.equal(await readFile(join(dir, 'g'), 'utf8'), 'ok');
    } finally {
      await fh.close();
    }
  });
});
