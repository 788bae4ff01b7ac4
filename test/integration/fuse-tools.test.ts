// `tessera mount-fs` with real shell tools: the node (in this process) exports temp directories,
// the mount runs in a subprocess, and everything done through the mount is checked against the
// backing directories on disk (and the other way round for invalidations).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { link, lstat, mkdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  eventually,
  forceUnmount,
  fuseSkipReason,
  type FuseWorld,
  mountFs,
  type MountProcess,
  sh,
  shOk,
  startWorld,
  stopMount,
} from './fuse-harness.ts';

const skip = fuseSkipReason();

/** A small source tree with nesting, an empty dir and file, a symlink and a 3 MiB file. */
async function makeTree(dir: string): Promise<void> {
  await mkdir(join(dir, 'a', 'b', 'c'), { recursive: true });
  await mkdir(join(dir, 'empty-dir'));
  for (let i = 0; i < 40; i++) await writeFile(join(dir, 'a', `f${i}.txt`), `file ${i}\n`.repeat(i + 1));
  await writeFile(join(dir, 'a', 'b', 'c', 'deep.md'), '# deep\n');
  await writeFile(join(dir, 'empty'), '');
  await writeFile(join(dir, 'big.bin'), randomBytes(3 * 1024 * 1024 + 77));
  await symlink('a/f1.txt', join(dir, 'link'));
}

describe('FUSE mount: shell tools on the namespace', { skip }, () => {
  let world: FuseWorld;
  let mp: string;
  let m: MountProcess;
  let tree: string;

  before(async () => {
    world = await startWorld();
    tree = join(world.root, 'tree');
    await makeTree(tree);
    mp = join(world.root, 'mnt');
    // A long kernel cache: changes behind the mount must arrive as invalidations.
    m = await mountFs({ home: world.home, mountpoint: mp, args: ['--cache-timeout', '60'] });
  });

  after(async () => {
    if (m) await stopMount(m);
    await forceUnmount(mp);
    await world?.close();
  });

  it('speaks a kernel protocol with READDIRPLUS and 1 MiB requests', async () => {
    const said = /FUSE protocol 7\.\d+, requests up to 1024 KiB, listings with attributes/;
    // The line follows the "mounted" one the harness waits for.
    await eventually(async () => said.test(m.stderr()));
    assert.match(m.stderr(), said);
  });

  it('shows every export at /<name>', async () => {
    const top = (await shOk(`ls ${mp}`)).split('\n').filter(Boolean);
    // The node may add roots of its own (virtual directories at /vfs).
    for (const name of ['docs', 'other']) assert.ok(top.includes(name), `${name} in ${top.join(' ')}`);
    assert.equal((await shOk(`stat -c %F ${mp}/docs`)).trim(), 'directory');
  });

  it('cp -r, diff -r, find, tar, mv and rm -r behave as on a local disk', async () => {
    const dst = `${mp}/docs/copy`;
    await shOk(`cp -r ${tree} ${dst}`);
    await shOk(`diff -r ${tree} ${dst}`);
    // What the mount shows is what the node stored.
    await shOk(`diff -r ${tree} ${world.docs}/copy`);
    assert.equal(await readlinkText(join(world.docs, 'copy', 'link')), 'a/f1.txt');
    const found = async (dir: string) => (await shOk(`cd ${dir} && find . | sort`)).trim();
    assert.equal(await found(dst), await found(tree));

    await shOk(
      `tar -C ${dst} -cf ${mp}/docs/t.tar . && mkdir ${mp}/docs/untar && tar -C ${mp}/docs/untar -xf ${mp}/docs/t.tar`,
    );
    await shOk(`diff -r ${tree} ${mp}/docs/untar`);

    await shOk(`mv ${dst}/a ${dst}/moved && mv ${mp}/docs/t.tar ${mp}/docs/untar/`);
    assert.equal((await stat(join(world.docs, 'copy', 'moved', 'b', 'c', 'deep.md'))).isFile(), true);
    await assert.rejects(lstat(join(world.docs, 'copy', 'a')), { code: 'ENOENT' });

    await shOk(`rm -r ${dst} ${mp}/docs/untar`);
    assert.deepEqual((await shOk(`ls -A ${world.docs}`)).trim(), '');
  });

  it('git clone, commit and fsck inside the mount', async () => {
    const origin = join(world.root, 'origin');
    const env = {
      GIT_AUTHOR_NAME: 't',
      GIT_AUTHOR_EMAIL: 't@example.com',
      GIT_COMMITTER_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@example.com',
      GIT_CONFIG_NOSYSTEM: '1',
      HOME: world.root,
    };
    await shOk(
      `git init -q -b main ${origin} && cd ${origin} && echo one > one.txt && mkdir sub && echo two > sub/two.txt && git add . && git commit -qm first`,
      { env },
    );
    const clone = `${mp}/docs/clone`;
    await shOk(`git clone -q ${origin} ${clone}`, { env });
    await shOk(
      `cd ${clone} && echo three >> one.txt && git mv sub/two.txt sub/deux.txt && git commit -qam second`,
      {
        env,
      },
    );
    assert.equal((await shOk(`cd ${clone} && git log --format=%s`, { env })).trim(), 'second\nfirst');
    await shOk(`cd ${clone} && git fsck --strict && git status --porcelain`, { env });
    assert.equal(await readFile(join(world.docs, 'clone', 'one.txt'), 'utf8'), 'one\nthree\n');
    await shOk(`rm -rf ${clone}`);
  });

  it('write, truncate, chmod, times, links, xattrs, statfs', async () => {
    const f = `${mp}/docs/f.txt`;
    await shOk(`printf 'hello world' > ${f} && truncate -s 5 ${f}`);
    assert.equal(await readFile(join(world.docs, 'f.txt'), 'utf8'), 'hello');
    await shOk(`chmod 640 ${f} && touch -m -d '2021-02-03 04:05:06.123456789' ${f}`);
    const st = await stat(join(world.docs, 'f.txt'), { bigint: true });
    assert.equal(Number(st.mode & 0o777n), 0o640);
    // The mount passes nanoseconds; the local source stores what Node's utimes keeps (µs).
    assert.equal(st.mtimeNs / 1000n, 1612325106123456n);
    const shown = (await shOk(`stat -c '%a %.9Y' ${f}`)).trim();
    assert.equal(
      shown,
      `640 ${st.mtimeNs / 1_000_000_000n}.${String(st.mtimeNs % 1_000_000_000n).padStart(9, '0')}`,
    );

    await shOk(`ln -s f.txt ${mp}/docs/sym && ln ${f} ${mp}/docs/hard`);
    assert.equal((await shOk(`readlink ${mp}/docs/sym && cat ${mp}/docs/sym`)).trim(), 'f.txt\nhello');
    const [ino1, ino2, links] = (await shOk(`stat -c %i ${f} ${mp}/docs/hard; stat -c %h ${f}`))
      .trim()
      .split('\n');
    assert.equal(ino1, ino2, 'a hard link has the inode of its target');
    assert.equal(links, '2');
    assert.equal((await lstat(join(world.docs, 'hard'))).ino, (await lstat(join(world.docs, 'f.txt'))).ino);

    await shOk(
      `python3 -c "import os; os.setxattr('${f}', 'user.color', b'blue'); assert os.getxattr('${f}', 'user.color') == b'blue'; assert 'user.color' in os.listxattr('${f}'); os.removexattr('${f}', 'user.color'); assert 'user.color' not in os.listxattr('${f}')"`,
    );
    // O_TRUNC of an existing file (carried by OPEN), and renameat2's RENAME_NOREPLACE, which
    // `mv` tries first and `mv -n` relies on.
    await shOk(`printf 'longer text' > ${mp}/docs/g.txt && printf 'new' > ${mp}/docs/g.txt`);
    assert.equal(await readFile(join(world.docs, 'g.txt'), 'utf8'), 'new');
    await shOk(`mv -n ${mp}/docs/g.txt ${f}`);
    assert.equal(await readFile(join(world.docs, 'f.txt'), 'utf8'), 'hello', 'mv -n kept the target');
    assert.equal(await readFile(join(world.docs, 'g.txt'), 'utf8'), 'new');
    await shOk(`mv ${mp}/docs/g.txt ${mp}/docs/h.txt && cat ${mp}/docs/h.txt && rm ${mp}/docs/h.txt`);
    await assert.rejects(lstat(join(world.docs, 'g.txt')));

    const df = (await shOk(`stat -f -c '%S %b %l' ${mp}/docs`)).trim().split(' ').map(Number);
    assert.ok(df[0]! > 0 && df[1]! > 0 && df[2]! >= 255, `statfs: ${df.join(' ')}`);
    await shOk(`rm ${f} ${mp}/docs/sym ${mp}/docs/hard`);
  });

  it('a large file round-trips byte for byte (read-ahead and write-behind)', async () => {
    const src = join(world.root, 'large.bin');
    await writeFile(src, randomBytes(24 * 1024 * 1024 + 4321));
    await shOk(
      `cp ${src} ${mp}/docs/large.bin && cmp ${src} ${mp}/docs/large.bin && cmp ${src} ${world.docs}/large.bin`,
    );
    // Reads at scattered offsets agree with the file.
    await shOk(
      `for off in 0 7 1048575 5000000 25165000; do cmp <(tail -c +$((off+1)) ${src} | head -c 70000) <(tail -c +$((off+1)) ${mp}/docs/large.bin | head -c 70000) || exit 1; done`,
    );
    await shOk(`rm ${mp}/docs/large.bin`);
  });

  it('big reads of files made on the node arrive whole, many readers at once', async () => {
    // Nothing of these files is in the mount's page cache: every byte comes in a READ answer,
    // from read-ahead chunks whose buffers the other readers' chunks reuse.
    const names = ['r1', 'r2', 'r3', 'r4'];
    await Promise.all(
      names.map((n, i) => writeFile(join(world.docs, `${n}.bin`), randomBytes(12 * 1024 * 1024 + 1000 * i))),
    );
    // Each reader waited for by its pid (`wait -n` misses a job that ended before it is called).
    await shOk(
      names
        .map(
          (n, i) =>
            `(dd if=${mp}/docs/${n}.bin bs=1M status=none | cmp - ${world.docs}/${n}.bin) & p${i}=$!;`,
        )
        .join(' ') + names.map((_, i) => ` wait $p${i} || exit 1;`).join(''),
    );
    await shOk(`rm ${names.map((n) => `${mp}/docs/${n}.bin`).join(' ')}`);
  });

  it('many files written at once arrive whole (more writes in flight than write slots)', async () => {
    // 48 writers each keep a write in flight (cp writes 128 KiB at a time): beyond the addon's
    // 16 slots, the rest are copied to the heap, and every slot is reused many times.
    const src = join(world.root, 'parallel.bin');
    await writeFile(src, randomBytes(3 * 1024 * 1024 + 99));
    await shOk(
      `mkdir ${mp}/docs/par && for i in $(seq 48); do cp ${src} ${mp}/docs/par/f$i & done; wait; ` +
        `for i in $(seq 48); do cmp ${src} ${world.docs}/par/f$i || exit 1; done`,
    );
    await shOk(`rm -r ${mp}/docs/par`);
  });

  it('a write that fails behind the writer is reported by a later write or close (ENOSPC)', async () => {
    // Writes are answered before the node stores them: the failure must still reach the writer.
    const small = join(world.other, 'small');
    await mkdir(small);
    await shOk(`mount -t tmpfs -o size=1m tessera-test ${small}`);
    try {
      const outcome = await shOk(`python3 -c "
import os, errno
fd = os.open('${mp}/other/small/f', os.O_WRONLY | os.O_CREAT, 0o644)
err = None
try:
    for i in range(64): os.write(fd, b'x' * 131072)
except OSError as e:
    err = e
try:
    os.close(fd)
except OSError as e:
    err = err or e
print(errno.errorcode[err.errno] if err else 'OK')"`);
      assert.equal(outcome.trim(), 'ENOSPC');
      // A small file's only write travels with its close: close(2) reports its failure.
      await sh(`dd if=/dev/zero of=${small}/fill bs=64k 2>/dev/null`);
      const last = await shOk(`python3 -c "
import os, errno
fd = os.open('${mp}/other/small/g', os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, b'x')
try:
    os.close(fd)
    print('OK')
except OSError as e:
    print(errno.errorcode[e.errno])"`);
      assert.equal(last.trim(), 'ENOSPC');
    } finally {
      await sh(`umount -l ${small}`);
    }
  });

  it('errors are the errno of the table', async () => {
    const errnoOf = async (code: string) =>
      (
        await shOk(`python3 -c "import os,errno
try:
    ${code}
    print('OK')
except OSError as e:
    print(errno.errorcode[e.errno])"`)
      ).trim();
    await writeFile(join(world.docs, 'file'), 'x');
    await mkdir(join(world.docs, 'full'));
    await writeFile(join(world.docs, 'full', 'inside'), 'x');
    assert.equal(await errnoOf(`open('${mp}/docs/missing')`), 'ENOENT');
    assert.equal(await errnoOf(`os.rmdir('${mp}/docs/file')`), 'ENOTDIR');
    assert.equal(await errnoOf(`os.mkdir('${mp}/docs/full')`), 'EEXIST');
    assert.equal(await errnoOf(`os.rmdir('${mp}/docs/full')`), 'ENOTEMPTY');
    assert.equal(await errnoOf(`os.rename('${mp}/docs/file', '${mp}/other/file')`), 'EXDEV');
    assert.equal(await errnoOf(`os.getxattr('${mp}/docs/file', 'user.none')`), 'ENODATA');
    // The namespace root holds the exports and is read-only.
    assert.equal(await errnoOf(`os.mkdir('${mp}/newtop')`), 'EROFS');
  });

  it('advisory locks are held on the node: fcntl and flock conflicts across processes', async () => {
    const f = `${mp}/docs/lockme`;
    await writeFile(join(world.docs, 'lockme'), 'x');
    const out = await shOk(`python3 -c "
import fcntl, os
f = open('${f}', 'r+')
fcntl.lockf(f, fcntl.LOCK_EX, 10, 0)
pid = os.fork()
if pid == 0:
    g = open('${f}', 'r+')
    try:
        fcntl.lockf(g, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0)
        print('overlap granted')
    except OSError as e:
        print('overlap refused', e.errno)
    fcntl.lockf(g, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 20)
    print('disjoint granted')
    os._exit(0)
os.waitpid(pid, 0)
f.close()
pid = os.fork()
if pid == 0:
    g = open('${f}', 'r+')
    fcntl.lockf(g, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0)
    print('granted after close')
    os._exit(0)
os.waitpid(pid, 0)
"`);
    assert.equal(out.trim(), 'overlap refused 11\ndisjoint granted\ngranted after close');
    const flock = await sh(`flock -x ${f} -c 'flock -n -x ${f} -c true; echo inner=$?'`);
    assert.equal(flock.out.trim(), 'inner=1', flock.err);
    // flock and fcntl locks are two lock spaces, as on Linux: a flock holder does not stop
    // another process's lockf of the whole file ("flock db sqlite3 db ..."), nor the reverse.
    const lockf = `import fcntl, subprocess, sys
f = open('${f}', 'r+')
fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB, 0, 0)
print('lockf granted', end=' ')
if len(sys.argv) > 1:
    print('flock', subprocess.run(['flock', '-n', '-x', '${f}', 'true']).returncode)`;
    const apart = await sh(`flock -x ${f} python3 -c "${lockf}"; python3 -c "${lockf}" reverse`);
    assert.equal(apart.out.trim(), 'lockf granted lockf granted flock 0', apart.err);

    // Publishing a file (another process looks up one just created; a child's close(2) after
    // a write) must not release the locks held on it, flocks nor fcntl locks.
    const kept = await shOk(`python3 -c "
import fcntl, os, subprocess
def other_flock(path):
    return subprocess.run(['flock', '-n', path, 'true']).returncode
def other_lockf(path):
    pid = os.fork()
    if pid == 0:
        g = open(path, 'r+')
        try:
            fcntl.lockf(g, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0)
            os._exit(0)
        except OSError as e:
            os._exit(e.errno)
    return os.waitpid(pid, 0)[1] >> 8
def publish(fd):
    os.write(fd, b'x')
    if os.fork() == 0:
        os._exit(0)
    os.wait()
a = os.open('${mp}/docs/a.lock', os.O_CREAT | os.O_RDWR, 0o644)
fcntl.flock(a, fcntl.LOCK_EX)
print('flock', other_flock('${mp}/docs/a.lock'), end=' ')
publish(a)
print(other_flock('${mp}/docs/a.lock'))
b = os.open('${mp}/docs/b.lock', os.O_CREAT | os.O_RDWR, 0o644)
fcntl.lockf(b, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0)
print('lockf', other_lockf('${mp}/docs/b.lock'), end=' ')
publish(b)
print(other_lockf('${mp}/docs/b.lock'))
"`);
    assert.equal(kept.trim(), 'flock 1 1\nlockf 11 11');
    assert.equal(await readFile(join(world.docs, 'a.lock'), 'utf8'), 'x');
  });

  it('a blocked lock wait ends with EINTR on a signal (Ctrl-C); a later grant is given back', async () => {
    const f = `${mp}/docs/waitlock`;
    await writeFile(join(world.docs, 'waitlock'), 'x');
    // Each takes the lock (or says it could not), then keeps the file open until its stdin
    // closes. Python retries an interrupted call unless the signal handler raises; SIGINT's
    // default one raises KeyboardInterrupt.
    const locker = () => {
      const child = spawn(
        'python3',
        [
          '-c',
          `import fcntl, sys
f = open(sys.argv[1], 'r+')
print('waiting', flush=True)
try:
    fcntl.flock(f, fcntl.LOCK_EX)
    print('granted', flush=True)
except KeyboardInterrupt:
    print('interrupted', flush=True)
sys.stdin.read()`,
          f,
        ],
        { stdio: ['pipe', 'pipe', 'inherit'] },
      );
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (t: string) => (out += t));
      return { child, said: (what: string, ms?: number) => eventually(async () => out.includes(what), ms) };
    };
    const held = () => sh(`flock -n -x ${f} true`).then((r) => r.code === 1);
    const holder = locker();
    let waiter: ReturnType<typeof locker> | undefined;
    try {
      assert.ok(await holder.said('granted'), 'the holder took the lock');
      waiter = locker();
      assert.ok(await waiter.said('waiting'));
      await new Promise((r) => setTimeout(r, 300)); // into the kernel's wait (else no test)
      waiter.child.kill('SIGINT');
      assert.ok(await waiter.said('interrupted', 10_000), 'the wait ended at the signal');
      assert.ok(await held(), 'the holder still holds the lock');
      // The holder lets go: the node grants the abandoned wait, and the mount gives it back
      // at once, though the waiter still has the file open.
      holder.child.stdin.end();
      await once(holder.child, 'exit');
      assert.ok(await eventually(async () => !(await held())), 'nobody holds the lock');
    } finally {
      holder.child.kill('SIGKILL');
      waiter?.child.kill('SIGKILL');
    }
  });

  it('names listed with their attributes follow a change made through another name', async () => {
    const dir = join(world.docs, 'listed');
    await mkdir(dir);
    await writeFile(join(dir, 'x.txt'), 'short');
    await link(join(dir, 'x.txt'), join(world.docs, 'x-link.txt'));
    // The listing hands the kernel x.txt with its attributes; it has not looked it up.
    await shOk(`ls ${mp}/docs/listed`);
    await shOk(`printf ', now longer' >> ${mp}/docs/x-link.txt`);
    assert.equal((await shOk(`stat -c %s ${mp}/docs/listed/x.txt`)).trim(), '17');
    assert.equal(await shOk(`cat ${mp}/docs/listed/x.txt`), 'short, now longer');
    await shOk(`rm -r ${mp}/docs/listed ${mp}/docs/x-link.txt`);
  });

  it('changes behind the mount arrive as invalidations (kernel cache 60 s)', async () => {
    await writeFile(join(world.docs, 'watched.txt'), 'before\n');
    assert.equal(await shOk(`cat ${mp}/docs/watched.txt`), 'before\n');
    assert.ok(!(await shOk(`ls ${mp}/docs`)).includes('appeared.txt'));
    await writeFile(join(world.docs, 'watched.txt'), 'after, longer\n');
    await writeFile(join(world.docs, 'appeared.txt'), 'new\n');
    assert.ok(
      await eventually(async () => (await sh(`cat ${mp}/docs/watched.txt`)).out === 'after, longer\n'),
    );
    assert.ok(await eventually(async () => (await sh(`cat ${mp}/docs/appeared.txt`)).out === 'new\n'));
  });
});

async function readlinkText(path: string): Promise<string> {
  return (await shOk(`readlink '${path}'`)).trim();
}
