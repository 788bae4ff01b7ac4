import assert from 'node:assert/strict';
import {
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FsError } from '../../src/core/fs-error.ts';
import { TEMP_PREFIX } from '../../src/sources/local/temp-files.ts';
import { get, localDirs, openLocal, put, ROOT } from './local-helpers.ts';

const isErr = (code: string) => (e: unknown) => FsError.is(e) && e.code === code;
const temps = (dir: string) => readdirSync(dir).filter((n) => n.startsWith(TEMP_PREFIX));

describe('local atomic writes and temp files', () => {
  it('a created file lives under a hidden temp name until close, then keeps its inode and id', async () => {
    using dirs = localDirs();
    const src = await openLocal({ root: dirs.root });
    try {
      const c = await src.create({ parent: ROOT, name: 'new', mode: 0o640 });
      await src.write({ handle: c.handle, offset: 0, data: Buffer.from('partial') });
      assert.equal(temps(dirs.root).length, 1);
      assert.deepEqual((await src.readdirp({ dir: ROOT, cookie: '', max: 100 })).entries, []);
      assert.equal((await src.getattr({ id: c.id })).size, 7, 'the writer sees its own file by id');
      const tmp = temps(dirs.root)[0]!;
      await assert.rejects(src.lookup({ parent: ROOT, name: tmp }), isErr('ENOENT'));
      await src.closeFile({ handle: c.handle });
      assert.deepEqual(readdirSync(dirs.root), ['new']);
      const st = lstatSync(join(dirs.root, 'new'));
      assert.equal(st.mode & 0o7777, 0o640, 'exact mode, whatever the umask');
      assert.equal((await src.lookup({ parent: ROOT, name: 'new' })).id, c.id);
    } finally {
      await src.close();
    }
  });

  it('a close waits for the writes sent before it, big direct ones too, and publishes them all', async () => {
    using dirs = localDirs();
    await using src = await openLocal({ root: dirs.root });
    const c = await src.create({ parent: ROOT, name: 'big', mode: 0o644 });
    const parts = [0, 1, 2].map((i) => Buffer.alloc(8 << 20, 0x41 + i));
    const writes = parts.map((data, i) => src.write({ handle: c.handle, offset: i * (8 << 20), data }));
    await src.closeFile({ handle: c.handle });
    await Promise.all(writes);
    assert.ok(readFileSync(join(dirs.root, 'big')).equals(Buffer.concat(parts)));
  });

  it('reserved names are refused where a client chooses a name, hidden where it reads', async () => {
    using dirs = localDirs();
    writeFileSync(join(dirs.root, `${TEMP_PREFIX}leftover`), 'x');
    const src = await openLocal({ root: dirs.root });
    try {
      const f = await put(src, ROOT, 'f', 'x');
      const name = `${TEMP_PREFIX}mine`;
      await assert.rejects(src.create({ parent: ROOT, name, mode: 0o644 }), isErr('EINVAL'));
      await assert.rejects(src.mkdir({ parent: ROOT, name, mode: 0o755 }), isErr('EINVAL'));
      await assert.rejects(src.symlink({ parent: ROOT, name, target: 'f' }), isErr('EINVAL'));
      await assert.rejects(src.link({ id: f, newParent: ROOT, newName: name }), isErr('EINVAL'));
      await assert.rejects(
        src.rename({ parent: ROOT, name: 'f', newParent: ROOT, newName: name }),
        /reserved name/,
      );
      await assert.rejects(src.unlink({ parent: ROOT, name: `${TEMP_PREFIX}leftover` }), isErr('ENOENT'));
      assert.deepEqual(
        (await src.readdirp({ dir: ROOT, cookie: '', max: 100 })).entries.map((e) => e.name),
        ['f'],
      );
      assert.ok(
        readdirSync(dirs.root).includes(`${TEMP_PREFIX}leftover`),
        'a recent temp file is left alone',
      );
    } finally {
      await src.close();
    }
  });

  it('a create refused (existing name, directory in the way) leaves no temp file behind', async () => {
    using dirs = localDirs();
    const src = await openLocal({ root: dirs.root });
    try {
      await put(src, ROOT, 'taken', 'x');
      await src.mkdir({ parent: ROOT, name: 'sub', mode: 0o755 });
      await assert.rejects(
        src.create({ parent: ROOT, name: 'taken', mode: 0o644, exclusive: true }),
        isErr('EEXIST'),
      );
      await assert.rejects(src.create({ parent: ROOT, name: 'sub', mode: 0o644 }), isErr('EISDIR'));
      assert.deepEqual(temps(dirs.root), []);
      assert.deepEqual(readdirSync(dirs.root).sort(), ['sub', 'taken']);
      assert.equal(readFileSync(join(dirs.root, 'taken'), 'utf8'), 'x');
    } finally {
      await src.close();
    }
  });

  it('a create in a directory moved behind the back lands in it, with no temp file left where it was', async () => {
    using dirs = localDirs();
    const src = await openLocal({ root: dirs.root });
    try {
      const a = await src.mkdir({ parent: ROOT, name: 'a', mode: 0o755 });
      // The id map learns the directory at b, then it goes back to a and another takes b:
      // the map's first path for it now names the wrong directory.
      renameSync(join(dirs.root, 'a'), join(dirs.root, 'b'));
      await src.lookup({ parent: ROOT, name: 'b' });
      renameSync(join(dirs.root, 'b'), join(dirs.root, 'a'));
      mkdirSync(join(dirs.root, 'b'));
      const c = await src.create({ parent: a.id, name: 'f', mode: 0o644 });
      await src.write({ handle: c.handle, offset: 0, data: Buffer.from('moved') });
      await src.closeFile({ handle: c.handle });
      assert.equal(readFileSync(join(dirs.root, 'a', 'f'), 'utf8'), 'moved');
      assert.deepEqual(readdirSync(join(dirs.root, 'a')), ['f']);
      assert.deepEqual(
        readdirSync(join(dirs.root, 'b')),
        [],
        'nothing left in the directory at the stale path',
      );
    } finally {
      await src.close();
    }
  });

  it('old leftover temp files are swept when their directory is listed', async () => {
    using dirs = localDirs();
    const old = join(dirs.root, `${TEMP_PREFIX}crashed`);
    writeFileSync(old, 'x');
    utimesSync(old, new Date(Date.now() - 2 * 3600_000), new Date(Date.now() - 2 * 3600_000));
    const src = await openLocal({ root: dirs.root });
    try {
      await src.readdirp({ dir: ROOT, cookie: '', max: 100 });
      for (let i = 0; i < 50 && temps(dirs.root).length > 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(temps(dirs.root), []);
    } finally {
      await src.close();
    }
  });

  it('rmdir of a directory holding only crash leftovers succeeds', async () => {
    using dirs = localDirs();
    mkdirSync(join(dirs.root, 'd'));
    writeFileSync(join(dirs.root, 'd', `${TEMP_PREFIX}crashed`), 'x');
    const src = await openLocal({ root: dirs.root });
    try {
      await src.rmdir({ parent: ROOT, name: 'd' });
      assert.deepEqual(readdirSync(dirs.root), []);
    } finally {
      await src.close();
    }
  });

  it('overwriting keeps the id and the metadata; readers keep the old content until close', async () => {
    using dirs = localDirs();
    const src = await openLocal({ root: dirs.root });
    try {
      const f = await put(src, ROOT, 'f', 'old content');
      await src.setattr({ id: f, mode: 0o604 });
      await src.setxattr({ id: f, name: 'user.tag', value: Buffer.from('kept') });
      const reader = await src.openFile({ id: f, flags: { read: true, write: false } });
      const w = await src.openFile({ id: f, flags: { read: true, write: true } });
      const inoBefore = lstatSync(join(dirs.root, 'f')).ino;
      await src.write({ handle: w.handle, offset: 0, data: Buffer.from('NEW') });
      assert.equal(readFileSync(join(dirs.root, 'f'), 'utf8'), 'old content', 'nothing visible before close');
      await src.setxattr({ id: f, name: 'user.late', value: Buffer.from('also') });
      await src.closeFile({ handle: w.handle });
      assert.equal(readFileSync(join(dirs.root, 'f'), 'utf8'), 'NEW content');
      assert.notEqual(lstatSync(join(dirs.root, 'f')).ino, inoBefore, 'replaced by the private copy');
      assert.equal(
        Buffer.from(await src.read({ handle: reader.handle, offset: 0, length: 100 })).toString(),
        'old content',
      );
      await src.closeFile({ handle: reader.handle });
      assert.equal(await get(src, f), 'NEW content', 'the old id follows the new inode');
      assert.equal((await src.lookup({ parent: ROOT, name: 'f' })).id, f);
      assert.equal((await src.getattr({ id: f })).mode, 0o604);
      assert.deepEqual((await src.listxattr({ id: f })).sort(), ['user.late', 'user.tag']);
      assert.deepEqual(temps(dirs.root), []);
    } finally {
      await src.close();
    }
  });

  it('a write handle that writes nothing leaves the file (and its inode) alone', async () => {
    using dirs = localDirs();
    const src = await openLocal({ root: dirs.root });
    try {
      const f = await put(src, ROOT, 'f', 'same');
      const ino = lstatSync(join(dirs.root, 'f')).ino;
      const w = await src.openFile({ id: f, flags: { read: true, write: true } });
      assert.equal(
        Buffer.from(await src.read({ handle: w.handle, offset: 0, length: 10 })).toString(),
        'same',
      );
      await src.closeFile({ handle: w.handle });
      assert.equal(lstatSync(join(dirs.root, 'f')).ino, ino);
      assert.deepEqual(temps(dirs.root), []);
    } finally {
      await src.close();
    }
  });

  it('hard-linked files are written in place so every name sees the new content', async () => {
    using dirs = localDirs();
    const src = await openLocal({ root: dirs.root });
    try {
      const f = await put(src, ROOT, 'a', 'before');
      await src.link({ id: f, newParent: ROOT, newName: 'b' });
      const w = await src.openFile({ id: f, flags: { read: false, write: true, truncate: true } });
      await src.write({ handle: w.handle, offset: 0, data: Buffer.from('after') });
      await src.closeFile({ handle: w.handle });
      assert.equal(readFileSync(join(dirs.root, 'b'), 'utf8'), 'after');
      assert.equal(lstatSync(join(dirs.root, 'a')).ino, lstatSync(join(dirs.root, 'b')).ino);
    } finally {
      await src.close();
    }
  });

  it('closing the source discards unfinished writes', async () => {
    using dirs = localDirs();
    const src = await openLocal({ root: dirs.root });
    const f = await put(src, ROOT, 'f', 'kept');
    await src.create({ parent: ROOT, name: 'half', mode: 0o644 });
    const w = await src.openFile({ id: f, flags: { read: false, write: true } });
    await src.write({ handle: w.handle, offset: 0, data: Buffer.from('LOST') });
    await src.close();
    assert.deepEqual(readdirSync(dirs.root), ['f']);
    assert.equal(readFileSync(join(dirs.root, 'f'), 'utf8'), 'kept');
  });

  it('closeFile with abort throws the write away: no new file, old content kept', async () => {
    using dirs = localDirs();
    const src = await openLocal({ root: dirs.root });
    try {
      const f = await put(src, ROOT, 'f', 'old');
      const c = await src.create({ parent: ROOT, name: 'new', mode: 0o644 });
      await src.write({ handle: c.handle, offset: 0, data: Buffer.from('half') });
      await src.closeFile({ handle: c.handle, abort: true });
      const w = await src.openFile({ id: f, flags: { read: false, write: true } });
      await src.write({ handle: w.handle, offset: 0, data: Buffer.from('NEW') });
      await src.closeFile({ handle: w.handle, abort: true });
      assert.deepEqual(readdirSync(dirs.root), ['f']);
      assert.equal(await get(src, f), 'old');
      await assert.rejects(src.getattr({ id: c.id }), isErr('ESTALE'));
    } finally {
      await src.close();
    }
  });

  it('a write to a file removed before close goes nowhere', async () => {
    using dirs = localDirs();
    const src = await openLocal({ root: dirs.root });
    try {
      const f = await put(src, ROOT, 'f', 'x');
      const w = await src.openFile({ id: f, flags: { read: false, write: true } });
      await src.write({ handle: w.handle, offset: 0, data: Buffer.from('y') });
      await src.unlink({ parent: ROOT, name: 'f' });
      await src.closeFile({ handle: w.handle });
      assert.deepEqual(readdirSync(dirs.root), []);
    } finally {
      await src.close();
    }
  });

  it('setattr size without a handle truncates in place; with a write handle, the private copy', async () => {
    using dirs = localDirs();
    const src = await openLocal({ root: dirs.root });
    try {
      const f = await put(src, ROOT, 'f', '0123456789');
      const ino = lstatSync(join(dirs.root, 'f')).ino;
      assert.equal((await src.setattr({ id: f, size: 4 })).size, 4);
      assert.equal(lstatSync(join(dirs.root, 'f')).ino, ino);
      const w = await src.openFile({ id: f, flags: { read: true, write: true } });
      assert.equal((await src.setattr({ id: f, handle: w.handle, size: 2 })).size, 2);
      assert.equal(readFileSync(join(dirs.root, 'f'), 'utf8'), '0123', 'not visible before close');
      await src.closeFile({ handle: w.handle });
      assert.equal(readFileSync(join(dirs.root, 'f'), 'utf8'), '01');
    } finally {
      await src.close();
    }
  });
});
