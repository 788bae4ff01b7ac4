import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { expectErr, readFile, writeFile } from './helpers.ts';
import type { Ctx } from './suite.ts';

/** `closeFile` with `write`: the handle's last bytes travel with its close. */
export function closeWriteCases(ctx: Ctx): void {
  ctx.test(
    'closeFile with write writes the bytes, then closes (at an offset past other writes)',
    async () => {
      const dir = await ctx.fresh();
      const a = await ctx.src.create({ parent: dir, name: 'a', mode: 0o644 });
      await ctx.src.closeFile({ handle: a.handle, write: { offset: 0, data: Buffer.from('hello') } });
      const fa = await ctx.src.lookup({ parent: dir, name: 'a' });
      assert.equal((await readFile(ctx.src, fa.id)).toString(), 'hello');

      const b = await ctx.src.create({ parent: dir, name: 'b', mode: 0o644 });
      await ctx.src.write({ handle: b.handle, offset: 0, data: Buffer.from('abc') });
      await ctx.src.closeFile({ handle: b.handle, write: { offset: 3, data: Buffer.from('def') } });
      const fb = await ctx.src.lookup({ parent: dir, name: 'b' });
      assert.equal((await readFile(ctx.src, fb.id)).toString(), 'abcdef');

      // More than one wire request's worth, into an existing file.
      const big = randomBytes(1536 * 1024);
      const w = await ctx.src.openFile({ id: fb.id, flags: { read: false, write: true, truncate: true } });
      await ctx.src.closeFile({ handle: w.handle, write: { offset: 0, data: big } });
      assert.deepEqual(await readFile(ctx.src, fb.id), big);
    },
  );

  ctx.test('a failing write of closeFile leaves the handle open and publishes nothing', async (t) => {
    const dir = await ctx.fresh();
    const f = await writeFile(ctx.src, dir, 'f', 'original');
    const r = await ctx.src.openFile({ id: f.id, flags: { read: true, write: false } });
    const bad = { offset: 0, data: Buffer.from('NOPE') };
    await expectErr('EBADF', ctx.src.closeFile({ handle: r.handle, write: bad }), 'read-only handle:');
    assert.equal(
      Buffer.from(await ctx.src.read({ handle: r.handle, offset: 0, length: 100 })).toString(),
      'original',
      'the handle stays open',
    );
    await ctx.src.closeFile({ handle: r.handle });
    assert.equal((await readFile(ctx.src, f.id)).toString(), 'original');

    if (!ctx.need(t, ctx.caps.atomic_write, 'caps.atomic_write is false')) return;
    const c = await ctx.src.create({ parent: dir, name: 'c', mode: 0o644 });
    await ctx.src.write({ handle: c.handle, offset: 0, data: Buffer.from('kept') });
    const tooFar = { offset: ctx.caps.max_file_size, data: Buffer.from('x') };
    await expectErr('EFBIG', ctx.src.closeFile({ handle: c.handle, write: tooFar }), 'past max_file_size:');
    await expectErr('ENOENT', ctx.src.lookup({ parent: dir, name: 'c' }), 'not published:');
    await ctx.src.closeFile({ handle: c.handle });
    const fc = await ctx.src.lookup({ parent: dir, name: 'c' });
    assert.equal((await readFile(ctx.src, fc.id)).toString(), 'kept');
  });

  ctx.test('closeFile with abort and write is EINVAL and keeps the handle', async () => {
    const dir = await ctx.fresh();
    const c = await ctx.src.create({ parent: dir, name: 'c', mode: 0o644 });
    const write = { offset: 0, data: Buffer.from('x') };
    await expectErr('EINVAL', ctx.src.closeFile({ handle: c.handle, abort: true, write }));
    await ctx.src.closeFile({ handle: c.handle, write });
    const fc = await ctx.src.lookup({ parent: dir, name: 'c' });
    assert.equal((await readFile(ctx.src, fc.id)).toString(), 'x');
  });
}
