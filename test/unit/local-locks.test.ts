import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FsError } from '../../src/core/fs-error.ts';
import { ofdGetLock, ofdSetLock } from '../../src/sources/local/linux-native.ts';
import type { LockType } from '../../src/sources/source.ts';
import { localDirs, openLocal, put, ROOT } from './local-helpers.ts';

const again = (e: unknown) => FsError.is(e, 'EAGAIN');

/** A python3 process on the host that runs `code` with the file open as `f`, until `end()`. */
function hostProcess(path: string, code: string) {
  const script = `import fcntl, sys\nf = open(sys.argv[1], 'r+')\n${code}\nprint('ready', flush=True)\nsys.stdin.read()`;
  const child = spawn('python3', ['-c', script, path], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  let out = '';
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (t: string) => {
      out += t;
      if (out.includes('ready')) resolve();
    });
    void exited.then((code) => reject(new Error(`the host process exited (${code}) before it was ready`)));
  });
  return {
    ready,
    end: async () => {
      child.stdin.end();
      await exited;
    },
  };
}

/** What a host process gets trying flock LOCK_EX, flock LOCK_SH and a whole-file lockf: errno or 0. */
function hostTries(path: string): string {
  const script = `import fcntl, sys
def tries(fn):
    try:
        fn()
        return 0
    except OSError as e:
        return e.errno
f = open(sys.argv[1], 'r+')
g = open(sys.argv[1], 'r+')
ex = tries(lambda: fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB))
sh = tries(lambda: fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB))
print(ex, sh, tries(lambda: fcntl.lockf(g, fcntl.LOCK_EX | fcntl.LOCK_NB)))`;
  const r = spawnSync('python3', ['-c', script, path], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

// A "host process": another open file description on the same file (OFD locks conflict
// between descriptions exactly as between processes).
describe('linux locks cooperate with host processes', () => {
  it("a host lock makes ours fail with EAGAIN; 'test' reports it; 'wait' waits for it", async () => {
    using dirs = localDirs();
    const src = await openLocal({ root: dirs.root });
    try {
      const f = await put(src, ROOT, 'f', 'x'.repeat(100));
      const other = await open(join(dirs.root, 'f'), 'r+');
      try {
        await ofdSetLock(other.fd, 'write', 0, 10);
        const { handle } = await src.openFile({ id: f, flags: { read: true, write: true } });
        await assert.rejects(src.lock({ handle, cmd: 'set', type: 'read', start: 5, length: 1 }), again);
        const seen = await src.lock({ handle, cmd: 'test', type: 'read', start: 0, length: 1 });
        assert.equal(seen?.type, 'write');
        assert.match(seen?.owner ?? '', /^host/);
        await src.lock({ handle, cmd: 'set', type: 'write', start: 10, length: 10 });
        let granted = false;
        const waiting = src
          .lock({ handle, cmd: 'wait', type: 'write', start: 0, length: 5 })
          .then(() => (granted = true));
        await new Promise((r) => setTimeout(r, 60));
        assert.equal(granted, false);
        await ofdSetLock(other.fd, 'unlock', 0, 0);
        await waiting;
        // Now ours are visible to the host…
        const mine = await ofdGetLock(other.fd, 'read', 0, 0);
        assert.equal(mine?.type, 'write');
        await assert.rejects(
          ofdSetLock(other.fd, 'read', 12, 1),
          (e: unknown) => (e as { code?: string }).code === 'EAGAIN',
        );
        // …until the handle closes.
        await src.closeFile({ handle });
        assert.equal(await ofdGetLock(other.fd, 'write', 0, 0), null);
      } finally {
        await other.close();
      }
    } finally {
      await src.close();
    }
  });

  it('in-process locks of two owners are arbitrated by the table and mirrored as their union', async () => {
    using dirs = localDirs();
    const src = await openLocal({ root: dirs.root });
    try {
      const f = await put(src, ROOT, 'f', 'x'.repeat(100));
      const other = await open(join(dirs.root, 'f'), 'r+');
      try {
        const a = (await src.openFile({ id: f, flags: { read: true, write: false } })).handle;
        const b = (await src.openFile({ id: f, flags: { read: true, write: false } })).handle;
        await src.lock({ handle: a, cmd: 'set', type: 'read', start: 0, length: 50 });
        await src.lock({ handle: b, cmd: 'set', type: 'read', start: 25, length: 50 });
        await src.lock({ handle: a, cmd: 'set', type: 'unlock', start: 0, length: 50 });
        // b's read lock over [25, 75) must still be held in the kernel after a's unlock.
        assert.equal(await ofdGetLock(other.fd, 'write', 0, 25), null);
        assert.equal((await ofdGetLock(other.fd, 'write', 30, 1))?.type, 'read');
        // One owner through two handles never conflicts with itself.
        await src.lock({ handle: a, cmd: 'set', type: 'write', start: 80, length: 5, owner: 'client-1' });
        await src.lock({ handle: b, cmd: 'set', type: 'write', start: 82, length: 5, owner: 'client-1' });
        await assert.rejects(src.lock({ handle: b, cmd: 'set', type: 'read', start: 81, length: 1 }), again);
        await src.closeFile({ handle: a });
        await src.closeFile({ handle: b });
        assert.equal(await ofdGetLock(other.fd, 'write', 0, 0), null, 'all released at close');
      } finally {
        await other.close();
      }
    } finally {
      await src.close();
    }
  });

  it('flocks are mirrored with flock(2): host flocks conflict with ours, host fcntl locks do not', async () => {
    using dirs = localDirs();
    const src = await openLocal({ root: dirs.root });
    try {
      const f = await put(src, ROOT, 'f', 'data');
      const path = join(dirs.root, 'f');
      const { handle } = await src.openFile({ id: f, flags: { read: true, write: true } });
      const flock = (cmd: 'test' | 'set' | 'wait', type: LockType) =>
        src.lock({ handle, cmd, type, start: 0, length: 0, kind: 'flock' });
      const host = hostProcess(path, 'fcntl.flock(f, fcntl.LOCK_EX)');
      try {
        await host.ready;
        await assert.rejects(flock('set', 'read'), again);
        assert.deepEqual(await flock('test', 'read'), { type: 'write', start: 0, length: 0, owner: 'host' });
        // The host's flock is nothing to our fcntl lock of the whole file.
        await src.lock({ handle, cmd: 'set', type: 'write', start: 0, length: 0 });
        let granted = false;
        const waiting = flock('wait', 'read').then(() => (granted = true));
        await new Promise((r) => setTimeout(r, 60));
        assert.equal(granted, false, 'granted while the host held an exclusive flock');
        await host.end();
        await waiting;
      } finally {
        await host.end();
      }
      await src.lock({ handle, cmd: 'set', type: 'unlock', start: 0, length: 0 });
      // Ours, the other way round: a shared flock, then an exclusive one; lockf is never stopped.
      assert.equal(hostTries(path), '11 0 0');
      await flock('set', 'write');
      assert.equal(hostTries(path), '11 11 0');
      await flock('set', 'unlock');
      // A host's shared flock: shared with ours; a failed conversion to exclusive keeps ours.
      const sharer = hostProcess(path, 'fcntl.flock(f, fcntl.LOCK_SH)');
      try {
        await sharer.ready;
        assert.deepEqual(await flock('test', 'write'), { type: 'read', start: 0, length: 0, owner: 'host' });
        assert.equal(await flock('test', 'read'), null);
        await flock('set', 'read');
        await assert.rejects(flock('set', 'write'), again);
      } finally {
        await sharer.end();
      }
      assert.equal(hostTries(path), '11 0 0');
      await src.closeFile({ handle });
      assert.equal(hostTries(path), '0 0 0');
    } finally {
      await src.close();
    }
  });

  it('posix locks stay in process', async () => {
    using dirs = localDirs();
    const src = await openLocal({ root: dirs.root, kind: 'posix' });
    try {
      const f = await put(src, ROOT, 'f', 'data');
      const other = await open(join(dirs.root, 'f'), 'r+');
      try {
        const { handle } = await src.openFile({ id: f, flags: { read: true, write: true } });
        await src.lock({ handle, cmd: 'set', type: 'write', start: 0, length: 0 });
        assert.equal(await ofdGetLock(other.fd, 'write', 0, 0), null);
        await src.closeFile({ handle });
      } finally {
        await other.close();
      }
    } finally {
      await src.close();
    }
  });
});
