import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { FsError } from '../../src/core/fs-error.ts';
import type { NodeId } from '../../src/core/ids.ts';
import { createSource as createAnySource } from '../../src/sources/registry.ts';
import { createSource } from '../../src/sources/s3/s3-source.ts';
import type { Invalidation, Source } from '../../src/sources/source.ts';
import { expectErr, names, readFile, writeFile } from '../conformance/helpers.ts';
import { startS3rver, type S3rverHandle } from '../helpers/s3rver.ts';

const MiB = 1024 * 1024;

/** Wait for `cond`, failing after 10 s (a liveness bound, not a speed assertion). */
async function until(cond: () => boolean, what: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`not seen within 10 s; ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('s3 source (s3rver)', () => {
  let s3: S3rverHandle;
  let client: S3Client;
  const spool = mkdtempSync(join(tmpdir(), 'tessera-s3-src-'));
  const opened: Source[] = [];
  let seq = 0;

  before(async () => {
    s3 = await startS3rver();
    client = s3.client();
  });
  after(async () => {
    for (const s of opened) await s.close();
    await s3.stop();
    rmSync(spool, { recursive: true, force: true });
  });

  async function openSource(
    prefix: string,
    opts: { options?: Record<string, unknown>; ro?: boolean; bucket?: string } = {},
  ): Promise<Source> {
    const src = createSource({
      kind: 's3',
      name: 'cloud',
      exportIndex: 4,
      path: `s3://${opts.bucket ?? s3.bucket}/${prefix}`,
      ro: opts.ro ?? false,
      options: s3.sourceOptions({ spool_dir: spool, ...opts.options }),
    });
    await src.open();
    opened.push(src);
    return src;
  }

  const freshPrefix = () => `u${++seq}/`;
  const put = (key: string, body: string | Buffer, meta?: Record<string, string>) =>
    client.send(
      new PutObjectCommand({
        Bucket: s3.bucket,
        Key: key,
        Body: Buffer.from(body),
        ContentLength: Buffer.byteLength(body),
        Metadata: meta,
      }),
    );
  const head = (key: string) =>
    client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: key })).then(
      (r) => r,
      () => undefined,
    );
  const keys = async (prefix: string) =>
    ((await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix }))).Contents ?? [])
      .map((o) => o.Key!)
      .sort();
  const lookupPath = async (src: Source, path: string): Promise<NodeId> => {
    let id = (await src.listExports())[0]!.root;
    for (const part of path.split('/')) id = (await src.lookup({ parent: id, name: part })).id;
    return id;
  };

  it('is built by the registry and describes itself', async () => {
    const src = await createAnySource({
      kind: 's3',
      name: 'reg',
      exportIndex: 2,
      path: `s3://${s3.bucket}/reg`,
      ro: true,
      options: s3.sourceOptions({ spool_dir: spool }),
    });
    await src.open();
    opened.push(src);
    const [exp] = await src.listExports();
    assert.equal(exp?.source_kind, 's3');
    assert.equal(exp?.ro, true);
    assert.equal(exp?.caps.writable, false);
    assert.equal(exp?.caps.persistent_ids, true);
    assert.equal(exp?.caps.atomic_write, true);
    assert.equal(exp?.caps.max_file_size, 5 * 1024 ** 4);
    await expectErr(
      'EINVAL',
      createAnySource({
        kind: 's3',
        name: 'x',
        exportIndex: 1,
        path: 's3://b/x',
        ro: false,
        options: { nope: 1 },
      }),
    );
  });

  it('shows keys written by other S3 clients as a tree, with implied directories', async () => {
    const p = freshPrefix();
    // (s3rver reports common prefixes only one level below the listed prefix, so implied
    // directories here are at most one level deeper than the listing; S3 has no such limit.)
    await put(`${p}a/c.txt`, 'shallow');
    await put(`${p}a/b/d.txt`, 'deep');
    await put(`${p}top.txt`, 'top');
    await put(`${p}empty/`, '');
    const src = await openSource(p);
    const root = (await src.listExports())[0]!.root;
    assert.deepEqual(await names(src, root), ['a', 'empty', 'top.txt']);
    const a = await src.lookup({ parent: root, name: 'a' });
    assert.equal(a.attr.kind, 'dir');
    assert.equal(a.attr.mode, 0o755);
    assert.deepEqual(await names(src, a.id), ['b', 'c.txt']);
    const d = await lookupPath(src, 'a/b/d.txt');
    assert.equal((await readFile(src, d)).toString(), 'deep');
    assert.deepEqual(await names(src, await lookupPath(src, 'empty')), []);
    await expectErr('ENOTEMPTY', src.rmdir({ parent: root, name: 'a' }));
    await expectErr('ENOTDIR', src.rmdir({ parent: root, name: 'top.txt' }));
    // Removing the last file of an implied directory keeps the directory.
    await src.unlink({ parent: await lookupPath(src, 'a/b'), name: 'd.txt' });
    assert.deepEqual(await names(src, await lookupPath(src, 'a/b')), []);
    assert.ok(await head(`${p}a/b/`), 'a marker now holds the directory');
  });

  it('tells file a from directory a/, and shows the directory when both exist', async () => {
    const p = freshPrefix();
    await put(`${p}both`, 'file');
    await put(`${p}both/inner`, 'dir content');
    await put(`${p}justfile`, 'x');
    const src = await openSource(p);
    const root = (await src.listExports())[0]!.root;
    const entries = (await src.readdirp({ dir: root, cookie: '', max: 100 })).entries;
    assert.deepEqual(entries.map((e) => [e.name, e.attr.kind]).sort(), [
      ['both', 'dir'],
      ['justfile', 'file'],
    ]);
    const both = await src.lookup({ parent: root, name: 'both' });
    assert.equal(both.attr.kind, 'dir');
    const file = await src.lookup({ parent: root, name: 'justfile' });
    assert.notEqual(both.id, file.id);
    await expectErr('EEXIST', src.mkdir({ parent: root, name: 'justfile', mode: 0o755 }));
    await expectErr('EISDIR', src.create({ parent: root, name: 'both', mode: 0o644 }));
    await expectErr('EEXIST', src.create({ parent: root, name: 'both', mode: 0o644, exclusive: true }));
  });

  it('keeps mode, uid, gid and mtime in user metadata, readable by rclone-style tools', async () => {
    const p = freshPrefix();
    await put(`${p}from-rclone`, 'r', { mtime: '1500000000.25', mode: '0100640', uid: '1234', gid: '4321' });
    const src = await openSource(p);
    const root = (await src.listExports())[0]!.root;
    const r = await src.lookup({ parent: root, name: 'from-rclone' });
    assert.equal(r.attr.mode, 0o640);
    assert.equal(r.attr.uid, 1234);
    assert.equal(r.attr.gid, 4321);
    assert.equal(r.attr.mtimeNs, 1_500_000_000_250_000_000n);
    const f = await writeFile(src, root, 'mine', 'data');
    await src.setattr({ id: f.id, mode: 0o600, uid: 7, gid: 8, mtimeNs: 1_600_000_000_000_000_001n });
    const h = await head(`${p}mine`);
    assert.deepEqual(h?.Metadata, { mode: '0100600', uid: '7', gid: '8', mtime: '1600000000.000000001' });
    const listed = (await src.readdirp({ dir: root, cookie: '', max: 10 })).entries.find(
      (e) => e.name === 'mine',
    );
    assert.equal(listed?.attr.mode, 0o600, 'readdirp sees the new metadata');
    const d = await src.mkdir({ parent: root, name: 'dir', mode: 0o700 });
    assert.equal((await src.getattr({ id: d.id })).mode, 0o700);
    assert.equal((await src.setattr({ id: d.id, mode: 0o750 })).mode, 0o750);
    assert.equal((await src.getattr({ id: d.id })).mode, 0o750);
    // New content drops the stored mtime: the upload's LastModified is the mtime again.
    const w = await src.openFile({ id: f.id, flags: { read: false, write: true, truncate: true } });
    await src.write({ handle: w.handle, offset: 0, data: Buffer.from('new') });
    await src.closeFile({ handle: w.handle });
    const after = await src.getattr({ id: f.id });
    assert.equal(after.mode, 0o600, 'mode survives a rewrite');
    assert.ok(after.mtimeNs > 1_600_000_000_000_000_001n);
  });

  it('renames files keeping content and mtime, and whole directories key by key', async () => {
    const p = freshPrefix();
    const src = await openSource(p);
    const root = (await src.listExports())[0]!.root;
    const f = await writeFile(src, root, 'f', 'payload');
    const before = await src.getattr({ id: f.id });
    await src.rename({ parent: root, name: 'f', newParent: root, newName: 'g' });
    const g = await src.lookup({ parent: root, name: 'g' });
    assert.equal(g.attr.mtimeNs, before.mtimeNs);
    await expectErr('ESTALE', src.getattr({ id: f.id }), 'the old key is gone:');
    const d = await src.mkdir({ parent: root, name: 'd', mode: 0o755 });
    const sub = await src.mkdir({ parent: d.id, name: 'sub', mode: 0o755 });
    await writeFile(src, sub.id, 'x', 'xx');
    await writeFile(src, d.id, 'y', 'yy');
    await src.rename({ parent: root, name: 'd', newParent: root, newName: 'moved' });
    assert.deepEqual(await keys(p), [
      `${p}g`,
      `${p}moved/`,
      `${p}moved/sub/`,
      `${p}moved/sub/x`,
      `${p}moved/y`,
    ]);
    assert.equal((await readFile(src, await lookupPath(src, 'moved/sub/x'))).toString(), 'xx');
    await writeFile(src, root, 'other', 'o');
    await expectErr(
      'EEXIST',
      src.rename({ parent: root, name: 'other', newParent: root, newName: 'g', noreplace: true }),
    );
    await src.rename({ parent: root, name: 'other', newParent: root, newName: 'g' });
    assert.equal((await readFile(src, (await src.lookup({ parent: root, name: 'g' })).id)).toString(), 'o');
  });

  it('gives the same ids after a restart, resolving ids it has not seen by listing', async () => {
    const p = freshPrefix();
    const one = await openSource(p);
    const root = (await one.listExports())[0]!.root;
    const d = await one.mkdir({ parent: root, name: 'd', mode: 0o755 });
    const f = await writeFile(one, d.id, 'f', 'kept');
    await one.close();
    const two = await openSource(p);
    assert.equal((await two.getattr({ id: f.id })).size, 4, 'unknown id resolved');
    assert.equal((await two.lookup({ parent: root, name: 'd' })).id, d.id);
    const three = await openSource(p, { options: { id_scan_limit: 0 } });
    await expectErr('ESTALE', three.getattr({ id: f.id }), 'with id scans off:');
    assert.equal((await three.lookup({ parent: root, name: 'd' })).id, d.id, 'lookup needs no scan');
  });

  it('exclusive create fails at close when another client made the key meanwhile', async () => {
    const p = freshPrefix();
    const src = await openSource(p);
    const root = (await src.listExports())[0]!.root;
    const c = await src.create({ parent: root, name: 'race', mode: 0o644, exclusive: true });
    await src.write({ handle: c.handle, offset: 0, data: Buffer.from('mine') });
    await put(`${p}race`, 'theirs');
    await expectErr('EEXIST', src.closeFile({ handle: c.handle }));
    const body = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: `${p}race` }));
    assert.equal(await body.Body!.transformToString(), 'theirs');
    await expectErr('EBADF', src.closeFile({ handle: c.handle }), 'the handle is released:');
  });

  it('uploads a big file as a multipart upload and reads it back', async () => {
    const p = freshPrefix();
    const src = await openSource(p, { options: { part_size: '5MiB', upload_concurrency: 2 } });
    const root = (await src.listExports())[0]!.root;
    const data = randomBytes(11 * MiB + 5);
    const f = await writeFile(src, root, 'big', data, 3 * MiB);
    assert.equal(f.attr.size, data.length);
    const body = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: `${p}big` }));
    assert.equal(sha(await body.Body!.transformToByteArray()), sha(data));
    assert.equal(sha(await readFile(src, f.id, 200_000)), sha(data));
  });

  it('handles names that need escaping in keys and copy sources', async () => {
    const p = freshPrefix();
    const src = await openSource(p);
    const root = (await src.listExports())[0]!.root;
    const weird = ['sp ace', 'q?x', 'h#x', 'p+x', 'pct%20', 'ünï', 'a&b=c'];
    for (const name of weird) await writeFile(src, root, name, `is ${name}`);
    assert.deepEqual(await names(src, root), [...weird].sort());
    for (const name of weird) {
      await src.rename({ parent: root, name, newParent: root, newName: `${name}!` });
      const e = await src.lookup({ parent: root, name: `${name}!` });
      assert.equal((await readFile(src, e.id)).toString(), `is ${name}`);
    }
  });

  it('reads a created file through its id before close; abort discards the private copy', async () => {
    const p = freshPrefix();
    const src = await openSource(p);
    const root = (await src.listExports())[0]!.root;
    const c = await src.create({ parent: root, name: 'pending', mode: 0o644 });
    await src.write({ handle: c.handle, offset: 0, data: Buffer.from('early') });
    assert.equal((await src.getattr({ id: c.id })).size, 5);
    const r = await src.openFile({ id: c.id, flags: { read: true, write: false } });
    assert.equal(
      Buffer.from(await src.read({ handle: r.handle, offset: 0, length: 10 })).toString(),
      'early',
    );
    await src.closeFile({ handle: c.handle });
    assert.equal(Buffer.from(await src.read({ handle: r.handle, offset: 1, length: 10 })).toString(), 'arly');
    await src.closeFile({ handle: r.handle });

    const gone = await src.create({ parent: root, name: 'aborted', mode: 0o644 });
    await src.write({ handle: gone.handle, offset: 0, data: Buffer.from('never') });
    await src.closeFile(Object.assign({ handle: gone.handle }, { abort: true }));
    await expectErr('ENOENT', src.lookup({ parent: root, name: 'aborted' }));
    const w = await src.openFile({ id: c.id, flags: { read: false, write: true, truncate: true } });
    await src.write({ handle: w.handle, offset: 0, data: Buffer.from('replaced') });
    await src.closeFile(Object.assign({ handle: w.handle }, { abort: true }));
    assert.equal((await readFile(src, c.id)).toString(), 'early');
  });

  it('truncates through a write handle, visible to its own reads', async () => {
    const p = freshPrefix();
    const src = await openSource(p);
    const root = (await src.listExports())[0]!.root;
    const f = await writeFile(src, root, 't', '0123456789');
    const w = await src.openFile({ id: f.id, flags: { read: true, write: true } });
    await src.setattr({ id: f.id, handle: w.handle, size: 4 });
    assert.equal(
      Buffer.from(await src.read({ handle: w.handle, offset: 0, length: 100 })).toString(),
      '0123',
    );
    assert.equal((await src.getattr({ id: f.id })).size, 10, 'others see the old object until close');
    await src.closeFile({ handle: w.handle });
    assert.equal((await readFile(src, f.id)).toString(), '0123');
  });

  it('exports a whole bucket (no prefix)', async () => {
    await client.send(new CreateBucketCommand({ Bucket: 'whole-bucket' }));
    const src = await openSource('', { bucket: 'whole-bucket' });
    const root = (await src.listExports())[0]!.root;
    const d = await src.mkdir({ parent: root, name: 'top', mode: 0o755 });
    await writeFile(src, d.id, 'f', 'x');
    assert.deepEqual(await names(src, root), ['top']);
    assert.equal(
      (await src.setattr({ id: root, mode: 0o700 })).kind,
      'dir',
      'root attributes stay synthetic',
    );
    assert.equal((await src.statfs({ id: root })).namemax, 255);
  });

  it('maps a missing bucket, a bad key id and an unreachable endpoint to clear errors', async () => {
    const missing = createSource({
      kind: 's3',
      name: 'nb',
      exportIndex: 1,
      path: 's3://no-such-bucket/x',
      ro: false,
      options: s3.sourceOptions({ spool_dir: spool }),
    });
    const e1 = await expectErr('ENOENT', missing.open());
    assert.match(e1.message, /no-such-bucket/);

    process.env.TESSERA_TEST_BAD_KEY = 'NOT-A-KEY';
    const badKey = createSource({
      kind: 's3',
      name: 'bk',
      exportIndex: 1,
      path: `s3://${s3.bucket}/x`,
      ro: false,
      options: s3.sourceOptions({ spool_dir: spool, access_key_id_env: 'TESSERA_TEST_BAD_KEY' }),
    });
    const e2 = await expectErr('EKEYREJECTED', badKey.open());
    assert.match(e2.message, /access key id/);

    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const down = createSource({
      kind: 's3',
      name: 'down',
      exportIndex: 1,
      path: `s3://${s3.bucket}/x`,
      ro: false,
      options: s3.sourceOptions({ spool_dir: spool, endpoint: `http://127.0.0.1:${port}`, max_attempts: 1 }),
    });
    const e3 = await expectErr('ECONNREFUSED', down.open());
    assert.equal(e3.retryable, true);
    assert.match(e3.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
  });

  it('watch reports a file changed by another client as data of its id, and new names as entries', async () => {
    const p = freshPrefix();
    const src = await openSource(p, { options: { scan_interval_ms: 100 } });
    const root = (await src.listExports())[0]!.root;
    const d = await src.mkdir({ parent: root, name: 'd', mode: 0o755 });
    const f = await writeFile(src, d.id, 'f', 'one');
    await src.readdirp({ dir: d.id, cookie: '', max: 10 });
    const events: Invalidation[] = [];
    const stop = src.watch((ev) => events.push(ev));
    try {
      await put(`${p}d/f`, 'two, longer');
      await put(`${p}d/g`, 'new');
      await until(
        () =>
          events.some((e) => e.kind === 'data' && e.id === f.id) &&
          events.some((e) => e.kind === 'entry' && e.parent === d.id && e.name === 'g'),
        () =>
          `events so far: ${JSON.stringify(events, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`,
      );
    } finally {
      stop();
    }
  });

  it('answers ESTALE for ids of another export and EROFS when read-only', async () => {
    const p = freshPrefix();
    const rw = await openSource(p);
    const root = (await rw.listExports())[0]!.root;
    await writeFile(rw, root, 'f', 'x');
    const ro = await openSource(p, { ro: true });
    await expectErr('EROFS', ro.create({ parent: root, name: 'n', mode: 0o644 }));
    await expectErr('ESTALE', rw.getattr({ id: (9n << 48n) | 12345n }));
    assert.ok(FsError.is(await rw.lookup({ parent: root, name: 'nope' }).catch((e: unknown) => e), 'ENOENT'));
  });
});
