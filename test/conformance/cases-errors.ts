import assert from 'node:assert/strict';
import { exportIndexOf, makeId } from '../../src/core/ids.ts';
import { SOURCE_OPS, type Source, type SourceOp } from '../../src/sources/source.ts';
import { expectErr, names, writeFile } from './helpers.ts';
import type { Ctx } from './suite.ts';

/** Every errno a caller can provoke with bad input. */
export function errorCases(ctx: Ctx): void {
  ctx.test('ENOENT, EEXIST, ENOTDIR, EISDIR, ENOTEMPTY on bad input', async () => {
    const dir = await ctx.fresh();
    const f = await writeFile(ctx.src, dir, 'file', 'x');
    await ctx.src.mkdir({ parent: dir, name: 'd', mode: 0o755 });
    await writeFile(ctx.src, (await ctx.src.lookup({ parent: dir, name: 'd' })).id, 'inner', 'y');
    await expectErr('ENOENT', ctx.src.lookup({ parent: dir, name: 'missing' }));
    await expectErr('ENOENT', ctx.src.unlink({ parent: dir, name: 'missing' }));
    await expectErr('ENOENT', ctx.src.rmdir({ parent: dir, name: 'missing' }));
    await expectErr('ENOENT', ctx.src.rename({ parent: dir, name: 'missing', newParent: dir, newName: 'z' }));
    await expectErr('EEXIST', ctx.src.mkdir({ parent: dir, name: 'd', mode: 0o755 }));
    await expectErr('EEXIST', ctx.src.mkdir({ parent: dir, name: 'file', mode: 0o755 }));
    await expectErr('ENOTDIR', ctx.src.lookup({ parent: f.id, name: 'x' }));
    await expectErr('ENOTDIR', ctx.src.mkdir({ parent: f.id, name: 'x', mode: 0o755 }));
    await expectErr('ENOTDIR', ctx.src.readdirp({ dir: f.id, cookie: '', max: 10 }));
    await expectErr('ENOTDIR', ctx.src.rmdir({ parent: dir, name: 'file' }));
    await expectErr('EISDIR', ctx.src.unlink({ parent: dir, name: 'd' }));
    await expectErr(
      'EISDIR',
      ctx.src.openFile({
        id: (await ctx.src.lookup({ parent: dir, name: 'd' })).id,
        flags: { read: true, write: false },
      }),
    );
    await expectErr('ENOTEMPTY', ctx.src.rmdir({ parent: dir, name: 'd' }));
    // A file may not replace a directory (POSIX says EISDIR).
    await expectErr('EISDIR', ctx.src.rename({ parent: dir, name: 'file', newParent: dir, newName: 'd' }));
    await expectErr(
      'EEXIST',
      ctx.src.rename({ parent: dir, name: 'file', newParent: dir, newName: 'd', noreplace: true }),
    );
    await expectErr(
      'EINVAL',
      ctx.src.rename({
        parent: dir,
        name: 'd',
        newParent: (await ctx.src.lookup({ parent: dir, name: 'd' })).id,
        newName: 'loop',
      }),
    );
    assert.deepEqual(await names(ctx.src, dir), ['d', 'file'], 'failed operations changed nothing');
  });

  ctx.test('names that could escape or corrupt are refused and change nothing', async () => {
    const dir = await ctx.fresh();
    for (const bad of ['..', '.', '', 'a/b', '/abs', 'nul\0byte']) {
      await expectErr('EINVAL', ctx.src.lookup({ parent: dir, name: bad }), `lookup '${bad}':`);
      await expectErr('EINVAL', ctx.src.mkdir({ parent: dir, name: bad, mode: 0o755 }), `mkdir '${bad}':`);
      await expectErr('EINVAL', ctx.src.create({ parent: dir, name: bad, mode: 0o644 }), `create '${bad}':`);
      await expectErr(
        'EINVAL',
        ctx.src.rename({ parent: ctx.root, name: 'nope', newParent: dir, newName: bad }),
        `rename to '${bad}':`,
      );
    }
    await expectErr('ENAMETOOLONG', ctx.src.mkdir({ parent: dir, name: 'n'.repeat(256), mode: 0o755 }));
    assert.deepEqual(await names(ctx.src, dir), []);
  });

  ctx.test('ESTALE for an id whose file is gone, EBADF for a closed handle', async () => {
    const dir = await ctx.fresh();
    const f = await writeFile(ctx.src, dir, 'f', 'x');
    const d = await ctx.src.mkdir({ parent: dir, name: 'd', mode: 0o755 });
    await ctx.src.unlink({ parent: dir, name: 'f' });
    await ctx.src.rmdir({ parent: dir, name: 'd' });
    await expectErr('ESTALE', ctx.src.getattr({ id: f.id }));
    await expectErr('ESTALE', ctx.src.openFile({ id: f.id, flags: { read: true, write: false } }));
    await expectErr('ESTALE', ctx.src.readdirp({ dir: d.id, cookie: '', max: 10 }));
    await expectErr('ESTALE', ctx.src.lookup({ parent: d.id, name: 'x' }));
    await expectErr('ESTALE', ctx.src.mkdir({ parent: d.id, name: 'x', mode: 0o755 }));
    const g = await writeFile(ctx.src, dir, 'g', 'data');
    const { handle } = await ctx.src.openFile({ id: g.id, flags: { read: true, write: false } });
    await ctx.src.closeFile({ handle });
    await expectErr('EBADF', ctx.src.read({ handle, offset: 0, length: 1 }));
    await expectErr('EBADF', ctx.src.closeFile({ handle }));
    await expectErr('EBADF', ctx.src.read({ handle: 987654, offset: 0, length: 1 }));
  });

  ctx.test('EINVAL for negative offsets and malformed cookies', async () => {
    const dir = await ctx.fresh();
    const f = await writeFile(ctx.src, dir, 'f', 'x');
    const { handle } = await ctx.src.openFile({ id: f.id, flags: { read: true, write: false } });
    await expectErr('EINVAL', ctx.src.read({ handle, offset: -1, length: 1 }));
    await ctx.src.closeFile({ handle });
    await expectErr('EINVAL', ctx.src.readdirp({ dir, cookie: 'not a cookie!', max: 10 }));
  });

  ctx.test('EXDEV when a rename or link crosses exports', async () => {
    const dir = await ctx.fresh();
    await writeFile(ctx.src, dir, 'f', 'x');
    const exports = await ctx.src.listExports();
    const other = exports.find((e) => exportIndexOf(e.root) !== exportIndexOf(ctx.root));
    const otherRoot = other?.root ?? makeId((exportIndexOf(ctx.root) + 1) % 0xffff, 1n);
    await expectErr('EXDEV', ctx.src.rename({ parent: dir, name: 'f', newParent: otherRoot, newName: 'f' }));
    assert.deepEqual(await names(ctx.src, dir), ['f']);
  });

  ctx.test('ENOSYS for every operation the Source does not support', async (t) => {
    const unsupported = SOURCE_OPS.filter((op) => !ctx.src.supportsOperation(op));
    if (!ctx.need(t, unsupported.length > 0, 'every operation is supported')) return;
    const dir = await ctx.fresh();
    const f = await writeFile(ctx.src, dir, 'f', 'x');
    const { handle } = await ctx.src.openFile({ id: f.id, flags: { read: true, write: false } });
    try {
      for (const op of unsupported)
        await expectErr('ENOSYS', callOp(ctx.src, op, { dir, file: f.id, handle }), `${op}:`);
    } finally {
      await ctx.src.closeFile({ handle });
    }
  });

  ctx.test('EROFS for every mutation on a read-only export; reads still work', async (t) => {
    if (!ctx.need(t, ctx.fx.readOnly !== undefined, 'no read-only mode')) return;
    const dir = await ctx.fresh();
    const f = await writeFile(ctx.src, dir, 'f', 'content');
    const dirName = (await ctx.src.readdirp({ dir: ctx.root, cookie: '', max: 10_000 })).entries.find(
      (e) => e.id === dir,
    )?.name;
    assert.ok(dirName);
    const ro = await ctx.fx.readOnly!();
    try {
      const roExports = await ro.listExports();
      const exp = roExports.find((e) => e.name === ctx.exp.name) ?? roExports[0];
      assert.ok(exp);
      assert.equal(exp.ro, true);
      assert.equal(exp.caps.writable, false);
      const rdir = (await ro.lookup({ parent: exp.root, name: dirName })).id;
      const rf = (await ro.lookup({ parent: rdir, name: 'f' })).id;
      const { handle } = await ro.openFile({ id: rf, flags: { read: true, write: false } });
      assert.equal(Buffer.from(await ro.read({ handle, offset: 0, length: 100 })).toString(), 'content');
      await ro.closeFile({ handle });
      await expectErr('EROFS', ro.create({ parent: rdir, name: 'n', mode: 0o644 }), 'create:');
      await expectErr('EROFS', ro.mkdir({ parent: rdir, name: 'n', mode: 0o755 }), 'mkdir:');
      await expectErr('EROFS', ro.unlink({ parent: rdir, name: 'f' }), 'unlink:');
      await expectErr('EROFS', ro.rmdir({ parent: exp.root, name: dirName }), 'rmdir:');
      await expectErr(
        'EROFS',
        ro.rename({ parent: rdir, name: 'f', newParent: rdir, newName: 'g' }),
        'rename:',
      );
      await expectErr('EROFS', ro.setattr({ id: rf, size: 0 }), 'setattr:');
      await expectErr(
        'EROFS',
        ro.openFile({ id: rf, flags: { read: false, write: true } }),
        'open for write:',
      );
      await expectErr(
        'EROFS',
        ro.openFile({ id: rf, flags: { read: true, write: false, truncate: true } }),
        'open with truncate:',
      );
      if (ro.supportsOperation('symlink'))
        await expectErr('EROFS', ro.symlink({ parent: rdir, name: 's', target: 'f' }), 'symlink:');
      if (ro.supportsOperation('link'))
        await expectErr('EROFS', ro.link({ id: rf, newParent: rdir, newName: 'l' }), 'link:');
      if (ro.supportsOperation('setxattr'))
        await expectErr(
          'EROFS',
          ro.setxattr({ id: rf, name: 'user.x', value: Buffer.from('1') }),
          'setxattr:',
        );
    } finally {
      await ro.close();
    }
    assert.deepEqual(await names(ctx.src, dir), ['f']);
    assert.equal((await ctx.src.getattr({ id: f.id })).size, 7);
  });
}

/** Call any operation with plausible arguments (for the ENOSYS sweep). */
function callOp(
  src: Source,
  op: SourceOp,
  a: { dir: bigint; file: bigint; handle: number },
): Promise<unknown> {
  switch (op) {
    case 'listExports':
      return src.listExports();
    case 'lookup':
      return src.lookup({ parent: a.dir, name: 'f' });
    case 'getattr':
      return src.getattr({ id: a.file });
    case 'setattr':
      return src.setattr({ id: a.file, mode: 0o644 });
    case 'readdirp':
      return src.readdirp({ dir: a.dir, cookie: '', max: 10 });
    case 'openFile':
      return src.openFile({ id: a.file, flags: { read: true, write: false } });
    case 'read':
      return src.read({ handle: a.handle, offset: 0, length: 1 });
    case 'write':
      return src.write({ handle: a.handle, offset: 0, data: Buffer.from('x') });
    case 'flush':
      return src.flush({ handle: a.handle });
    case 'closeFile':
      return Promise.reject(new Error('closeFile must be supported'));
    case 'create':
      return src.create({ parent: a.dir, name: 'n', mode: 0o644 });
    case 'mkdir':
      return src.mkdir({ parent: a.dir, name: 'n', mode: 0o755 });
    case 'unlink':
      return src.unlink({ parent: a.dir, name: 'f' });
    case 'rmdir':
      return src.rmdir({ parent: a.dir, name: 'n' });
    case 'rename':
      return src.rename({ parent: a.dir, name: 'f', newParent: a.dir, newName: 'g' });
    case 'symlink':
      return src.symlink({ parent: a.dir, name: 's', target: 'f' });
    case 'readlink':
      return src.readlink({ id: a.file });
    case 'link':
      return src.link({ id: a.file, newParent: a.dir, newName: 'l' });
    case 'getxattr':
      return src.getxattr({ id: a.file, name: 'user.x' });
    case 'setxattr':
      return src.setxattr({ id: a.file, name: 'user.x', value: Buffer.from('1') });
    case 'listxattr':
      return src.listxattr({ id: a.file });
    case 'removexattr':
      return src.removexattr({ id: a.file, name: 'user.x' });
    case 'lock':
      return src.lock({ handle: a.handle, cmd: 'set', type: 'read', start: 0, length: 1 });
    case 'statfs':
      return src.statfs({ id: a.dir });
    case 'watch':
      return Promise.resolve(src.watch(() => undefined)());
  }
}
