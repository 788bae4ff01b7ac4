import assert from 'node:assert/strict';
import { randomFillSync } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LINUX_PLATFORM } from '../../src/sources/local/linux-platform.ts';
import type { DirectWriter } from '../../src/sources/local/local-platform.ts';
import { LocalFd } from '../../src/sources/local/local-fd.ts';
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
    const fh = await LocalFd.open(join(dir, 'f'), 'w+');
    try {
      const q = new WriteQueue({ fh: () => fh });
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
    let fh = await LocalFd.open(join(dir, 'g'), 'w+');
    const q = new WriteQueue({ fh: () => fh });
    await fh.close();
    const failed = await Promise.allSettled([q.write(0, Buffer.from('a')), q.write(1, Buffer.from('b'))]);
    assert.deepEqual(
      failed.map((r) => r.status),
      ['rejected', 'rejected'],
    );
    fh = await LocalFd.open(join(dir, 'g'), 'r+');
    try {
      await q.write(0, Buffer.from('ok'));
      assert.equal(await readFile(join(dir, 'g'), 'utf8'), 'ok');
    } finally {
      await fh.close();
    }
  });

  /** A Node-style system error, as the direct writer rejects with. */
  const sysError = (code: string, syscall: string): NodeJS.ErrnoException =>
    Object.assign(new Error(`${code}: failed, ${syscall}`), { code, syscall });

  /** A direct writer that records its calls and writes the plain way (or refuses). */
  function recordingWriter(
    fh: () => LocalFd,
    refuse?: NodeJS.ErrnoException,
  ): DirectWriter & { calls: number[] } {
    const calls: number[] = [];
    return {
      align: 4096,
      calls,
      async write(fd, parts, offset) {
        assert.equal(fd, fh().fd);
        calls.push(offset);
        if (refuse) throw refuse;
        await fh().writev(parts, offset);
      },
    };
  }

  it('hands a long sequential write to the direct writer from 8 MiB on, in big aligned batches only', async () => {
    const fh = await LocalFd.open(join(dir, 'd'), 'w+');
    try {
      const direct = recordingWriter(() => fh);
      const q = new WriteQueue({ fh: () => fh, direct });
      const MiB = 1 << 20;
      const expected = Buffer.alloc(12 * MiB + 10);
      for (let i = 0; i < expected.length; i++) expected[i] = (i * 31) & 0xff;
      for (let at = 0; at < 12 * MiB; at += MiB) await q.write(at, expected.subarray(at, at + MiB));
      await q.write(12 * MiB, expected.subarray(12 * MiB));
      await q.write(9 * MiB + 1, expected.subarray(9 * MiB + 1, 10 * MiB + 1)); // unaligned: plain
      await q.write(10 * MiB, expected.subarray(10 * MiB, 10 * MiB + 4096)); // small: plain
      assert.deepEqual(
        direct.calls,
        [8, 9, 10, 11].map((m) => m * MiB),
      );
      assert.ok((await readFile(join(dir, 'd'))).equals(expected));
    } finally {
      await fh.close();
    }
  });

  it('writes the plain way, from then on, to a file that refuses direct writes', async () => {
    const fh = await LocalFd.open(join(dir, 'e'), 'w+');
    try {
      const direct = recordingWriter(() => fh, sysError('EINVAL', 'open'));
      const q = new WriteQueue({ fh: () => fh, direct });
      const data = Buffer.alloc(1 << 20, 7);
      for (let m = 0; m < 11; m++) await q.write(m << 20, data);
      assert.deepEqual(direct.calls, [8 << 20], 'asked once');
      assert.equal((await readFile(join(dir, 'e'))).length, 11 << 20);
    } finally {
      await fh.close();
    }
  });

  it('passes on any other failure of a direct write', async () => {
    const fh = await LocalFd.open(join(dir, 'f2'), 'w+');
    try {
      const q = new WriteQueue({
        fh: () => fh,
        direct: recordingWriter(() => fh, sysError('ENOSPC', 'pwrite')),
      });
      await assert.rejects(q.write(8 << 20, Buffer.alloc(1 << 20)), /ENOSPC/);
    } finally {
      await fh.close();
    }
  });

  it(
    "writes pipelined writes of a big file through the platform's direct writer, byte for byte",
    {
      skip: LINUX_PLATFORM.directWrite === undefined ? 'no direct writer on this host' : false,
    },
    async () => {
      const platform = LINUX_PLATFORM.directWrite!;
      const fh = await LocalFd.open(join(dir, 'g2'), 'w+');
      try {
        let calls = 0;
        const direct: DirectWriter = {
          align: platform.align,
          write: (fd, parts, offset) => (calls++, platform.write(fd, parts, offset)),
        };
        const q = new WriteQueue({ fh: () => fh, direct });
        const expected = randomFillSync(Buffer.alloc(20 * (1 << 20) + 777));
        const done: Promise<void>[] = [];
        for (let at = 0; at < expected.length; at += 512 * 1024)
          done.push(q.write(at, Buffer.from(expected.subarray(at, at + 512 * 1024))));
        await Promise.all(done);
        assert.ok(calls > 0, 'the direct writer took part');
        assert.ok((await readFile(join(dir, 'g2'))).equals(expected));
      } finally {
        await fh.close();
      }
    },
  );

  it('settles once every queued write has finished, a failed one too', async () => {
    const fh = await LocalFd.open(join(dir, 's'), 'w+');
    try {
      const q = new WriteQueue({ fh: () => fh });
      await q.settled(); // idle: at once
      const order: string[] = [];
      const writes = [0, 1, 2].map((i) =>
        q.write(i << 20, Buffer.alloc(1 << 20, i)).then(() => order.push(`write ${i}`)),
      );
      await q.settled().then(() => order.push('settled'));
      await Promise.all(writes);
      assert.deepEqual(order, ['write 0', 'write 1', 'write 2', 'settled']);
    } finally {
      await fh.close();
    }
  });
});
