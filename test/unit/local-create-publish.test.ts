import assert from 'node:assert/strict';
import {
  closeSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statfsSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FsError } from '../../src/core/fs-error.ts';
import { closePublish, createTemp } from '../../src/sources/local/linux-native.ts';
import { TEMP_PREFIX } from '../../src/sources/local/temp-files.ts';
import { localDirs, openLocal, ROOT } from './local-helpers.ts';

// Not skipped for an addon build without these calls: the loading test names that.
const skip = process.platform !== 'linux';
/** Descriptors of this process open on something under `dir` (others come and go with the runtime). */
function openFds(dir: string): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir)) n++;
    } catch {
      // closed meanwhile (the listing's own descriptor, say)
    }
  }
  return n;
}
const temps = (dir: string) => readdirSync(dir).filter((n) => n.startsWith(TEMP_PREFIX));
const isErr = (code: string) => (e: unknown) => FsError.is(e) && e.code === code;

/** Asserts a Node-style error of `code` from `syscall`. */
async function rejectsWith(
  p: Promise<unknown>,
  code: string,
  syscall: string,
): Promise<NodeJS.ErrnoException> {
  const caught = await p.then(
    () => assert.fail(`expected ${code}`),
    (err: NodeJS.ErrnoException) => err,
  );
  assert.equal(caught.code, code, caught.message);
  assert.equal(caught.syscall, syscall, caught.message);
  return caught;
}

function dirOf(path: string) {
  const st = lstatSync(path, { bigint: true });
  return { dir: path, dev: st.dev, ino: st.ino };
}

describe('linux-native: createTemp', { skip }, () => {
  it('makes the temp file with exactly the mode (the umask undone) and answers its fd and fstat', async () => {
    using dirs = localDirs();
    const before = openFds(dirs.base);
    const got = await createTemp({
      ...dirOf(dirs.root),
      name: 'a',
      tmpName: '.t1',
      mode: 0o777,
      append: false,
    });
    assert.equal(got.kind, 'created');
    if (got.kind !== 'created') return;
    try {
      assert.equal(openFds(dirs.base), before + 1);
      const st = fstatSync(got.fd, { bigint: true });
      assert.equal(got.st.ino, st.ino);
      assert.equal(got.st.dev, st.dev);
      assert.equal(got.st.mode, Number(st.mode));
      assert.equal(got.st.mode & 0o7777, 0o777, 'the umask narrowed it, fchmod widened it');
      assert.equal(got.st.mtimeNs, st.mtimeNs);
      assert.deepEqual(readdirSync(dirs.root), ['.t1'], 'only the temp name, not the final one');
    } finally {
      closeSync(got.fd);
    }
  });

  it('opens for appending when asked', async () => {
    using dirs = localDirs();
    const got = await createTemp({
      ...dirOf(dirs.root),
      name: 'a',
      tmpName: '.t',
      mode: 0o600,
      append: true,
    });
    assert.equal(got.kind, 'created');
    if (got.kind !== 'created') return;
    writeSync(got.fd, 'ab', 0);
    writeSync(got.fd, 'c', 0); // O_APPEND: a positioned write still goes to the end
    closeSync(got.fd);
    assert.equal(readFileSync(join(dirs.root, '.t'), 'utf8'), 'abc');
  });

  it('answers an existing name with its lstat (never followed) and makes nothing', async () => {
    using dirs = localDirs();
    writeFileSync(join(dirs.root, 'file'), 'x');
    mkdirSync(join(dirs.root, 'sub'));
    symlinkSync('sub', join(dirs.root, 'link'));
    const before = openFds(dirs.base);
    for (const [name, type] of [
      ['file', 0o100000],
      ['sub', 0o040000],
      ['link', 0o120000],
    ] as const) {
      const tmpName = `${TEMP_PREFIX}t`;
      const got = await createTemp({ ...dirOf(dirs.root), name, tmpName, mode: 0o644, append: false });
      assert.equal(got.kind, 'exists');
      if (got.kind === 'exists') {
        assert.equal(got.st.mode & 0o170000, type, name);
        assert.equal(got.st.ino, lstatSync(join(dirs.root, name), { bigint: true }).ino);
      }
    }
    assert.equal(openFds(dirs.base), before);
    assert.deepEqual(temps(dirs.root), []);
    assert.deepEqual(readdirSync(dirs.root).sort(), ['file', 'link', 'sub']);
  });

  it('answers moved for another inode at the path, a symlink to the directory, or no directory', async () => {
    using dirs = localDirs();
    const d = join(dirs.root, 'd');
    mkdirSync(d);
    const want = dirOf(d);
    const before = openFds(dirs.base);
    const args = { name: 'a', tmpName: '.t', mode: 0o644, append: false };
    assert.deepEqual(await createTemp({ ...want, ino: want.ino + 1n, ...args }), { kind: 'moved' });
    renameSync(d, join(dirs.root, 'e'));
    symlinkSync('e', d);
    assert.deepEqual(
      await createTemp({ ...want, ...args }),
      { kind: 'moved' },
      'a symlink is never followed',
    );
    rmSync(d);
    assert.deepEqual(await createTemp({ ...want, ...args }), { kind: 'moved' });
    assert.equal(openFds(dirs.base), before);
    assert.deepEqual(readdirSync(join(dirs.root, 'e')), [], 'nothing was made in the directory');
  });

  it('a failed open reports the syscall and path, leaves no fd and the file in the way alone', async () => {
    using dirs = localDirs();
    writeFileSync(join(dirs.root, '.t'), 'someone else');
    const before = openFds(dirs.base);
    const err = await rejectsWith(
      createTemp({ ...dirOf(dirs.root), name: 'a', tmpName: '.t', mode: 0o644, append: false }),
      'EEXIST',
      'open',
    );
    assert.equal(err.path, join(dirs.root, '.t'));
    assert.equal(openFds(dirs.base), before);
    assert.equal(readFileSync(join(dirs.root, '.t'), 'utf8'), 'someone else');
  });

  it('refuses a NUL in a path or name, a slash in a name, and a mode beyond permission bits', async () => {
    using dirs = localDirs();
    const d = dirOf(dirs.root);
    const args = { name: 'a', tmpName: '.t', mode: 0o644, append: false };
    await rejectsWith(createTemp({ ...d, ...args, dir: `${dirs.root}\0x` }), 'EINVAL', 'open');
    await rejectsWith(createTemp({ ...d, ...args, name: 'a\0b' }), 'EINVAL', 'open');
    await rejectsWith(createTemp({ ...d, ...args, tmpName: 'x/y' }), 'EINVAL', 'open');
    await rejectsWith(createTemp({ ...d, ...args, mode: 0o100644 }), 'EINVAL', 'open');
    assert.deepEqual(readdirSync(dirs.root), []);
  });
});

describe('linux-native: closePublish', { skip }, () => {
  /** A temp file open for writing in `dir`, as createTemp leaves it. */
  function temp(dir: string, name = '.t'): number {
    return openSync(join(dir, name), 'wx+', 0o644);
  }

  it('writes, closes and renames in one job (replacing the name without noReplace)', async () => {
    using dirs = localDirs();
    writeFileSync(join(dirs.root, 'old'), 'old');
    const before = openFds(dirs.base);
    const fd = temp(dirs.root);
    const from = join(dirs.root, '.t');
    await closePublish({
      fd,
      data: Buffer.from('hello'),
      offset: 2,
      from,
      to: join(dirs.root, 'a'),
      noReplace: true,
    });
    assert.equal(openFds(dirs.base), before, 'the descriptor is closed');
    assert.equal(readFileSync(join(dirs.root, 'a'), 'latin1'), '\0\0hello');
    const fd2 = temp(dirs.root);
    await closePublish({
      fd: fd2,
      data: undefined,
      offset: 0,
      from,
      to: join(dirs.root, 'old'),
      noReplace: false,
    });
    assert.equal(readFileSync(join(dirs.root, 'old'), 'utf8'), '');
    assert.deepEqual(readdirSync(dirs.root).sort(), ['a', 'old']);
    assert.equal(openFds(dirs.base), before);
  });

  it('a failed write does nothing else: the fd stays open and the temp file unpublished', async () => {
    using dirs = localDirs();
    writeFileSync(join(dirs.root, '.t'), 'ro');
    const fd = openSync(join(dirs.root, '.t'), 'r');
    try {
      const from = join(dirs.root, '.t');
      await rejectsWith(
        closePublish({
          fd,
          data: Buffer.from('x'),
          offset: 0,
          from,
          to: join(dirs.root, 'a'),
          noReplace: true,
        }),
        'EBADF',
        'pwrite',
      );
      assert.ok(fstatSync(fd).isFile(), 'still open');
      assert.deepEqual(readdirSync(dirs.root), ['.t']);
    } finally {
      closeSync(fd);
    }
  });

  it('EEXIST with noReplace leaves both files; ENOENT when the directory is gone; the fd closed either way', async () => {
    using dirs = localDirs();
    writeFileSync(join(dirs.root, 'taken'), 'T');
    const before = openFds(dirs.base);
    const from = join(dirs.root, '.t');
    const err = await rejectsWith(
      closePublish({
        fd: temp(dirs.root),
        data: Buffer.from('A'),
        offset: 0,
        from,
        to: join(dirs.root, 'taken'),
        noReplace: true,
      }),
      'EEXIST',
      'rename',
    );
    assert.equal(err.path, from);
    assert.equal(openFds(dirs.base), before);
    assert.equal(readFileSync(join(dirs.root, 'taken'), 'utf8'), 'T');
    assert.equal(readFileSync(from, 'utf8'), 'A');

    const d = join(dirs.root, 'd');
    mkdirSync(d);
    const fd = temp(d);
    renameSync(d, join(dirs.root, 'moved'));
    await rejectsWith(
      closePublish({
        fd,
        data: Buffer.from('B'),
        offset: 0,
        from: join(d, '.t'),
        to: join(d, 'b'),
        noReplace: false,
      }),
      'ENOENT',
      'rename',
    );
    assert.equal(openFds(dirs.base), before);
    assert.equal(
      readFileSync(join(dirs.root, 'moved', '.t'), 'utf8'),
      'B',
      'written before the rename failed',
    );
  });

  it('refuses a NUL in a path before doing anything', async () => {
    using dirs = localDirs();
    const fd = temp(dirs.root);
    try {
      const from = join(dirs.root, '.t');
      await rejectsWith(
        closePublish({
          fd,
          data: Buffer.from('x'),
          offset: 0,
          from,
          to: `${dirs.root}/a\0b`,
          noReplace: true,
        }),
        'EINVAL',
        'pwrite',
      );
      assert.ok(fstatSync(fd).isFile(), 'still open');
      assert.equal(readFileSync(from, 'utf8'), '');
    } finally {
      closeSync(fd);
    }
  });
});

describe('local source: a close carrying its write publishes a created file in one job', { skip }, () => {
  it('publishes the file whole under its name, with its id, mode and no fd or temp file left', async () => {
    using dirs = localDirs();
    const src = await openLocal({ root: dirs.root });
    try {
      const before = openFds(dirs.base);
      const c = await src.create({ parent: ROOT, name: 'a', mode: 0o777, exclusive: true });
      await src.closeFile({ handle: c.handle, write: { offset: 0, data: Buffer.from('whole') } });
      assert.equal(openFds(dirs.base), before);
      assert.deepEqual(readdirSync(dirs.root), ['a']);
      assert.equal(readFileSync(join(dirs.root, 'a'), 'utf8'), 'whole');
      assert.equal(lstatSync(join(dirs.root, 'a')).mode & 0o7777, 0o777);
      assert.equal((await src.lookup({ parent: ROOT, name: 'a' })).id, c.id);
      await assert.rejects(src.read({ handle: c.handle, offset: 0, length: 1 }), isErr('EBADF'), 'closed');
    } finally {
      await src.close();
    }
  });

  it('an exclusive create whose name another writer took meanwhile fails EEXIST at close, leaving theirs', async () => {
    using dirs = localDirs();
    const src = await openLocal({ root: dirs.root });
    try {
      const before = openFds(dirs.base);
      const c = await src.create({ parent: ROOT, name: 'a', mode: 0o644, exclusive: true });
      writeFileSync(join(dirs.root, 'a'), 'theirs');
      await assert.rejects(
        src.closeFile({ handle: c.handle, write: { offset: 0, data: Buffer.from('mine') } }),
        isErr('EEXIST'),
      );
      assert.equal(openFds(dirs.base), before);
      assert.deepEqual(readdirSync(dirs.root), ['a']);
      assert.equal(readFileSync(join(dirs.root, 'a'), 'utf8'), 'theirs');
    } finally {
      await src.close();
    }
  });

  it('a file whose directory moved before the close is published where the directory is now', async () => {
    using dirs = localDirs();
    mkdirSync(join(dirs.root, 'd'));
    const src = await openLocal({ root: dirs.root });
    try {
      const d = await src.lookup({ parent: ROOT, name: 'd' });
      const c = await src.create({ parent: d.id, name: 'a', mode: 0o644 });
      renameSync(join(dirs.root, 'd'), join(dirs.root, 'e'));
      await src.lookup({ parent: ROOT, name: 'e' }); // the id map learns where it is now
      await src.closeFile({ handle: c.handle, write: { offset: 0, data: Buffer.from('here') } });
      assert.deepEqual(readdirSync(join(dirs.root, 'e')), ['a']);
      assert.equal(readFileSync(join(dirs.root, 'e', 'a'), 'utf8'), 'here');
    } finally {
      await src.close();
    }
  });

  it('a write that fails in the one job (ENOSPC) leaves the handle open and the file unpublished', async (t) => {
    using dirs = localDirs();
    const small = join(dirs.base, 'small');
    mkdirSync(small);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tessera-test', small], { stdio: 'ignore' });
    } catch {
      return t.skip('cannot mount a small tmpfs here (needs root)');
    }
    try {
      const src = await openLocal({ root: small });
      try {
        const c = await src.create({ parent: ROOT, name: 'a', mode: 0o644, exclusive: true });
        // Within the one-job size (8 MiB) and past the file system's 64 KiB.
        const big = { offset: 0, data: Buffer.alloc(256 * 1024, 1) };
        await assert.rejects(src.closeFile({ handle: c.handle, write: big }), isErr('ENOSPC'));
        assert.equal(temps(small).length, 1, 'not published');
        assert.ok(!readdirSync(small).includes('a'));
        await src.setattr({ id: c.id, handle: c.handle, size: 0 });
        await src.closeFile({ handle: c.handle, write: { offset: 0, data: Buffer.from('fits') } });
        assert.deepEqual(readdirSync(small), ['a']);
        assert.equal(readFileSync(join(small, 'a'), 'utf8'), 'fits');
      } finally {
        await src.close();
      }
    } finally {
      execFileSync('umount', [small]);
    }
  });

  it('a write the file system refuses past 8 MiB (the general way) leaves the handle open and the file unpublished', async (t) => {
    using dirs = localDirs();
    // ext4 refuses a write past 16 TiB with EFBIG (tmpfs would take it, sparse).
    if (statfsSync(dirs.root).type !== 0xef53) return t.skip('needs ext4 for a refused write');
    const src = await openLocal({ root: dirs.root });
    try {
      const c = await src.create({ parent: ROOT, name: 'a', mode: 0o644 });
      await src.write({ handle: c.handle, offset: 0, data: Buffer.from('kept') });
      const far = { offset: 2 ** 50, data: Buffer.from('x') };
      await assert.rejects(src.closeFile({ handle: c.handle, write: far }), isErr('EFBIG'));
      assert.equal(temps(dirs.root).length, 1, 'not published');
      assert.equal((await src.getattr({ id: c.id })).size, 4, 'the handle still knows its file');
      await src.closeFile({ handle: c.handle, write: { offset: 4, data: Buffer.from('!') } });
      assert.deepEqual(readdirSync(dirs.root), ['a']);
      assert.equal(readFileSync(join(dirs.root, 'a'), 'utf8'), 'kept!');
    } finally {
      await src.close();
    }
  });
});
