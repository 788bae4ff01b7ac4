import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { exportIndexOf } from '../../src/core/ids.ts';
import { expectErr, listAll, names, pool, readFile, writeFile } from './helpers.ts';
import type { Ctx } from './suite.ts';

const CAP_KEYS = [
  'native_watch',
  'case_sensitive',
  'symlink',
  'xattr',
  'lock',
  'hardlink',
  'max_file_size',
  'writable',
  'posix_attrs',
  'atomic_write',
  'persistent_ids',
] as const;

/** What every Source must say about itself, writable or not. */
export function exportCases(ctx: Ctx): void {
  ctx.test('exports carry name, root id, source metadata and every cap', async () => {
    const exports = await ctx.src.listExports();
    assert.ok(exports.length >= 1);
    for (const e of exports) {
      assert.ok(e.name.length > 0 && !e.name.includes('\0'), `bad export name '${e.name}'`);
      assert.equal(e.root & 0xffff_ffff_ffffn, 1n, `root of ${e.name} is (k << 48) | 1`);
      assert.equal(typeof e.source_kind, 'string');
      assert.ok(e.source_id.length > 0);
      for (const key of CAP_KEYS) assert.ok(key in e.caps, `caps.${key} missing on ${e.name}`);
      assert.equal(e.caps.writable, !e.ro && e.caps.writable);
    }
    assert.equal((await ctx.src.getattr({ id: ctx.root })).kind, 'dir');
  });

  ctx.test('supportsOperation agrees with caps', async () => {
    const gated = {
      symlink: ['symlink', 'readlink'],
      hardlink: ['link'],
      xattr: ['getxattr', 'setxattr', 'listxattr', 'removexattr'],
      lock: ['lock'],
    } as const;
    for (const [cap, ops] of Object.entries(gated) as [keyof typeof gated, readonly string[]][]) {
      for (const op of ops) {
        if (!ctx.caps[cap])
          assert.equal(
            ctx.src.supportsOperation(op as never),
            false,
            `${op} supported but caps.${cap} is false`,
          );
      }
    }
    for (const op of [
      'lookup',
      'getattr',
      'readdirp',
      'openFile',
      'read',
      'closeFile',
      'statfs',
      'listExports',
    ] as const) {
      assert.ok(ctx.src.supportsOperation(op), `${op} must be supported by every Source`);
    }
  });

  ctx.test('statfs answers sensible figures', async () => {
    const s = await ctx.src.statfs({ id: ctx.root });
    assert.ok(s.bsize > 0);
    assert.ok(s.blocks >= s.bfree && s.bfree >= s.bavail && s.bavail >= 0, JSON.stringify(s));
    assert.ok(s.namemax >= 255);
  });
}

/** Everyday operations and their results. */
export function basicCases(ctx: Ctx): void {
  exportCases(ctx);

  ctx.test('mkdir, lookup, getattr, readdirp agree', async () => {
    const dir = await ctx.fresh();
    const sub = await ctx.src.mkdir({ parent: dir, name: 'sub', mode: 0o755 });
    assert.equal(sub.attr.kind, 'dir');
    assert.equal(exportIndexOf(sub.id), exportIndexOf(ctx.root));
    const file = await writeFile(ctx.src, dir, 'f.txt', 'hello');
    const looked = await ctx.src.lookup({ parent: dir, name: 'sub' });
    assert.equal(looked.id, sub.id);
    const lf = await ctx.src.lookup({ parent: dir, name: 'f.txt' });
    assert.equal(lf.id, file.id);
    assert.equal(lf.attr.kind, 'file');
    assert.equal(lf.attr.size, 5);
    const entries = await listAll(ctx.src, dir);
    assert.deepEqual(entries.map((e) => e.name).sort(), ['f.txt', 'sub']);
    for (const e of entries) {
      const attr = await ctx.src.getattr({ id: e.id });
      assert.equal(e.attr.kind, attr.kind);
      assert.equal(e.attr.size, attr.size);
    }
  });

  ctx.test('write then read back, at offsets and past the end', async () => {
    const dir = await ctx.fresh();
    const data = randomBytes(300_000);
    const f = await writeFile(ctx.src, dir, 'data.bin', data, 65536);
    assert.equal(f.attr.size, data.length);
    assert.deepEqual(await readFile(ctx.src, f.id, 100_000), data);
    const { handle } = await ctx.src.openFile({ id: f.id, flags: { read: true, write: false } });
    assert.deepEqual(
      Buffer.from(await ctx.src.read({ handle, offset: 1000, length: 10 })),
      data.subarray(1000, 1010),
    );
    assert.deepEqual(
      Buffer.from(await ctx.src.read({ handle, offset: data.length - 3, length: 100 })),
      data.subarray(data.length - 3),
    );
    assert.equal((await ctx.src.read({ handle, offset: data.length + 10, length: 10 })).byteLength, 0);
    await ctx.src.closeFile({ handle });
    const empty = await writeFile(ctx.src, dir, 'empty', '');
    assert.equal(empty.attr.size, 0);
    assert.equal((await readFile(ctx.src, empty.id)).length, 0);
  });

  ctx.test('a large file written in chunks reads back identical', async () => {
    const dir = await ctx.fresh();
    const data = randomBytes(12 * 1024 * 1024 + 12345);
    const f = await writeFile(ctx.src, dir, 'big.bin', data);
    assert.equal(f.attr.size, data.length);
    const back = await readFile(ctx.src, f.id, 1 << 20);
    assert.equal(
      createHash('sha256').update(back).digest('hex'),
      createHash('sha256').update(data).digest('hex'),
    );
  });

  ctx.test('many requests in flight on different files', async () => {
    const dir = await ctx.fresh();
    const files = Array.from({ length: 24 }, (_, i) => ({ name: `c${i}`, data: randomBytes(10_000 + i) }));
    await pool(files, 12, async (f) => {
      await writeFile(ctx.src, dir, f.name, f.data);
    });
    await pool(files, 12, async (f) => {
      const { id } = await ctx.src.lookup({ parent: dir, name: f.name });
      assert.deepEqual(await readFile(ctx.src, id), f.data);
    });
  });

  ctx.test('a file written through a handle appears whole at close', async (t) => {
    if (!ctx.need(t, ctx.caps.atomic_write, 'caps.atomic_write is false')) return;
    const dir = await ctx.fresh();
    const created = await ctx.src.create({ parent: dir, name: 'new.txt', mode: 0o644 });
    await ctx.src.write({ handle: created.handle, offset: 0, data: Buffer.from('half') });
    await expectErr('ENOENT', ctx.src.lookup({ parent: dir, name: 'new.txt' }), 'lookup before close:');
    assert.deepEqual(await names(ctx.src, dir), [], 'a half-written file must not be listed');
    await ctx.src.write({ handle: created.handle, offset: 4, data: Buffer.from('-and-whole') });
    await ctx.src.closeFile({ handle: created.handle });
    const e = await ctx.src.lookup({ parent: dir, name: 'new.txt' });
    assert.equal((await readFile(ctx.src, e.id)).toString(), 'half-and-whole');

    // Overwriting: readers keep seeing the old content until the writer closes.
    const w = await ctx.src.openFile({ id: e.id, flags: { read: false, write: true, truncate: true } });
    await ctx.src.write({ handle: w.handle, offset: 0, data: Buffer.from('NEW') });
    assert.equal((await readFile(ctx.src, e.id)).toString(), 'half-and-whole');
    await ctx.src.closeFile({ handle: w.handle });
    const after = await ctx.src.lookup({ parent: dir, name: 'new.txt' });
    assert.equal((await readFile(ctx.src, after.id)).toString(), 'NEW');
  });

  ctx.test('closeFile with abort discards what the handle wrote', async (t) => {
    if (!ctx.need(t, ctx.caps.atomic_write, 'caps.atomic_write is false')) return;
    const dir = await ctx.fresh();
    const created = await ctx.src.create({ parent: dir, name: 'never.txt', mode: 0o644 });
    await ctx.src.write({ handle: created.handle, offset: 0, data: Buffer.from('abandoned') });
    await ctx.src.closeFile({ handle: created.handle, abort: true });
    await expectErr('ENOENT', ctx.src.lookup({ parent: dir, name: 'never.txt' }), 'aborted create:');
    const f = await writeFile(ctx.src, dir, 'kept.txt', 'original');
    const w = await ctx.src.openFile({ id: f.id, flags: { read: false, write: true, truncate: true } });
    await ctx.src.write({ handle: w.handle, offset: 0, data: Buffer.from('replacement') });
    await ctx.src.closeFile({ handle: w.handle, abort: true });
    const after = await ctx.src.lookup({ parent: dir, name: 'kept.txt' });
    assert.equal((await readFile(ctx.src, after.id)).toString(), 'original');
    assert.deepEqual(await names(ctx.src, dir), ['kept.txt']);
  });

  ctx.test('exclusive create refuses an existing name and never clobbers', async () => {
    const dir = await ctx.fresh();
    await writeFile(ctx.src, dir, 'x', 'first');
    await expectErr('EEXIST', ctx.src.create({ parent: dir, name: 'x', mode: 0o644, exclusive: true }));
    const a = await ctx.src.create({ parent: dir, name: 'y', mode: 0o644, exclusive: true });
    const b: { handle: number } | Error = await ctx.src
      .create({ parent: dir, name: 'y', mode: 0o644, exclusive: true })
      .catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));
    await ctx.src.write({ handle: a.handle, offset: 0, data: Buffer.from('A') });
    await ctx.src.closeFile({ handle: a.handle });
    if (!(b instanceof Error)) {
      // Both creates were admitted (atomic visibility): the second close must lose.
      await ctx.src.write({ handle: b.handle, offset: 0, data: Buffer.from('B') });
      await expectErr('EEXIST', ctx.src.closeFile({ handle: b.handle }), 'second exclusive close:');
    }
    const y = await ctx.src.lookup({ parent: dir, name: 'y' });
    assert.equal((await readFile(ctx.src, y.id)).toString(), 'A');
  });

  ctx.test('open for write without truncate keeps the rest; append writes at the end', async () => {
    const dir = await ctx.fresh();
    const f = await writeFile(ctx.src, dir, 'f', '0123456789');
    const w = await ctx.src.openFile({ id: f.id, flags: { read: true, write: true } });
    await ctx.src.write({ handle: w.handle, offset: 3, data: Buffer.from('abc') });
    assert.equal(
      Buffer.from(await ctx.src.read({ handle: w.handle, offset: 0, length: 100 })).toString(),
      '012abc6789',
    );
    await ctx.src.closeFile({ handle: w.handle });
    assert.equal((await readFile(ctx.src, f.id)).toString(), '012abc6789');
    const ap = await ctx.src.openFile({ id: f.id, flags: { read: false, write: true, append: true } });
    await ctx.src.write({ handle: ap.handle, offset: 0, data: Buffer.from('XY') });
    await ctx.src.closeFile({ handle: ap.handle });
    assert.equal((await readFile(ctx.src, f.id)).toString(), '012abc6789XY');
  });

  ctx.test('setattr truncates, extends with zeros, sets mode and times', async () => {
    const dir = await ctx.fresh();
    const f = await writeFile(ctx.src, dir, 'f', 'abcdefgh');
    assert.equal((await ctx.src.setattr({ id: f.id, size: 3 })).size, 3);
    assert.equal((await readFile(ctx.src, f.id)).toString(), 'abc');
    assert.equal((await ctx.src.setattr({ id: f.id, size: 6 })).size, 6);
    assert.deepEqual(await readFile(ctx.src, f.id), Buffer.from('abc\0\0\0'));
    const mtimeNs = 1_600_000_000_000_000_000n;
    const attr = await ctx.src.setattr({ id: f.id, mode: 0o600, mtimeNs });
    assert.equal(attr.mode, 0o600);
    assert.equal(attr.mtimeNs, mtimeNs);
    const again = await ctx.src.getattr({ id: f.id });
    assert.equal(again.mode, 0o600);
    assert.equal(again.mtimeNs, mtimeNs);
    assert.equal(again.size, 6);
  });

  ctx.test('unlink and rmdir remove; rename moves and replaces', async () => {
    const dir = await ctx.fresh();
    const a = await ctx.src.mkdir({ parent: dir, name: 'a', mode: 0o755 });
    const b = await ctx.src.mkdir({ parent: dir, name: 'b', mode: 0o755 });
    await writeFile(ctx.src, a.id, 'f', 'one');
    await writeFile(ctx.src, b.id, 'g', 'two');
    await ctx.src.rename({ parent: a.id, name: 'f', newParent: b.id, newName: 'f2' });
    await expectErr('ENOENT', ctx.src.lookup({ parent: a.id, name: 'f' }));
    const f2 = await ctx.src.lookup({ parent: b.id, name: 'f2' });
    assert.equal((await readFile(ctx.src, f2.id)).toString(), 'one');
    await ctx.src.rename({ parent: b.id, name: 'f2', newParent: b.id, newName: 'g' });
    assert.deepEqual(await names(ctx.src, b.id), ['g']);
    const g = await ctx.src.lookup({ parent: b.id, name: 'g' });
    assert.equal((await readFile(ctx.src, g.id)).toString(), 'one');
    await ctx.src.rename({ parent: dir, name: 'b', newParent: a.id, newName: 'b-moved' });
    const moved = await ctx.src.lookup({ parent: a.id, name: 'b-moved' });
    assert.deepEqual(await names(ctx.src, moved.id), ['g']);
    await ctx.src.unlink({ parent: moved.id, name: 'g' });
    await ctx.src.rmdir({ parent: a.id, name: 'b-moved' });
    assert.deepEqual(await names(ctx.src, a.id), []);
  });
}
