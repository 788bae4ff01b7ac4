import assert from 'node:assert/strict';
import type { ErrnoName } from '../../src/core/errno.ts';
import { FsError } from '../../src/core/fs-error.ts';
import type { NodeId } from '../../src/core/ids.ts';
import type { Entry, LockType } from '../../src/sources/source.ts';
import { expectErr, names, readFile, sleep, writeFile } from './helpers.ts';
import type { Ctx } from './suite.ts';

/** Errors an adapter may answer when asked to go through a symlink. */
const NOT_THROUGH_SYMLINK: ErrnoName[] = ['ENOTDIR', 'ELOOP', 'EINVAL', 'EACCES', 'EPERM'];

/** Symlinks, hard links, xattrs, locks, root escapes, restarts. */
export function advancedCases(ctx: Ctx): void {
  ctx.test('symlink and readlink', async (t) => {
    if (!ctx.need(t, ctx.caps.symlink, 'caps.symlink is false')) return;
    const dir = await ctx.fresh();
    await writeFile(ctx.src, dir, 'target.txt', 'pointed at');
    const s = await ctx.src.symlink({ parent: dir, name: 'link', target: 'target.txt' });
    assert.equal(s.attr.kind, 'symlink');
    assert.equal(s.attr.size, 'target.txt'.length);
    assert.equal(await ctx.src.readlink({ id: s.id }), 'target.txt');
    assert.equal((await ctx.src.lookup({ parent: dir, name: 'link' })).attr.kind, 'symlink');
    await expectErr('EEXIST', ctx.src.symlink({ parent: dir, name: 'link', target: 'x' }));
    const f = await ctx.src.lookup({ parent: dir, name: 'target.txt' });
    await expectErr('EINVAL', ctx.src.readlink({ id: f.id }));
    await ctx.src.unlink({ parent: dir, name: 'link' });
    assert.deepEqual(await names(ctx.src, dir), ['target.txt']);
  });

  ctx.test('hard links share content and count links', async (t) => {
    if (!ctx.need(t, ctx.caps.hardlink, 'caps.hardlink is false')) return;
    const dir = await ctx.fresh();
    const f = await writeFile(ctx.src, dir, 'a', 'shared');
    const l = await ctx.src.link({ id: f.id, newParent: dir, newName: 'b' });
    assert.equal(l.attr.nlink, 2);
    assert.equal((await ctx.src.getattr({ id: f.id })).nlink, 2);
    const b = await ctx.src.lookup({ parent: dir, name: 'b' });
    assert.equal((await readFile(ctx.src, b.id)).toString(), 'shared');
    await expectErr('EEXIST', ctx.src.link({ id: f.id, newParent: dir, newName: 'a' }));
    const sub = await ctx.src.mkdir({ parent: dir, name: 'sub', mode: 0o755 });
    await expectErr(['EPERM', 'EISDIR'], ctx.src.link({ id: sub.id, newParent: dir, newName: 'dirlink' }));
    await ctx.src.unlink({ parent: dir, name: 'a' });
    const left = await ctx.src.lookup({ parent: dir, name: 'b' });
    assert.equal(left.attr.nlink, 1);
    assert.equal((await readFile(ctx.src, left.id)).toString(), 'shared');
  });

  ctx.test('extended attributes', async (t) => {
    if (!ctx.need(t, ctx.caps.xattr, 'caps.xattr is false')) return;
    const dir = await ctx.fresh();
    const f = await writeFile(ctx.src, dir, 'f', 'x');
    await ctx.src.setxattr({ id: f.id, name: 'user.color', value: Buffer.from('blue') });
    await ctx.src.setxattr({ id: f.id, name: 'user.bin', value: Buffer.from([0, 1, 2, 255]) });
    assert.equal(Buffer.from(await ctx.src.getxattr({ id: f.id, name: 'user.color' })).toString(), 'blue');
    assert.deepEqual(
      Buffer.from(await ctx.src.getxattr({ id: f.id, name: 'user.bin' })),
      Buffer.from([0, 1, 2, 255]),
    );
    assert.deepEqual((await ctx.src.listxattr({ id: f.id })).filter((n) => n.startsWith('user.')).sort(), [
      'user.bin',
      'user.color',
    ]);
    await expectErr(
      'EEXIST',
      ctx.src.setxattr({ id: f.id, name: 'user.color', value: Buffer.from('red'), mode: 'create' }),
    );
    await expectErr(
      'ENODATA',
      ctx.src.setxattr({ id: f.id, name: 'user.none', value: Buffer.from('x'), mode: 'replace' }),
    );
    await expectErr('ENODATA', ctx.src.getxattr({ id: f.id, name: 'user.none' }));
    await ctx.src.setxattr({ id: f.id, name: 'user.color', value: Buffer.from('red'), mode: 'replace' });
    assert.equal(Buffer.from(await ctx.src.getxattr({ id: f.id, name: 'user.color' })).toString(), 'red');
    await ctx.src.removexattr({ id: f.id, name: 'user.color' });
    await expectErr('ENODATA', ctx.src.removexattr({ id: f.id, name: 'user.color' }));
    assert.deepEqual(
      (await ctx.src.listxattr({ id: f.id })).filter((n) => n.startsWith('user.')),
      ['user.bin'],
    );
    await expectErr('EINVAL', ctx.src.getxattr({ id: f.id, name: 'noprefix' }));
  });

  ctx.test('advisory byte-range locks conflict, share, release and wait', async (t) => {
    if (!ctx.need(t, ctx.caps.lock, 'caps.lock is false')) return;
    const dir = await ctx.fresh();
    const f = await writeFile(ctx.src, dir, 'f', 'x'.repeat(1000));
    const h1 = (await ctx.src.openFile({ id: f.id, flags: { read: true, write: true } })).handle;
    const h2 = (await ctx.src.openFile({ id: f.id, flags: { read: true, write: true } })).handle;
    const h3 = (await ctx.src.openFile({ id: f.id, flags: { read: true, write: false } })).handle;
    try {
      await ctx.src.lock({ handle: h1, cmd: 'set', type: 'write', start: 0, length: 100 });
      await expectErr(
        'EAGAIN',
        ctx.src.lock({ handle: h2, cmd: 'set', type: 'write', start: 50, length: 10 }),
      );
      await expectErr(
        'EAGAIN',
        ctx.src.lock({ handle: h2, cmd: 'set', type: 'read', start: 99, length: 10 }),
      );
      const conflict = await ctx.src.lock({ handle: h2, cmd: 'test', type: 'read', start: 10, length: 1 });
      assert.ok(conflict);
      assert.equal(conflict.type, 'write');
      assert.equal(
        await ctx.src.lock({ handle: h2, cmd: 'test', type: 'write', start: 100, length: 10 }),
        null,
      );
      await ctx.src.lock({ handle: h2, cmd: 'set', type: 'read', start: 200, length: 50 });
      await ctx.src.lock({ handle: h3, cmd: 'set', type: 'read', start: 220, length: 10 });
      await expectErr('EAGAIN', ctx.src.lock({ handle: h1, cmd: 'set', type: 'write', start: 0, length: 0 }));
      // A waiter is granted once the holder unlocks.
      let granted = false;
      const waiting = ctx.src
        .lock({ handle: h2, cmd: 'wait', type: 'write', start: 0, length: 10 })
        .then(() => {
          granted = true;
        });
      await sleep(50);
      assert.equal(granted, false, 'wait returned while the range was still locked');
      await ctx.src.lock({ handle: h1, cmd: 'set', type: 'unlock', start: 0, length: 100 });
      await waiting;
      assert.equal(granted, true);
      // Closing a handle releases its locks.
      await ctx.src.closeFile({ handle: h2 });
      await ctx.src.lock({ handle: h1, cmd: 'set', type: 'write', start: 0, length: 10 });
    } finally {
      for (const h of [h1, h2, h3]) await ctx.src.closeFile({ handle: h }).catch(() => undefined);
    }
  });

  ctx.test('flock and POSIX locks are separate lock spaces', async (t) => {
    if (!ctx.need(t, ctx.caps.lock, 'caps.lock is false')) return;
    const dir = await ctx.fresh();
    const f = await writeFile(ctx.src, dir, 'f', 'x'.repeat(100));
    const open = async () =>
      (await ctx.src.openFile({ id: f.id, flags: { read: true, write: false } })).handle;
    const [h1, h2, h3] = [await open(), await open(), await open()];
    const whole = { start: 0, length: 0 } as const;
    const flock = (handle: number, cmd: 'test' | 'set' | 'wait', type: LockType) =>
      ctx.src.lock({ handle, cmd, type, ...whole, kind: 'flock' });
    try {
      await ctx.src.lock({ handle: h1, cmd: 'set', type: 'read', ...whole });
      await flock(h2, 'set', 'write'); // h1's POSIX lock is no conflict
      await expectErr('EAGAIN', flock(h1, 'set', 'read'));
      assert.equal((await flock(h3, 'test', 'read'))?.type, 'write');
      // The POSIX space sees h1's read lock only: h2's exclusive flock is not in it.
      assert.equal((await ctx.src.lock({ handle: h3, cmd: 'test', type: 'write', ...whole }))?.type, 'read');
      assert.equal(await ctx.src.lock({ handle: h3, cmd: 'test', type: 'read', ...whole }), null);
      await ctx.src.lock({ handle: h3, cmd: 'set', type: 'read', start: 10, length: 5 });
      await ctx.src.lock({ handle: h1, cmd: 'set', type: 'unlock', ...whole });
      assert.equal(
        await ctx.src.lock({ handle: h1, cmd: 'test', type: 'write', start: 0, length: 10 }),
        null,
      );
      // Shared flocks share; an exclusive one waits for them to go, a close included.
      await flock(h2, 'set', 'unlock');
      await flock(h1, 'set', 'read');
      await flock(h3, 'set', 'read');
      assert.equal((await flock(h2, 'test', 'write'))?.type, 'read');
      let granted = false;
      const waiting = flock(h2, 'wait', 'write').then(() => (granted = true));
      await flock(h3, 'set', 'unlock');
      await sleep(50);
      assert.equal(granted, false, 'the exclusive flock was granted while a shared one was held');
      await ctx.src.closeFile({ handle: h1 });
      await waiting;
      assert.equal((await flock(h3, 'test', 'read'))?.type, 'write');
      // A flock is whole-file.
      await expectErr(
        'EINVAL',
        ctx.src.lock({ handle: h3, cmd: 'set', type: 'read', start: 1, length: 0, kind: 'flock' }),
      );
      await expectErr(
        'EINVAL',
        ctx.src.lock({ handle: h3, cmd: 'test', type: 'read', start: 0, length: 9, kind: 'flock' }),
      );
    } finally {
      for (const h of [h1, h2, h3]) await ctx.src.closeFile({ handle: h }).catch(() => undefined);
    }
  });

  ctx.test('nothing escapes the export root through symlinks', async (t) => {
    const canPlant = ctx.fx.behind?.symlink !== undefined;
    if (
      !ctx.need(
        t,
        canPlant || ctx.caps.symlink,
        'cannot make symlinks (caps.symlink is false, no behind-the-back symlink)',
      )
    )
      return;
    const dir = await ctx.fresh();
    const dirName = await nameOf(ctx, dir);
    const plant = async (name: string, target: string): Promise<boolean> => {
      if (ctx.fx.behind?.symlink) {
        await ctx.fx.behind.symlink(`${dirName}/${name}`, target);
        return true;
      }
      try {
        await ctx.src.symlink({ parent: dir, name, target });
        return true;
      } catch (err) {
        // Refusing to create an escaping symlink at all is also a correct answer.
        assert.ok(FsError.is(err) && ['EPERM', 'EACCES', 'EINVAL'].includes(err.code), String(err));
        return false;
      }
    };
    const links: [string, string][] = [
      ['abs', '/etc'],
      ['up', '../../../../../../../../etc'],
      ['hop1', 'hop2'],
      ['hop2', '../../../../../../../../etc'],
    ];
    for (const [name, target] of links) {
      if (!(await plant(name, target))) continue;
      const e: Entry | Error = await ctx.src
        .lookup({ parent: dir, name })
        .catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));
      if (e instanceof Error) {
        assert.ok(FsError.is(e) && NOT_THROUGH_SYMLINK.concat(['ENOENT']).includes(e.code), String(e));
        continue;
      }
      assert.equal(e.attr.kind, 'symlink', `${name} must be seen as a symlink, not followed`);
      await expectErr(
        NOT_THROUGH_SYMLINK,
        ctx.src.lookup({ parent: e.id, name: 'passwd' }),
        `lookup through ${name}:`,
      );
      await expectErr(
        NOT_THROUGH_SYMLINK,
        ctx.src.readdirp({ dir: e.id, cookie: '', max: 10 }),
        `readdirp of ${name}:`,
      );
      await expectErr(
        NOT_THROUGH_SYMLINK,
        ctx.src.openFile({ id: e.id, flags: { read: true, write: false } }),
        `open ${name}:`,
      );
      await expectErr(
        NOT_THROUGH_SYMLINK,
        ctx.src.create({ parent: e.id, name: 'planted', mode: 0o644 }),
        `create through ${name}:`,
      );
      await expectErr(
        NOT_THROUGH_SYMLINK,
        ctx.src.mkdir({ parent: e.id, name: 'planted', mode: 0o755 }),
        `mkdir through ${name}:`,
      );
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
    const dir = await ctx.fresh();
    const dirName = await nameOf(ctx, dir);
    const sub = await ctx.src.mkdir({ parent: dir, name: 'sub', mode: 0o755 });
    const f = await writeFile(ctx.src, sub.id, 'f', 'persist me');
    ctx.src = await ctx.fx.restart!();
    assert.equal(
      (await ctx.src.getattr({ id: f.id })).size,
      'persist me'.length,
      'old id resolves after restart',
    );
    assert.equal((await readFile(ctx.src, f.id)).toString(), 'persist me');
    assert.equal((await ctx.src.lookup({ parent: ctx.root, name: dirName })).id, dir);
    assert.equal((await ctx.src.lookup({ parent: dir, name: 'sub' })).id, sub.id);
    assert.equal((await ctx.src.lookup({ parent: sub.id, name: 'f' })).id, f.id);
  });
}

/** The name of a directory directly under the export root. */
async function nameOf(ctx: Ctx, id: NodeId): Promise<string> {
  let cookie = '';
  for (;;) {
    const page = await ctx.src.readdirp({ dir: ctx.root, cookie, max: 1000 });
    const hit = page.entries.find((e) => e.id === id);
    if (hit) return hit.name;
    if (page.eof) throw new Error(`directory ${id} not found under the root`);
    cookie = page.cookie;
  }
}
