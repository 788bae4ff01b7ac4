import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FsError } from '../../src/core/fs-error.ts';
import {
  FLOCK_OP,
  IN,
  Inotify,
  type InotifyEvent,
  fgetxattr,
  flistxattr,
  fremovexattr,
  fsetxattr,
  lgetxattr,
  llistxattr,
  lremovexattr,
  lsetxattr,
  lstatBatch,
  createPublishAvailable,
  nativeAvailable,
  nativeLoadError,
  ofdGetLock,
  flock,
  ofdSetLock,
  renameNoReplace,
  writeDirect,
} from '../../src/sources/local/linux-native.ts';

const linux = process.platform === 'linux';
const wrapperUrl = new URL('../../src/sources/local/linux-native.ts', import.meta.url);

/** Asserts that `promise` rejects with a Node-style system error of `code`. */
async function rejectsWith(
  promise: Promise<unknown>,
  code: string,
  syscall?: string,
): Promise<NodeJS.ErrnoException> {
  let caught: unknown;
  await promise.then(
    (value) => assert.fail(`expected ${code}, got success: ${String(value)}`),
    (err: unknown) => (caught = err),
  );
  assert.ok(caught instanceof Error, `expected an Error, got ${String(caught)}`);
  const err = caught as NodeJS.ErrnoException;
  assert.equal(err.code, code, err.message);
  assert.equal(typeof err.errno, 'number');
  assert.ok(err.errno! < 0, 'errno is negative, as in Node');
  if (syscall !== undefined) assert.equal(err.syscall, syscall);
  return err;
}

function throwsWith(fn: () => unknown, code: string): NodeJS.ErrnoException {
  try {
    fn();
  } catch (err) {
    assert.equal((err as NodeJS.ErrnoException).code, code, String(err));
    return err as NodeJS.ErrnoException;
  }
  assert.fail(`expected ${code}, got success`);
}

let root = '';
before(() => {
  root = mkdtempSync(join(tmpdir(), 'tessera-native-'));
});
after(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

void describe('linux-native: loading', { skip: !linux }, () => {
  void it('loads the addon on Linux', () => {
    assert.equal(nativeAvailable, true, `addon did not load: ${nativeLoadError?.message}`);
    assert.equal(nativeLoadError, undefined);
    // The local source quietly takes its general path without them: an old build shows here.
    assert.ok(
      createPublishAvailable,
      'the addon lacks createTemp/closePublish: rebuild it (node native/install.mjs)',
    );
  });

  void it('mirrors the kernel constants the addon was compiled with', () => {
    const file = fileURLToPath(new URL('../../build/Release/tessera_linux.node', import.meta.url));
    const { constants } = createRequire(import.meta.url)(file) as { constants: Record<string, number> };
    for (const [key, value] of Object.entries(IN)) assert.equal(value, constants[`IN_${key}`], `IN.${key}`);
    assert.equal(constants.XATTR_CREATE, 1);
    assert.equal(constants.XATTR_REPLACE, 2);
    assert.deepEqual([constants.F_RDLCK, constants.F_WRLCK, constants.F_UNLCK], [0, 1, 2]);
    assert.deepEqual(
      [constants.LOCK_SH, constants.LOCK_EX, constants.LOCK_UN],
      [FLOCK_OP.read, FLOCK_OP.write, FLOCK_OP.unlock],
    );
    assert.equal(constants.STAT_BATCH_BYTES, 5 * 8 + 6 * 8 + 4, 'the batched lstat result layout');
  });
});

void describe('linux-native: extended attributes', { skip: !linux }, () => {
  void it('sets, gets, lists and removes by path', async () => {
    const file = join(root, 'x-path');
    writeFileSync(file, 'data');
    const bin = Buffer.from([0, 1, 2, 255, 0]);
    await lsetxattr(file, 'user.bin', bin);
    await lsetxattr(file, 'user.empty', new Uint8Array(0));
    await lsetxattr(file, 'user.big', Buffer.alloc(4000, 7));
    assert.deepEqual(await lgetxattr(file, 'user.bin'), bin);
    assert.equal((await lgetxattr(file, 'user.empty')).length, 0);
    assert.deepEqual(await lgetxattr(file, 'user.big'), Buffer.alloc(4000, 7));
    assert.deepEqual((await llistxattr(file)).filter((n) => n.startsWith('user.')).sort(), [
      'user.big',
      'user.bin',
      'user.empty',
    ]);
    await lremovexattr(file, 'user.bin');
    assert.deepEqual((await llistxattr(file)).filter((n) => n.startsWith('user.')).sort(), [
      'user.big',
      'user.empty',
    ]);
    await rejectsWith(lgetxattr(file, 'user.bin'), 'ENODATA', 'lgetxattr');
    await rejectsWith(lremovexattr(file, 'user.bin'), 'ENODATA', 'lremovexattr');
  });

  void it('copies the value at call time', async () => {
    const file = join(root, 'x-copy');
    writeFileSync(file, '');
    const value = Buffer.from('before');
    const pending = lsetxattr(file, 'user.v', value);
    value.write('AFTER!');
    await pending;
    assert.equal((await lgetxattr(file, 'user.v')).toString(), 'before');
  });

  void it('sets, gets, lists and removes by fd', async () => {
    const file = join(root, 'x-fd');
    writeFileSync(file, '');
    const fd = openSync(file, 'r+');
    try {
      await fsetxattr(fd, 'user.k', Buffer.from('v1'));
      assert.equal((await fgetxattr(fd, 'user.k')).toString(), 'v1');
      assert.equal((await lgetxattr(file, 'user.k')).toString(), 'v1', 'visible by path too');
      assert.ok((await flistxattr(fd)).includes('user.k'));
      await fsetxattr(fd, 'user.k', Buffer.from('v2'), 'replace');
      await rejectsWith(fsetxattr(fd, 'user.k', Buffer.from('v3'), 'create'), 'EEXIST', 'fsetxattr');
      assert.equal((await fgetxattr(fd, 'user.k')).toString(), 'v2');
      await fremovexattr(fd, 'user.k');
      await rejectsWith(fgetxattr(fd, 'user.k'), 'ENODATA', 'fgetxattr');
      assert.ok(!(await flistxattr(fd)).includes('user.k'));
    } finally {
      closeSync(fd);
    }
    await rejectsWith(fgetxattr(fd, 'user.k'), 'EBADF', 'fgetxattr');
  });

  void it('honours create and replace modes', async () => {
    const file = join(root, 'x-modes');
    writeFileSync(file, '');
    await rejectsWith(lsetxattr(file, 'user.m', Buffer.from('r'), 'replace'), 'ENODATA', 'lsetxattr');
    await rejectsWith(lgetxattr(file, 'user.m'), 'ENODATA');
    await lsetxattr(file, 'user.m', Buffer.from('c'), 'create');
    const err = await rejectsWith(
      lsetxattr(file, 'user.m', Buffer.from('c2'), 'create'),
      'EEXIST',
      'lsetxattr',
    );
    assert.equal(err.path, file);
    assert.equal((await lgetxattr(file, 'user.m')).toString(), 'c');
    await lsetxattr(file, 'user.m', Buffer.from('r'), 'replace');
    assert.equal((await lgetxattr(file, 'user.m')).toString(), 'r');
    await lsetxattr(file, 'user.m', Buffer.from('any'));
    assert.equal((await lgetxattr(file, 'user.m')).toString(), 'any');
  });

  void it('fails like Node fs on a missing file, and FsError.from maps it', async () => {
    const missing = join(root, 'no-such-file');
    const err = await rejectsWith(lgetxattr(missing, 'user.a'), 'ENOENT', 'lgetxattr');
    assert.equal(err.errno, -2);
    assert.equal(err.path, missing);
    assert.match(err.message, /^ENOENT: no such file or directory, lgetxattr '.*no-such-file'$/);
    await rejectsWith(lsetxattr(missing, 'user.a', Buffer.from('x')), 'ENOENT', 'lsetxattr');
    await rejectsWith(llistxattr(missing), 'ENOENT', 'llistxattr');
    await rejectsWith(lremovexattr(missing, 'user.a'), 'ENOENT', 'lremovexattr');
    const mapped = FsError.from(err, 'getxattr', '/no-such-file');
    assert.equal(mapped.code, 'ENOENT');
    const nodata = FsError.from(await rejectsWith(lgetxattr(root, 'user.none'), 'ENODATA'), 'getxattr');
    assert.equal(nodata.code, 'ENODATA');
  });

  void it('does not follow a final symlink', async () => {
    const target = join(root, 'x-target');
    const link = join(root, 'x-link');
    writeFileSync(target, '');
    symlinkSync(target, link);
    await lsetxattr(target, 'user.t', Buffer.from('on-target'));
    await rejectsWith(lgetxattr(link, 'user.t'), 'ENODATA', 'lgetxattr');
    assert.ok(!(await llistxattr(link)).includes('user.t'));
    // The kernel refuses user.* attributes on symlinks; following would have written the target.
    await rejectsWith(lsetxattr(link, 'user.t', Buffer.from('x')), 'EPERM', 'lsetxattr');
    assert.equal((await lgetxattr(target, 'user.t')).toString(), 'on-target');
  });

  void it('rejects bad arguments with EINVAL instead of reaching the kernel', async () => {
    const file = join(root, 'x-args');
    writeFileSync(file, '');
    await rejectsWith(lgetxattr(`${file}\0ignored`, 'user.a'), 'EINVAL');
    await rejectsWith(lgetxattr(file, 'user.a\0b'), 'EINVAL');
    await rejectsWith(lsetxattr(file, 'user.a', 'text' as unknown as Uint8Array), 'EINVAL');
    await rejectsWith(lsetxattr(file, 'user.a', Buffer.from('x'), 'upsert' as 'create'), 'EINVAL');
    await rejectsWith(fgetxattr(-1, 'user.a'), 'EINVAL');
    await rejectsWith(fgetxattr(1.5, 'user.a'), 'EINVAL');
    assert.ok(!(await llistxattr(file)).includes('user.a'), 'nothing was written');
  });
});

void describe('linux-native: OFD locks', { skip: !linux }, () => {
  let file = '';
  let fd1 = -1;
  let fd2 = -1;
  before(() => {
    file = join(root, 'locks');
    writeFileSync(file, 'content');
  });
  function reopen(): void {
    for (const fd of [fd1, fd2]) if (fd >= 0) closeSync(fd);
    fd1 = openSync(file, 'r+');
    fd2 = openSync(file, 'r+');
  }
  after(() => {
    for (const fd of [fd1, fd2]) if (fd >= 0) closeSync(fd);
  });

  void it('a write lock on one open file conflicts with another, in the same process', async () => {
    reopen();
    await ofdSetLock(fd1, 'write', 0, 100);
    await rejectsWith(ofdSetLock(fd2, 'write', 50, 10), 'EAGAIN', 'fcntl');
    await rejectsWith(ofdSetLock(fd2, 'read', 99, 1), 'EAGAIN', 'fcntl');
    await ofdSetLock(fd2, 'read', 100, 10); // adjacent, not overlapping
    assert.deepEqual(await ofdGetLock(fd2, 'read', 0, 0), { type: 'write', start: 0, length: 100, pid: -1 });
    // fd1's own lock never conflicts with itself; fd2's read lock does conflict with a write.
    assert.deepEqual(await ofdGetLock(fd1, 'write', 0, 0), { type: 'read', start: 100, length: 10, pid: -1 });
    assert.equal(await ofdGetLock(fd1, 'read', 0, 0), null, 'read does not conflict with read');
  });

  void it('unlock frees the range', async () => {
    reopen();
    await ofdSetLock(fd1, 'write', 0, 100);
    await ofdSetLock(fd1, 'unlock', 0, 50);
    await ofdSetLock(fd2, 'write', 0, 50);
    await rejectsWith(ofdSetLock(fd2, 'write', 50, 1), 'EAGAIN');
    await ofdSetLock(fd1, 'unlock', 0, 0);
    assert.equal(await ofdGetLock(fd2, 'write', 0, 0), null);
    await ofdSetLock(fd2, 'write', 0, 0);
  });

  void it('read locks are shared and block writers', async () => {
    reopen();
    await ofdSetLock(fd1, 'read', 0, 10);
    await ofdSetLock(fd2, 'read', 0, 10);
    await rejectsWith(ofdSetLock(fd2, 'write', 0, 10), 'EAGAIN');
    assert.deepEqual(await ofdGetLock(fd2, 'write', 5, 1), { type: 'read', start: 0, length: 10, pid: -1 });
  });

  void it('length 0 locks to end of file, and offsets beyond 4 GiB work', async () => {
    reopen();
    const big = 2 ** 40;
    await ofdSetLock(fd1, 'write', big, 0);
    await rejectsWith(ofdSetLock(fd2, 'write', 2 ** 52, 1), 'EAGAIN');
    await ofdSetLock(fd2, 'write', big - 10, 10);
    assert.deepEqual(await ofdGetLock(fd2, 'read', big + 5, 0), {
      type: 'write',
      start: big,
      length: 0,
      pid: -1,
    });
  });

  void it('closing the holding fd releases its locks', async () => {
    reopen();
    await ofdSetLock(fd1, 'write', 0, 0);
    await rejectsWith(ofdSetLock(fd2, 'write', 0, 1), 'EAGAIN');
    closeSync(fd1);
    fd1 = -1;
    assert.equal(await ofdGetLock(fd2, 'write', 0, 0), null);
    await ofdSetLock(fd2, 'write', 0, 0);
  });

  void it('rejects bad arguments and bad fds', async () => {
    reopen();
    await rejectsWith(ofdSetLock(fd1, 'write', -1, 10), 'EINVAL');
    await rejectsWith(ofdSetLock(fd1, 'write', 0, 1.5), 'EINVAL');
    await rejectsWith(ofdSetLock(fd1, 'write', 2 ** 53, 1), 'EINVAL');
    await rejectsWith(ofdSetLock(fd1, 'exclusive' as 'write', 0, 1), 'EINVAL');
    await rejectsWith(ofdGetLock(fd1, 'unlock' as 'write', 0, 1), 'EINVAL');
    const fd = openSync(file, 'r');
    closeSync(fd);
    await rejectsWith(ofdSetLock(fd, 'read', 0, 1), 'EBADF', 'fcntl');
    // A write lock needs a writable open file.
    const ro = openSync(file, 'r');
    try {
      await rejectsWith(ofdSetLock(ro, 'write', 0, 1), 'EBADF', 'fcntl');
    } finally {
      closeSync(ro);
    }
  });
});

void describe('linux-native: flock', { skip: !linux }, () => {
  void it('flock conflicts between open files, never with OFD locks, on one description or two', async () => {
    const file = join(root, 'flocks');
    writeFileSync(file, 'content');
    const fd1 = openSync(file, 'r'); // flock needs no write access, unlike a write OFD lock
    const fd2 = openSync(file, 'r+');
    try {
      await flock(fd1, 'write');
      await rejectsWith(flock(fd2, 'read'), 'EAGAIN', 'flock');
      // The two spaces are apart, also on the very descriptor that holds the flock.
      await ofdSetLock(fd2, 'write', 0, 0);
      await flock(fd1, 'write');
      await rejectsWith(ofdSetLock(fd1, 'read', 0, 1), 'EAGAIN', 'fcntl');
      await ofdSetLock(fd2, 'unlock', 0, 0);
      await ofdSetLock(fd1, 'read', 0, 0);
      await flock(fd1, 'read'); // converting the flock leaves the OFD lock alone
      assert.deepEqual(await ofdGetLock(fd2, 'write', 0, 0), { type: 'read', start: 0, length: 0, pid: -1 });
      await flock(fd2, 'read');
      await rejectsWith(flock(fd2, 'write'), 'EAGAIN', 'flock');
      await flock(fd1, 'unlock');
      await flock(fd2, 'write');
      await rejectsWith(flock(fd1, 'bad' as 'read'), 'EINVAL', 'flock');
    } finally {
      closeSync(fd1);
      closeSync(fd2);
    }
  });
});

/** Collects events and lets a test wait for one matching a predicate (in arrival order). */
class Collector {
  readonly events: InotifyEvent[] = [];
  overflows = 0;
  #waiters: { match: (ev: InotifyEvent) => boolean; resolve: (ev: InotifyEvent) => void }[] = [];
  readonly onEvent = (ev: InotifyEvent): void => {
    this.events.push(ev);
    this.#waiters = this.#waiters.filter((w) => !(w.match(ev) && (w.resolve(ev), true)));
  };
  readonly onOverflow = (): void => {
    this.overflows++;
    for (const w of this.#waiters) w.resolve({ wd: -1, mask: IN.Q_OVERFLOW, cookie: 0, name: '' });
    this.#waiters = [];
  };
  waitFor(match: (ev: InotifyEvent) => boolean): Promise<InotifyEvent> {
    const seen = this.events.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.#waiters.push({ match, resolve }));
  }
}

/**
 * A ref'd Inotify for a test that awaits events (unref'd, the default, would let the loop run
 * dry); closed if the test is cancelled, so a missing event fails the test instead of hanging.
 */
function watcher(t: TestContext, c: Collector): Inotify {
  const ino = new Inotify(c).ref();
  t.signal.addEventListener('abort', () => ino.close(), { once: true });
  return ino;
}

const is = (mask: number, name: string) => (ev: InotifyEvent) => (ev.mask & mask) !== 0 && ev.name === name;

/**
 * Runs a TS script in a child node (through tsx) and resolves with its exit code and stdout.
 * The child is killed when the test is cancelled (e.g. it timed out because the child never
 * exited), so a regression fails the test instead of hanging the run.
 */
function runChild(
  t: TestContext,
  script: string,
  onStdout?: (text: string) => void,
): Promise<{ code: number | null; out: string }> {
  const file = join(root, `child-${Math.random().toString(36).slice(2)}.ts`);
  writeFileSync(file, script);
  const child = spawn(process.execPath, ['--import', 'tsx', file], {
    stdio: ['ignore', 'pipe', 'inherit'],
    signal: t.signal,
  });
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (text: string) => {
    out += text;
    onStdout?.(out);
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

void describe('linux-native: inotify', { skip: !linux }, () => {
  void it(
    'reports create, modify, delete and a rename pair with one cookie',
    { timeout: 30_000 },
    async (t) => {
      const dir = join(root, 'ino-basic');
      mkdirSync(dir);
      const c = new Collector();
      const ino = watcher(t, c);
      try {
        const wd = ino.add(dir, IN.CREATE | IN.MODIFY | IN.DELETE | IN.MOVED_FROM | IN.MOVED_TO);
        assert.ok(wd > 0);
        writeFileSync(join(dir, 'a'), 'hello');
        renameSync(join(dir, 'a'), join(dir, 'b'));
        mkdirSync(join(dir, 'sub'));
        unlinkSync(join(dir, 'b'));
        await c.waitFor(is(IN.DELETE, 'b'));
        const summary = c.events.map(
          (ev) => `${ev.name}:${ev.mask & ~IN.ISDIR}${ev.mask & IN.ISDIR ? '/dir' : ''}`,
        );
        assert.deepEqual(summary, [
          `a:${IN.CREATE}`,
          `a:${IN.MODIFY}`,
          `a:${IN.MOVED_FROM}`,
          `b:${IN.MOVED_TO}`,
          `sub:${IN.CREATE}/dir`,
          `b:${IN.DELETE}`,
        ]);
        assert.ok(c.events.every((ev) => ev.wd === wd));
        const [from, to] = [c.events[2]!, c.events[3]!];
        assert.notEqual(from.cookie, 0);
        assert.equal(from.cookie, to.cookie);
        assert.equal(c.events[0]!.cookie, 0);
      } finally {
        ino.close();
      }
    },
  );

  void it('remove() stops the events of that watch only', { timeout: 30_000 }, async (t) => {
    const gone = join(root, 'ino-removed');
    const kept = join(root, 'ino-kept');
    mkdirSync(gone);
    mkdirSync(kept);
    const c = new Collector();
    const ino = watcher(t, c);
    try {
      const wdGone = ino.add(gone, IN.CREATE);
      const wdKept = ino.add(kept, IN.CREATE);
      assert.notEqual(wdGone, wdKept);
      ino.remove(wdGone);
      await c.waitFor((ev) => ev.wd === wdGone && (ev.mask & IN.IGNORED) !== 0);
      writeFileSync(join(gone, 'silent'), '');
      // One inotify queue is ordered: once the later event arrives, the earlier one would have.
      writeFileSync(join(kept, 'barrier'), '');
      await c.waitFor(is(IN.CREATE, 'barrier'));
      assert.equal(c.events.filter((ev) => ev.name === 'silent').length, 0);
      ino.remove(wdGone); // already gone: no error
      ino.remove(987654); // never existed: no error
    } finally {
      ino.close();
    }
  });

  void it('never follows a symlink and reports failures Node-style', () => {
    const dir = join(root, 'ino-errors');
    mkdirSync(dir);
    symlinkSync(dir, join(root, 'ino-link'));
    const ino = new Inotify({ onEvent: () => {} });
    try {
      // The link itself is not a directory; following it would have found one.
      const err = throwsWith(() => ino.add(join(root, 'ino-link'), IN.CREATE | IN.ONLYDIR), 'ENOTDIR');
      assert.equal(err.syscall, 'inotify_add_watch');
      assert.ok(ino.add(dir, IN.CREATE | IN.ONLYDIR) > 0);
      const missing = throwsWith(() => ino.add(join(root, 'ino-missing'), IN.CREATE), 'ENOENT');
      assert.equal(missing.errno, -2);
      assert.equal(missing.path, join(root, 'ino-missing'));
      throwsWith(() => ino.add(dir, 0), 'EINVAL');
      throwsWith(() => ino.add(`${dir}\0x`, IN.CREATE), 'EINVAL');
    } finally {
      ino.close();
    }
    ino.close(); // idempotent
    assert.equal(ino.closed, true);
    throwsWith(() => ino.add(dir, IN.CREATE), 'EBADF');
    ino.remove(1); // every watch went with close(): no error
  });

  void it('reports a queue overflow through onOverflow', { timeout: 30_000 }, async (t) => {
    const dir = join(root, 'ino-overflow');
    mkdirSync(dir);
    for (const n of ['p', 'q']) writeFileSync(join(dir, n), '');
    const c = new Collector();
    const ino = watcher(t, c);
    try {
      ino.add(dir, IN.ATTRIB);
      // Alternate names so the kernel cannot merge consecutive identical events; staying
      // synchronous means nothing reads the queue until it has overflowed.
      for (let i = 0; i < 17_000; i++) utimesSync(join(dir, i % 2 ? 'p' : 'q'), i, i);
      await c.waitFor(() => false);
      assert.equal(c.overflows, 1);
      assert.ok(c.events.length >= 16_000, `queued events before the overflow: ${c.events.length}`);
      assert.ok(c.events.every((ev) => ev.mask === IN.ATTRIB));
    } finally {
      ino.close();
    }
  });

  void it(
    'does not keep the process alive on its own, and close() releases a ref',
    { timeout: 30_000 },
    async (t) => {
      const dir = join(root, 'ino-exit');
      mkdirSync(dir);
      const url = JSON.stringify(wrapperUrl.href);
      // Unref'd (the default), open and watching: the child must still exit.
      const idle = await runChild(
        t,
        `import { Inotify, IN } from ${url};\n` +
          `const ino = new Inotify({ onEvent: () => {} });\n` +
          `ino.add(${JSON.stringify(dir)}, IN.CREATE);\n` +
          `console.log('watching');\n`,
      );
      assert.deepEqual(idle, { code: 0, out: 'watching\n' });

      // Ref'd: the child stays alive until our event arrives, then close() lets it exit.
      let created = false;
      const busy = await runChild(
        t,
        `import { Inotify, IN } from ${url};\n` +
          `const ino = new Inotify({ onEvent: (ev) => { console.log('event ' + ev.name); ino.close(); } }).ref();\n` +
          `ino.add(${JSON.stringify(dir)}, IN.CREATE);\n` +
          `console.log('ready');\n`,
        (out) => {
          if (!created && out.includes('ready\n')) {
            created = true;
            writeFileSync(join(dir, 'poke'), '');
          }
        },
      );
      assert.deepEqual(busy, { code: 0, out: 'ready\nevent poke\n' });
    },
  );

  void it('delivers the rest of a batch when a listener throws', { timeout: 30_000 }, async (t) => {
    const dir = join(root, 'ino-throw');
    mkdirSync(dir);
    const url = JSON.stringify(wrapperUrl.href);
    const res = await runChild(
      t,
      `import { writeFileSync } from 'node:fs';\n` +
        `import { Inotify, IN } from ${url};\n` +
        `const names: string[] = [];\n` +
        `process.on('uncaughtException', (err) => console.log('uncaught ' + err.message));\n` +
        `const ino = new Inotify({ onEvent: (ev) => {\n` +
        `  names.push(ev.name);\n` +
        `  if (ev.name === 'one') throw new Error('boom');\n` +
        `  if (ev.name === 'two') { console.log('seen ' + names.join(',')); ino.close(); }\n` +
        `} }).ref();\n` +
        `ino.add(${JSON.stringify(dir)}, IN.CREATE);\n` +
        `writeFileSync(${JSON.stringify(join(dir, 'one'))}, '');\n` +
        `writeFileSync(${JSON.stringify(join(dir, 'two'))}, '');\n`,
    );
    assert.equal(res.code, 0);
    assert.deepEqual(res.out.trim().split('\n').sort(), ['seen one,two', 'uncaught boom']);
  });
});

void describe('linux-native: batched lstat', { skip: !linux }, () => {
  const gone = (code: string) => code === 'ENOENT';

  it('gives every figure fs.lstat gives, for files, directories, symlinks and fifos alike', async () => {
    const dir = mkdtempSync(join(root, 'batch-'));
    writeFileSync(join(dir, 'file'), 'hello');
    mkdirSync(join(dir, 'sub'));
    symlinkSync('file', join(dir, 'link'));
    symlinkSync('/nowhere', join(dir, 'dangling'));
    utimesSync(join(dir, 'file'), new Date(1_600_000_000_123), new Date(1_500_000_000_456));
    // More than one job's worth of names, in an order unlike the directory's own.
    const many = Array.from({ length: 1100 }, (_, i) => `n${(i * 7919) % 1100}`);
    for (const n of many) writeFileSync(join(dir, n), n);
    const names = ['file', 'sub', 'link', 'dangling', 'missing', ...many];
    const got = await lstatBatch({ dir, names, map: (st, i) => ({ st, i }), gone });
    assert.equal(got.length, names.length);
    assert.equal(got[4], undefined, 'a missing entry gives undefined');
    for (const [i, name] of names.entries()) {
      if (name === 'missing') continue;
      const want = lstatSync(join(dir, name), { bigint: true });
      const entry = got[i]!;
      assert.equal(entry.i, i);
      const { st } = entry;
      for (const key of ['dev', 'ino', 'atimeNs', 'mtimeNs', 'ctimeNs', 'birthtimeNs'] as const)
        assert.equal(st[key], want[key], `${name}: ${key}`);
      for (const key of ['mode', 'nlink', 'uid', 'gid', 'size'] as const)
        assert.equal(BigInt(st[key]), want[key], `${name}: ${key}`);
    }
  });

  it('rejects an entry that fails otherwise, a directory that is not one, and names with a slash', async () => {
    const dir = mkdtempSync(join(root, 'batch-err-'));
    writeFileSync(join(dir, 'file'), 'x');
    const notGone = () => false;
    await rejectsWith(
      lstatBatch({ dir, names: ['nope'], map: (st) => st, gone: notGone }),
      'ENOENT',
      'statx',
    );
    await rejectsWith(lstatBatch({ dir: join(dir, 'file'), names: ['x'], map: (st) => st, gone }), 'ENOTDIR');
    await rejectsWith(
      lstatBatch({ dir: join(dir, 'absent'), names: ['x'], map: (st) => st, gone }),
      'ENOENT',
    );
    await rejectsWith(lstatBatch({ dir, names: ['a/b'], map: (st) => st, gone }), 'EINVAL');
    // A bad name after a first job's worth: refused before any job starts (a started job
    // failing on the missing directory would otherwise reject with no one listening).
    const late = [...Array.from({ length: 1030 }, (_, i) => `n${i}`), 'a/b'];
    await rejectsWith(lstatBatch({ dir: join(dir, 'absent'), names: late, map: (st) => st, gone }), 'EINVAL');
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(await lstatBatch({ dir, names: [], map: (st) => st, gone }), []);
  });
});

void describe('linux-native: renameNoReplace', { skip: !linux }, () => {
  it('renames to a free name, refuses an existing one with EEXIST and leaves both files', async () => {
    const dir = mkdtempSync(join(root, 'rnr-'));
    writeFileSync(join(dir, 'a'), 'A');
    writeFileSync(join(dir, 'taken'), 'T');
    await renameNoReplace(join(dir, 'a'), join(dir, 'b'));
    assert.equal(readFileSync(join(dir, 'b'), 'utf8'), 'A');
    assert.throws(() => lstatSync(join(dir, 'a')), /ENOENT/);
    const err = await rejectsWith(renameNoReplace(join(dir, 'b'), join(dir, 'taken')), 'EEXIST', 'rename');
    assert.equal(err.path, join(dir, 'b'));
    assert.equal(readFileSync(join(dir, 'b'), 'utf8'), 'A');
    assert.equal(readFileSync(join(dir, 'taken'), 'utf8'), 'T');
    await rejectsWith(renameNoReplace(join(dir, 'missing'), join(dir, 'c')), 'ENOENT', 'rename');
    await rejectsWith(renameNoReplace(join(dir, 'b\0x'), join(dir, 'c')), 'EINVAL', 'rename');
  });
});

void describe('linux-native: direct writes', { skip: !linux }, () => {
  /** Bytes of `path` in the page cache, as util-linux's fincore counts them. */
  function cachedBytes(path: string): number {
    const r = spawnSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', path], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    return Number(r.stdout.trim());
  }

  it('writes unaligned slices at an aligned offset, the whole blocks past the page cache', async () => {
    const path = join(root, 'direct.bin');
    const fd = openSync(path, 'w+');
    try {
      // Slices at odd addresses and of odd lengths, 8 MiB + 1000 bytes in all.
      const backing = Buffer.alloc(9 << 20);
      for (let i = 0; i < backing.length; i += 4096) backing.writeUInt32LE(i, i);
      const parts = [backing.subarray(3, 3 + 5_000_001), backing.subarray(5_000_004, 5_000_004 + 3_389_607)];
      const total = parts.reduce((n, p) => n + p.length, 0);
      assert.equal(total, (8 << 20) + 1000);
      await writeDirect(fd, [Buffer.from('x')], 0);
      await writeDirect(fd, parts, 4096);
      assert.ok(cachedBytes(path) <= 2 * 4096, 'only the partial blocks went through the page cache');
      const got = readFileSync(path);
      assert.equal(got.length, 4096 + total);
      assert.equal(got[0], 'x'.charCodeAt(0));
      assert.ok(got.subarray(4096).equals(Buffer.concat(parts)));
    } finally {
      closeSync(fd);
    }
  });

  it('refuses an unaligned offset, a closed descriptor, and a file it cannot open that way', async () => {
    const fd = openSync(join(root, 'direct2.bin'), 'w+');
    try {
      await rejectsWith(writeDirect(fd, [Buffer.alloc(8192)], 100), 'EINVAL', 'pwrite');
      await rejectsWith(writeDirect(fd, 'parts' as unknown as Uint8Array[], 0), 'EINVAL');
      await rejectsWith(writeDirect(fd, [Buffer.alloc(8192), 'x' as unknown as Uint8Array], 0), 'EINVAL');
    } finally {
      closeSync(fd);
    }
    await rejectsWith(writeDirect(0x7fffffff, [Buffer.alloc(8192)], 0), 'EBADF', 'dup');
    // A descriptor the second open refuses (a directory): nothing is written.
    const dirFd = openSync(root, 'r');
    try {
      await rejectsWith(writeDirect(dirFd, [Buffer.alloc(8192)], 0), 'EISDIR', 'open');
    } finally {
      closeSync(dirFd);
    }
  });

  it('refuses a file on a filesystem not backed by a local disk (tmpfs)', async (t) => {
    const shm = '/dev/shm';
    if (spawnSync('stat', ['-f', '-c', '%T', shm], { encoding: 'utf8' }).stdout.trim() !== 'tmpfs') {
      t.skip('no tmpfs at /dev/shm');
      return;
    }
    const dir = mkdtempSync(join(shm, 'tessera-direct-'));
    const fd = openSync(join(dir, 'f'), 'w+');
    try {
      await rejectsWith(writeDirect(fd, [Buffer.alloc(8192, 1)], 0), 'EINVAL', 'open');
      assert.equal(readFileSync(join(dir, 'f')).length, 0, 'nothing was written');
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes to the file the descriptor named at the call, even if it is closed and reused meanwhile', async () => {
    const first = join(root, 'direct-first.bin');
    const second = join(root, 'direct-second.bin');
    const fd = openSync(first, 'w+');
    const data = Buffer.alloc(8 << 20, 0x5a);
    const pending = writeDirect(fd, [data], 0);
    closeSync(fd);
    const reused = openSync(second, 'w+'); // most likely the same number
    try {
      await pending;
      assert.equal(readFileSync(second).length, 0, 'nothing went to the file that took the number');
      assert.ok(readFileSync(first).equals(data));
    } finally {
      closeSync(reused);
    }
  });
});
