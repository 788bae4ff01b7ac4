import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { FsError } from '../../src/core/fs-error.ts';
import { S3Bucket } from '../../src/sources/s3/s3-bucket.ts';
import { partSizeFor } from '../../src/sources/s3/s3-multipart.ts';
import { RangeReader } from '../../src/sources/s3/s3-range-reader.ts';
import { startS3rver, type S3rverHandle } from '../helpers/s3rver.ts';

const MiB = 1024 * 1024;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('s3 bucket requests (s3rver)', () => {
  let s3: S3rverHandle;
  let client: S3Client;
  let bucket: S3Bucket;
  const commands: string[] = [];
  const spool = mkdtempSync(join(tmpdir(), 'tessera-s3-bucket-'));

  before(async () => {
    s3 = await startS3rver();
    client = s3.client();
    // Record which S3 operations the adapter sends (the requests still go to the server).
    client.middlewareStack.add(
      (next, context) => (args) => {
        commands.push(context.commandName ?? '?');
        return next(args);
      },
      { step: 'initialize', name: 'recordCommands' },
    );
    bucket = new S3Bucket({
      client,
      bucket: s3.bucket,
      endpoint: s3.endpoint,
      partSize: 5 * MiB,
      uploadConcurrency: 3,
      spoolDir: spool,
    });
  });
  after(async () => {
    await s3.stop();
    rmSync(spool, { recursive: true, force: true });
  });

  async function uploadBytes(key: string, data: Buffer, meta: Record<string, string> = {}) {
    const path = join(spool, `up-${key.replace(/\W/g, '_')}`);
    const fh = await open(path, 'w+');
    try {
      await fh.write(data, 0, data.length, 0);
      return await bucket.upload({ key, fh, size: data.length, meta, headers: {} });
    } finally {
      await fh.close();
    }
  }

  async function getAll(key: string): Promise<Buffer> {
    const r = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
    return Buffer.from(await r.Body!.transformToByteArray());
  }

  it('uploads below the part size with one PutObject', async () => {
    commands.length = 0;
    const data = randomBytes(1000);
    await uploadBytes('small.bin', data);
    assert.deepEqual(commands, ['PutObjectCommand']);
    assert.equal(sha(await getAll('small.bin')), sha(data));
  });

  it('uploads from the part size on as a multipart upload, parts intact and in order', async () => {
    commands.length = 0;
    const data = randomBytes(11 * MiB + 7);
    await uploadBytes('big.bin', data, { mode: '0100600' });
    assert.equal(commands[0], 'CreateMultipartUploadCommand');
    assert.equal(commands.filter((c) => c === 'UploadPartCommand').length, 3);
    assert.equal(commands.at(-1), 'CompleteMultipartUploadCommand');
    assert.equal(sha(await getAll('big.bin')), sha(data));
    assert.equal((await bucket.head('big.bin'))?.meta.mode, '0100600');
  });

  it('grows the part size to stay within 10,000 parts', () => {
    assert.equal(partSizeFor(100 * MiB, 8 * MiB), 8 * MiB);
    const size = 5 * 1024 ** 4;
    const part = partSizeFor(size, 8 * MiB);
    assert.ok(Math.ceil(size / part) <= 10_000);
    assert.equal(part % MiB, 0);
  });

  it('copies keys with characters that need escaping (falling back to download+upload when the server cannot)', async () => {
    for (const name of ['sp ace', 'q?x', 'h#x', 'p+x', 'pct%20', 'ünï', 'a&b=c']) {
      const data = Buffer.from(`content of ${name}`);
      await uploadBytes(`src/${name}`, data);
      const info = await bucket.head(`src/${name}`);
      assert.ok(info, name);
      await bucket.copy(info, `dst/${name}`, { tag: 'copied' });
      assert.deepEqual(await getAll(`dst/${name}`), data, name);
      assert.equal((await bucket.head(`dst/${name}`))?.meta.tag, 'copied');
    }
  });

  it('reads ranges, sequentially across windows and at random', async () => {
    const data = randomBytes(3 * MiB + 333);
    await client.send(
      new PutObjectCommand({ Bucket: s3.bucket, Key: 'ranged.bin', Body: data, ContentLength: data.length }),
    );
    const reader = new RangeReader(bucket, 'ranged.bin');
    const parts: Uint8Array[] = [];
    for (let off = 0; ;) {
      const part = await reader.read(off, 100_000);
      if (part.byteLength === 0) break;
      parts.push(part);
      off += part.byteLength;
    }
    assert.equal(sha(Buffer.concat(parts)), sha(data));
    for (const [off, len] of [
      [0, 10],
      [2 * MiB - 5, 10],
      [data.length - 3, 100],
      [1234567, 1 * MiB + 9],
    ] as const) {
      assert.deepEqual(Buffer.from(await reader.read(off, len)), data.subarray(off, off + len));
    }
    assert.equal((await reader.read(data.length + 1, 10)).byteLength, 0);
    // Parallel reads on one handle (as FUSE issues them) each get their own bytes.
    const chunk = 128 * 1024;
    const offsets = Array.from({ length: Math.ceil(data.length / chunk) }, (_, i) => i * chunk);
    const got = await Promise.all(offsets.map((off) => reader.read(off, chunk)));
    offsets.forEach((off, i) =>
      assert.deepEqual(Buffer.from(got[i]!), data.subarray(off, off + chunk), `at ${off}`),
    );
    reader.close();
  });

  it('deletes many keys and maps a missing bucket to ENOENT naming it', async () => {
    await bucket.deleteMany(['small.bin', 'big.bin', 'not-there']);
    assert.equal(await bucket.head('small.bin'), undefined);
    const missing = new S3Bucket({
      client,
      bucket: 'no-such-bucket',
      partSize: 5 * MiB,
      uploadConcurrency: 1,
      spoolDir: spool,
    });
    await assert.rejects(missing.listPage(''), (err: unknown) => {
      assert.ok(FsError.is(err, 'ENOENT'));
      assert.match(err.message, /no-such-bucket/);
      return true;
    });
  });
});
