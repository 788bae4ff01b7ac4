import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { exportIndexOf, type NodeId } from '../../src/core/ids.ts';
import type { Invalidation } from '../../src/sources/source.ts';
import { expectErr, listAll, names, readFile, sleep } from './helpers.ts';
import type { Ctx } from './suite.ts';

let seq = 0;

/**
 * The cases for a Source that is read-only by nature (virtual directories, snapshots): its
 * content is made behind its back (`fx.behind`, then `fx.settle`), and it is checked to list,
 * look up, read, page, refuse every mutation, go stale and announce changes like any Source.
 */
export function readOnlyCases(ctx: Ctx): void {
  const behind = () => {
    assert.ok(ctx.fx.behind, 'a read-only Source needs fx.behind to make content');
    return ctx.fx.behind;
  };
  /** A fresh directory made behind the back, with its id as the Source sees it. */
  const freshDir = async (): Promise<{ name: string; id: NodeId }> => {
    const name = `ro${++seq}-${process.pid}`;
    await behind().mkdir(name);
    await behind().writeFile(`${name}/.keep`, '');
    await ctx.fx.settle?.();
    return { name, id: (await ctx.src.lookup({ parent: ctx.root, name })).id };
  };

  ctx.test('the export is read-only and says so', async () => {
    assert.equal(ctx.exp.ro, true);
    assert.equal(ctx.caps.writable, false);
  });

  ctx.test(
    'files made behind the back: lookup, getattr and readdirp agree; reads return the bytes',
    async () => {
      const dir = await freshDir();
      const data = randomBytes(300_000);
      await behind().writeFile(`${dir.name}/data.bin`, data);
      await behind().mkdir(`${dir.name}/sub`);
      await behind().writeFile(`${dir.name}/sub/f.txt`, 'hello');
      await ctx.fx.settle?.();
      assert.deepEqual(await names(ctx.src, dir.id), ['.keep', 'data.bin', 'sub']);
      const f = await ctx.src.lookup({ parent: dir.id, name: 'data.bin' });
      assert.equal(f.attr.kind, 'file');
      assert.equal(f.attr.size, data.length);
      assert.equal(exportIndexOf(f.id), exportIndexOf(ctx.root));
      const sub = await ctx.src.lookup({ parent: dir.id, name: 'sub' });
      assert.equal(sub.attr.kind, 'dir');
      for (const e of await listAll(ctx.src, dir.id)) {
        const attr = await ctx.src.getattr({ id: e.id });
        assert.equal(e.attr.kind, attr.kind, e.name);
        assert.equal(e.attr.size, attr.size, e.name);
      }
      assert.deepEqual(await readFile(ctx.src, f.id, 100_000), data);
      const { handle } = await ctx.src.openFile({ id: f.id, flags: { read: true, write: false } });
      assert.deepEqual(
        Buffer.from(await ctx.src.read({ handle, offset: 1000, length: 10 })),
        data.subarray(1000, 1010),
      );
      assert.equal((await ctx.src.read({ handle, offset: data.length + 10, length: 10 })).byteLength, 0);
      await ctx.src.closeFile({ handle });
      const g = await ctx.src.lookup({ parent: sub.id, name: 'f.txt' });
      assert.equal((await readFile(ctx.src, g.id)).toString(), 'hello');
      await expectErr('ENOENT', ctx.src.lookup({ parent: dir.id, name: 'missing' }));
      await expectErr('ENOTDIR', ctx.src.readdirp({ dir: g.id, cookie: '', max: 10 }));
      await expectErr('EISDIR', ctx.src.openFile({ id: sub.id, flags: { read: true, write: false } }));
    },
  );

  ctx.test('a large file reads back identical', async () => {
    const dir = await freshDir();
    const data = randomBytes(6 * 1024 * 1024 + 123);
    await behind().writeFile(`${dir.name}/big.bin`, data);
    await ctx.fx.settle?.();
    const f = await ctx.src.lookup({ parent: dir.id, name: 'big.bin' });
    const back = await readFile(ctx.src, f.id, 1 << 20);
    assert.equal(
      createHash('sha256').update(back).digest('hex'),
      createHash('sha256').update(data).digest('hex'),
    );
  });

  ctx.test('every mutation is refused and changes nothing', async () => {
    const dir = await freshDir();
    await behind().writeFile(`${dir.name}/f`, 'content');
    await ctx.fx.settle?.();
    const f = await ctx.src.lookup({ parent: dir.id, name: 'f' });
    const refused = ['EROFS', 'ENOSYS'] as const;
    await expectErr([...refused], ctx.src.create({ parent: dir.id, name: 'n', mode: 0o644 }), 'create:');
    await expectErr([...refused], ctx.src.mkdir({ parent: dir.id, name: 'n', mode: 0o755 }), 'mkdir:');
    await expectErr([...refused], ctx.src.unlink({ parent: dir.id, name: 'f' }), 'unlink:');
    await expectErr([...refused], ctx.src.rmdir({ parent: ctx.root, name: dir.name }), 'rmdir:');
    await expectErr(
      [...refused],
      ctx.src.rename({ parent: dir.id, name: 'f', newParent: dir.id, newName: 'g' }),
      'rename:',
    );
    await expectErr([...refused], ctx.src.setattr({ id: f.id, size: 0 }), 'setattr:');
    await expectErr(
      [...refused],
      ctx.src.openFile({ id: f.id, flags: { read: true, write: true } }),
      'open for write:',
    );
    assert.deepEqual(await names(ctx.src, dir.id), ['.keep', 'f']);
    assert.equal((await readFile(ctx.src, f.id)).toString(), 'content');
  });

  ctx.test(
    'ESTALE once a file is gone behind the back; EBADF for a closed handle; EINVAL for bad input',
    async () => {
      const dir = await freshDir();
      await behind().writeFile(`${dir.name}/f`, 'x');
      await ctx.fx.settle?.();
      const f = await ctx.src.lookup({ parent: dir.id, name: 'f' });
      const { handle } = await ctx.src.openFile({ id: f.id, flags: { read: true, write: false } });
      await expectErr('EINVAL', ctx.src.read({ handle, offset: -1, length: 1 }));
      await ctx.src.closeFile({ handle });
      await expectErr('EBADF', ctx.src.read({ handle, offset: 0, length: 1 }));
      await expectErr('EINVAL', ctx.src.readdirp({ dir: dir.id, cookie: 'not a cookie!', max: 10 }));
      await expectErr('EINVAL', ctx.src.lookup({ parent: dir.id, name: '..' }));
      await behind().remove(`${dir.name}/f`);
      await ctx.fx.settle?.();
      await expectErr('ESTALE', ctx.src.getattr({ id: f.id }));
      await expectErr('ESTALE', ctx.src.openFile({ id: f.id, flags: { read: true, write: false } }));
      await expectErr('ENOENT', ctx.src.lookup({ parent: dir.id, name: 'f' }));
    },
  );

  ctx.test(
    'readdirp pages with cookies: every entry exactly once, the same cookie the same page',
    async () => {
      const dir = await freshDir();
      const all = Array.from({ length: 300 }, (_, i) => `e${String(i).padStart(4, '0')}`);
      for (const name of all) await behind().writeFile(`${dir.name}/${name}`, name);
      await ctx.fx.settle?.();
      const seen = (await listAll(ctx.src, dir.id, 40)).map((e) => e.name);
      assert.deepEqual(seen.sort(), ['.keep', ...all]);
      const first = await ctx.src.readdirp({ dir: dir.id, cookie: '', max: 50 });
      const a = await ctx.src.readdirp({ dir: dir.id, cookie: first.cookie, max: 50 });
      const b = await ctx.src.readdirp({ dir: dir.id, cookie: first.cookie, max: 50 });
      assert.deepEqual(
        a.entries.map((e) => e.name),
        b.entries.map((e) => e.name),
      );
    },
  );

  ctx.test('changes behind the back arrive as invalidations in time', async () => {
    const within = ctx.opts.invalidationWithinMs ?? (ctx.caps.native_watch ? 1000 : 10_000);
    const dir = await freshDir();
    const events: Invalidation[] = [];
    const stop = ctx.src.watch((ev) => events.push(ev));
    try {
      await ctx.src.readdirp({ dir: dir.id, cookie: '', max: 100 });
      await behind().writeFile(`${dir.name}/new.txt`, 'hello');
      const deadline = Date.now() + within;
      const touches = (ev: Invalidation) =>
        ev.kind === 'entry'
          ? ev.parent === dir.id && ev.name === 'new.txt'
          : ev.id === dir.id || ev.id === ctx.root;
      while (Date.now() < deadline && !events.some(touches)) await sleep(20);
      assert.ok(events.some(touches), `no invalidation within ${within} ms (got ${events.length} others)`);
    } finally {
      stop();
    }
  });

  ctx.test('ids survive a restart of the Source', async (t) => {
    if (
      !ctx.need(
        t,
        ctx.fx.restart !== undefined && ctx.caps.persistent_ids,
        'no persistent ids (caps.persistent_ids or restart missing)',
      )
    )
      return;
    const dir = await freshDir();
    await behind().mkdir(`${dir.name}/sub`);
    await behind().writeFile(`${dir.name}/sub/f`, 'persist me');
    await ctx.fx.settle?.();
    const sub = await ctx.src.lookup({ parent: dir.id, name: 'sub' });
    const f = await ctx.src.lookup({ parent: sub.id, name: 'f' });
    ctx.src = await ctx.fx.restart!();
    assert.equal((await readFile(ctx.src, f.id)).toString(), 'persist me', 'old file id resolves');
    assert.equal((await ctx.src.getattr({ id: sub.id })).kind, 'dir', 'old directory id resolves');
    assert.equal((await ctx.src.lookup({ parent: ctx.root, name: dir.name })).id, dir.id);
    assert.equal((await ctx.src.lookup({ parent: dir.id, name: 'sub' })).id, sub.id);
    assert.equal((await ctx.src.lookup({ parent: sub.id, name: 'f' })).id, f.id);
  });
}
