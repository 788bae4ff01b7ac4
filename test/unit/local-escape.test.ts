import assert from 'node:assert/strict';
import {
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  statSync,
  symlinkSync,
  unlinkSync,
  watch,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FsError } from '../../src/core/fs-error.ts';
import { lsetxattr } from '../../src/sources/local/linux-native.ts';
import { localDirs, openLocal, put, ROOT } from './local-helpers.ts';

const code =
  (...codes: string[]) =>
  (e: unknown) =>
    FsError.is(e) && codes.includes(e.code);

describe('local sources never leave the export root', () => {
  it('planted symlinks are entries, never paths', async () => {
    using dirs = localDirs();
    const secret = join(dirs.outside, 'secret');
    writeFileSync(secret, 'top secret');
    await lsetxattr(secret, 'user.secret', Buffer.from('hidden'));
    const before = statSync(secret);
    symlinkSync(secret, join(dirs.root, 'abs'));
    symlinkSync('../outside', join(dirs.root, 'up'));
    symlinkSync('hop2', join(dirs.root, 'hop1'));
    symlinkSync('../outside/secret', join(dirs.root, 'hop2'));
    const src = await openLocal({ root: dirs.root });
    try {
      for (const name of ['abs', 'up', 'hop1', 'hop2']) {
        const e = await src.lookup({ parent: ROOT, name });
        assert.equal(e.attr.kind, 'symlink', name);
        assert.equal(
          await src.readlink({ id: e.id }),
          readlinkSync(join(dirs.root, name)),
          'the target is returned as text',
        );
        await assert.rejects(
          src.openFile({ id: e.id, flags: { read: true, write: false } }),
          code('ELOOP'),
          `open ${name}`,
        );
        await assert.rejects(
          src.openFile({ id: e.id, flags: { read: false, write: true, truncate: true } }),
          code('ELOOP'),
        );
        await assert.rejects(
          src.lookup({ parent: e.id, name: 'secret' }),
          code('ENOTDIR'),
          `lookup through ${name}`,
        );
        await assert.rejects(src.readdirp({ dir: e.id, cookie: '', max: 10 }), code('ENOTDIR'));
        await assert.rejects(src.create({ parent: e.id, name: 'planted', mode: 0o644 }), code('ENOTDIR'));
        await assert.rejects(src.mkdir({ parent: e.id, name: 'planted', mode: 0o755 }), code('ENOTDIR'));
        await assert.rejects(src.symlink({ parent: e.id, name: 'planted', target: 'x' }), code('ENOTDIR'));
        await assert.rejects(src.setattr({ id: e.id, size: 0 }), code('EINVAL'));
        await assert.rejects(src.setattr({ id: e.id, mode: 0o777 }), code('EOPNOTSUPP'));
        await src.setattr({ id: e.id, mtimeNs: 1_000_000_000_000_000_000n }); // the link's own time
        await assert.rejects(src.getxattr({ id: e.id, name: 'user.secret' }), code('ENODATA', 'EPERM'));
        await assert.rejects(
          src.setxattr({ id: e.id, name: 'user.x', value: Buffer.from('1') }),
          code('EPERM'),
        );
        const linked = await src.link({ id: e.id, newParent: ROOT, newName: `${name}-hard` });
        assert.equal(linked.attr.kind, 'symlink', 'a hard link to a symlink is the symlink itself');
      }
      assert.equal(
        (await src.statfs({ id: (await src.lookup({ parent: ROOT, name: 'abs' })).id })).namemax,
        255,
      );
    } finally {
      await src.close();
    }
    assert.equal(readFileSync(secret, 'utf8'), 'top secret');
    const after = statSync(secret);
    assert.equal(after.mode, before.mode);
    assert.equal(after.mtimeMs, before.mtimeMs);
    assert.deepEqual(readdirSync(dirs.outside), ['secret'], 'nothing was created outside');
  });

  it('a directory swapped for a symlink behind the back makes its old ids stale, not a way out', async () => {
    using dirs = localDirs();
    mkdirSync(join(dirs.outside, 'd'));
    writeFileSync(join(dirs.outside, 'd', 'f'), 'outside');
    const src = await openLocal({ root: dirs.root });
    try {
      const d = await src.mkdir({ parent: ROOT, name: 'd', mode: 0o755 });
      const f = await put(src, d.id, 'f', 'inside');
      renameSync(join(dirs.root, 'd'), join(dirs.base, 'moved-away'));
      symlinkSync(join(dirs.outside, 'd'), join(dirs.root, 'd'));
      await assert.rejects(src.getattr({ id: f }), code('ESTALE'));
      await assert.rejects(src.openFile({ id: f, flags: { read: true, write: false } }), code('ESTALE'));
      await assert.rejects(src.openFile({ id: f, flags: { read: false, write: true } }), code('ESTALE'));
      await assert.rejects(src.setattr({ id: f, size: 0 }), code('ESTALE'));
      await assert.rejects(src.lookup({ parent: d.id, name: 'f' }), code('ESTALE', 'ENOTDIR'));
      await assert.rejects(src.create({ parent: d.id, name: 'g', mode: 0o644 }), code('ESTALE', 'ENOTDIR'));
      await assert.rejects(src.unlink({ parent: d.id, name: 'f' }), code('ESTALE', 'ENOTDIR'));
      await assert.rejects(src.readdirp({ dir: d.id, cookie: '', max: 10 }), code('ESTALE', 'ENOTDIR'));
    } finally {
      await src.close();
    }
    assert.deepEqual(readdirSync(join(dirs.outside, 'd')), ['f']);
    assert.equal(readFileSync(join(dirs.outside, 'd', 'f'), 'utf8'), 'outside');
  });

  it('a create in a directory just swapped for a symlink makes nothing outside, not even for a moment', async () => {
    using dirs = localDirs();
    mkdirSync(join(dirs.outside, 'd'));
    await using src = await openLocal({ root: dirs.root });
    const d = await src.mkdir({ parent: ROOT, name: 'd', mode: 0o755 });
    renameSync(join(dirs.root, 'd'), join(dirs.base, 'moved-away'));
    symlinkSync(join(dirs.outside, 'd'), join(dirs.root, 'd'));
    // The id map still names root/d: the first operation after the swap is this create.
    const seen: string[] = [];
    const watcher = watch(join(dirs.outside, 'd'), (_event, name) => seen.push(String(name)));
    try {
      await assert.rejects(src.create({ parent: d.id, name: 'g', mode: 0o644 }), code('ESTALE', 'ENOTDIR'));
      await new Promise((r) => setTimeout(r, 100)); // inotify events arrive asynchronously
    } finally {
      watcher.close();
    }
    assert.deepEqual(seen, [], 'nothing was made in the directory outside');
    assert.deepEqual(readdirSync(join(dirs.outside, 'd')), []);
  });

  it('a symlinked export path is resolved once, at open', async () => {
    using dirs = localDirs();
    const alias = join(dirs.base, 'alias');
    symlinkSync(dirs.root, alias);
    const src = await openLocal({ root: alias });
    try {
      assert.equal(src.rootPath, dirs.root);
      await put(src, ROOT, 'f', 'x');
      assert.deepEqual(readdirSync(dirs.root), ['f']);
    } finally {
      await src.close();
    }
  });
});

describe('local sources answer ESTALE for ids that no longer resolve', () => {
  it('removed, replaced and foreign ids', async () => {
    using dirs = localDirs();
    const src = await openLocal({ root: dirs.root });
    try {
      const f = await put(src, ROOT, 'f', 'x');
      const g = await put(src, ROOT, 'g', 'y');
      // Replaced behind the back by another file (another inode) under the same name.
      writeFileSync(join(dirs.root, 'g.new'), 'other');
      renameSync(join(dirs.root, 'g.new'), join(dirs.root, 'g'));
      await assert.rejects(src.getattr({ id: g }), code('ESTALE'));
      const g2 = await src.lookup({ parent: ROOT, name: 'g' });
      assert.notEqual(g2.id, g);
      // Removed behind the back.
      unlinkSync(join(dirs.root, 'f'));
      await assert.rejects(src.getattr({ id: f }), code('ESTALE'));
      await assert.rejects(src.getattr({ id: (6n << 48n) | 1n }), code('ESTALE'), 'an id of another export');
      await assert.rejects(
        src.getattr({ id: (5n << 48n) | 123456789n }),
        code('ESTALE'),
        'an id never handed out',
      );
    } finally {
      await src.close();
    }
  });

  it('a created file is published in its directory even if that moved, never through a symlink', async () => {
    using dirs = localDirs();
    mkdirSync(join(dirs.outside, 'd'));
    const src = await openLocal({ root: dirs.root });
    try {
      const d = await src.mkdir({ parent: ROOT, name: 'd', mode: 0o755 });
      const moved = await src.create({ parent: d.id, name: 'a', mode: 0o644 });
      await src.rename({ parent: ROOT, name: 'd', newParent: ROOT, newName: 'd2' });
      await src.closeFile({ handle: moved.handle });
      assert.deepEqual(readdirSync(join(dirs.root, 'd2')), ['a']);
      assert.equal((await src.lookup({ parent: d.id, name: 'a' })).id, moved.id);

      const swapped = await src.create({ parent: d.id, name: 'b', mode: 0o644 });
      await src.write({ handle: swapped.handle, offset: 0, data: Buffer.from('inside') });
      renameSync(join(dirs.root, 'd2'), join(dirs.base, 'moved-away'));
      symlinkSync(join(dirs.outside, 'd'), join(dirs.root, 'd2'));
      await assert.rejects(src.closeFile({ handle: swapped.handle }), code('ESTALE'));
    } finally {
      await src.close();
    }
    assert.deepEqual(readdirSync(join(dirs.outside, 'd')), []);
  });

  it('a file renamed behind the back keeps its id once seen at its new name', async () => {
    using dirs = localDirs();
    const src = await openLocal({ root: dirs.root, kind: 'posix' });
    try {
      const f = await put(src, ROOT, 'f', 'x');
      renameSync(join(dirs.root, 'f'), join(dirs.root, 'moved'));
      await assert.rejects(src.getattr({ id: f }), code('ESTALE'));
      assert.equal((await src.lookup({ parent: ROOT, name: 'moved' })).id, f);
      assert.equal((await src.getattr({ id: f })).size, 1);
    } finally {
      await src.close();
    }
  });
});
