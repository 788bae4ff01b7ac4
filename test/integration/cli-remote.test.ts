// The file commands of the CLI (ls, stat, cat, get, put, cp, mv, rm, mkdir, find), status and
// trust, run as real `tessera` subprocesses against a real node (in this process) that
// exports temp directories; results are compared with the directories on disk.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  lstat,
  mkdir,
  mkdtemp,
  open,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { addExport, initHome } from '../../src/core/home.ts';
import { createLogger } from '../../src/core/log.ts';
import { createCredential, ensureOwnerCredential } from '../../src/node/credentials.ts';
import { createNode, type TesseraNode } from '../../src/node/node.ts';
import { TEMP_PREFIX } from '../../src/sources/local/temp-files.ts';
import { PROTOCOL_VERSION } from '../../src/protocol/version.ts';
import { CHEAP_ARGON2 } from '../helpers/argon2.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = join(repoRoot, 'bin', 'tessera.js');
const MiB = 1024 * 1024;

interface Run {
  code: number;
  stdout: Buffer;
  out: string;
  stderr: string;
}

/** Run `tessera` as a subprocess with `TESSERA_HOME=home`. */
function tessera(
  home: string,
  args: readonly string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      TESSERA_HOME: home,
      TESSERA_DEBUG: '',
      TESSERA_NODE: '',
      TESSERA_CREDENTIAL: '',
      ...opts.env,
    };
    execFile(
      process.execPath,
      [BIN, ...args],
      { env, cwd: opts.cwd ?? repoRoot, encoding: 'buffer', maxBuffer: 256 * MiB },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') {
          reject(new Error(`tessera did not run: ${error.message}`, { cause: error }));
          return;
        }
        resolvePromise({
          code: error ? Number(error.code) : 0,
          stdout,
          out: stdout.toString(),
          stderr: stderr.toString(),
        });
      },
    );
  });
}

/** A successful run: exit 0, nothing on stderr. */
function ok(run: Run, what = 'run'): Run {
  assert.equal(run.code, 0, `${what}: exit code (stderr: ${run.stderr})`);
  assert.equal(run.stderr, '', `${what}: stderr`);
  return run;
}

/** A failed run: the exit code and one stderr line matching `pattern`. */
function fails(run: Run, code: number, pattern: RegExp): void {
  assert.equal(run.code, code, `exit code (stderr: ${run.stderr})`);
  assert.match(run.stderr.trimEnd(), pattern);
  assert.equal(run.stderr.trimEnd().split('\n').length, 1, `one line: ${run.stderr}`);
}

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Every path under `dir` (relative, '/'-joined, sorted), like `find` prints them. */
async function walkDisk(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(dir)).sort(byName)) {
    const rel = `${prefix}/${name}`;
    out.push(rel);
    const st = await lstat(join(dir, name));
    if (st.isDirectory()) out.push(...(await walkDisk(join(dir, name), rel)));
  }
  return out;
}

/** A tree as {relative path → file bytes hash / 'dir' / 'link:target'} for comparisons. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const rel of await walkDisk(dir)) {
    const p = join(dir, rel);
    const st = await lstat(p);
    out[rel] = st.isDirectory()
      ? 'dir'
      : st.isSymbolicLink()
        ? `link:${await readlink(p)}`
        : sha256(await readFile(p));
  }
  return out;
}

describe('tessera file commands over the protocol', () => {
  let root: string;
  let docs: string; // exported as /docs
  let other: string; // exported as /other
  let homeA: string;
  let homeB: string;
  let node: TesseraNode;
  let peer: { id: string; secret: string };
  let reader: { id: string; secret: string };
  let big: Buffer;
  let work: string; // a local working directory for get/put

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'tessera-cli-remote-'));
    docs = join(root, 'docs');
    other = join(root, 'other');
    work = join(root, 'work');
    await mkdir(join(docs, 'sub', 'deep'), { recursive: true });
    await mkdir(other);
    await mkdir(work);
    await writeFile(join(docs, 'a.txt'), 'hello, tessera\n');
    await writeFile(join(docs, 'sub', 'deep', 'x.md'), '# deep\n');
    await writeFile(join(docs, 'sub', 'notes.md'), 'notes\n');
    await writeFile(join(docs, 'sub', 'empty'), '');
    big = randomBytes(6 * MiB + 12345);
    await writeFile(join(docs, 'big.bin'), big);
    await symlink('a.txt', join(docs, 'link'));
    await symlink('../a.txt', join(docs, 'sub', 'up'));
    await symlink('/etc/hostname', join(docs, 'abs'));
    await symlink('../../../outside', join(docs, 'sub', 'climb'));
    await symlink('loop-b', join(docs, 'sub', 'loop-a'));
    await symlink('loop-a', join(docs, 'sub', 'loop-b'));

    homeA = join(root, 'home-a');
    homeB = join(root, 'home-b');
    await initHome({ root: homeA, name: 'alpha' });
    for (const [name, path] of [
      ['docs', docs],
      ['other', other],
    ] as const) {
      await addExport({
        root: homeA,
        entry: { name, kind: 'linux', path, ro: false, desc: '', options: {} },
      });
    }
    await ensureOwnerCredential({ home: homeA, argon2: CHEAP_ARGON2 });
    peer = await createCredential({ home: homeA, name: 'peer', argon2: CHEAP_ARGON2 });
    reader = await createCredential({
      home: homeA,
      name: 'reader',
      caps: { show: true, read: true, write: false, execute: false },
      argon2: CHEAP_ARGON2,
    });
    await initHome({ root: homeB, name: 'beta' });
    node = await createNode({
      home: homeA,
      listen: '127.0.0.1:0',
      logger: createLogger({ level: 'silent' }),
      argon2: CHEAP_ARGON2,
    });
  });

  after(async () => {
    await node.close();
    await rm(root, { recursive: true, force: true });
  });

  const a = (args: readonly string[], opts?: { cwd?: string }) => tessera(homeA, args, opts);

  it('status: the home node answers with its name, id, url and exports', async () => {
    const [humanRun, jsonRun] = await Promise.all([a(['status']), a(['status', '--json'])]);
    const human = ok(humanRun, 'status');
    assert.match(human.out, /^node +alpha$/m);
    assert.match(human.out, new RegExp(`^node id +${node.nodeId}$`, 'm'));
    assert.match(human.out, new RegExp(`^url +${node.url.replace(/[.]/g, '\\.')}$`, 'm'));
    assert.match(
      human.out,
      /^exports +\/docs \(linux, rw\), \/other \(linux, rw\), \/vfs \(virtual, ro\), \/\.tessera \(diagnostics, ro\)$/m,
    );
    const json = JSON.parse(ok(jsonRun, 'status --json').out) as Record<string, unknown>;
    assert.equal(json.nodeId, node.nodeId);
    assert.equal(json.nodeName, 'alpha');
    assert.equal(json.url, node.url);
    assert.equal(json.fingerprint, node.fingerprint);
    assert.equal(json.version, PROTOCOL_VERSION);
    assert.deepEqual(json.exports, [
      { name: '/docs', kind: 'linux', ro: false },
      { name: '/other', kind: 'linux', ro: false },
      { name: '/vfs', kind: 'virtual', ro: true },
      { name: '/.tessera', kind: 'diagnostics', ro: true },
    ]);
  });

  it('ls lists the exports at / and a directory like the disk, with -l and --json', async () => {
    const [top, plain, longRun, jsonRun, file, link, missing, relative] = await Promise.all([
      a(['ls']),
      a(['ls', '/docs']),
      a(['ls', '-l', '/docs']),
      a(['ls', '--json', '/docs']),
      a(['ls', '/docs/a.txt']),
      a(['ls', '-l', '/docs/link']),
      a(['ls', '/docs/nope']),
      a(['ls', 'docs']),
    ]);
    assert.equal(ok(top).out, 'docs\nother\nvfs\n');
    const names = (await readdir(docs)).sort(byName);
    assert.equal(ok(plain).out, names.map((n) => `${n}\n`).join(''));
    const long = ok(longRun).out;
    assert.match(long, /^lrwxrwxrwx +1 .* link -> a\.txt$/m);
    assert.match(long, new RegExp(`^-rw-r--r-- +1 .* ${big.length} .* big\\.bin$`, 'm'));
    assert.match(long, /^drwxr-xr-x .* sub$/m);
    const json = JSON.parse(ok(jsonRun).out) as {
      name: string;
      kind: string;
      size: number;
      mode: string;
      mtimeNs: string;
      target?: string;
    }[];
    assert.deepEqual(
      json.map((e) => e.name),
      names,
    );
    for (const e of json) {
      const st = await lstat(join(docs, e.name), { bigint: true });
      const kind = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'file';
      assert.equal(e.kind, kind, e.name);
      if (kind === 'file') assert.equal(e.size, Number(st.size), e.name);
      assert.equal(e.mode, (Number(st.mode) & 0o7777).toString(8).padStart(4, '0'), e.name);
      assert.equal(e.mtimeNs, st.mtimeNs.toString(), e.name);
      if (kind === 'symlink') assert.equal(e.target, await readlink(join(docs, e.name)));
    }
    // A file lists itself; a symlink is shown, not followed.
    assert.equal(ok(file).out, '/docs/a.txt\n');
    assert.match(ok(link).out, /^l.* \/docs\/link -> a\.txt\n$/);
    fails(missing, 2, /^tessera: ls: ENOENT: no such file or directory, lookup '\/docs\/nope'$/);
    fails(relative, 22, /^tessera: ls: EINVAL: path must be absolute/);
  });

  it('stat describes a path like lstat does; -L follows a final symlink', async () => {
    const [infoRun, linkRun, followedRun, humanRun] = await Promise.all([
      a(['stat', '--json', '/docs/a.txt']),
      a(['stat', '--json', '/docs/link']),
      a(['stat', '-L', '--json', '/docs/link']),
      a(['stat', '/docs/sub']),
    ]);
    const info = JSON.parse(ok(infoRun).out) as Record<string, unknown>;
    const st = await lstat(join(docs, 'a.txt'), { bigint: true });
    assert.equal(info.path, '/docs/a.txt');
    assert.equal(info.export, '/docs');
    assert.equal(info.kind, 'file');
    assert.equal(info.size, Number(st.size));
    assert.equal(info.mode, (Number(st.mode) & 0o7777).toString(8).padStart(4, '0'));
    assert.equal(info.mtimeNs, st.mtimeNs.toString());
    assert.equal(info.nlink, Number(st.nlink));
    const link = JSON.parse(ok(linkRun).out) as Record<string, unknown>;
    assert.equal(link.kind, 'symlink');
    assert.equal(link.target, 'a.txt');
    const followed = JSON.parse(ok(followedRun).out) as Record<string, unknown>;
    assert.equal(followed.path, '/docs/a.txt');
    assert.equal(followed.id, info.id);
    const human = ok(humanRun).out;
    assert.match(human, /^kind +dir$/m);
    assert.match(human, /^mode +0755 \(drwxr-xr-x\)$/m);
  });

  it('cat streams files byte for byte and follows symlinks within the namespace only', async () => {
    const runs = await Promise.all(
      [
        '/docs/a.txt',
        '/docs/big.bin',
        '/docs/link',
        '/docs/sub/up',
        '/docs/sub/empty',
        '/docs/abs',
        '/docs/sub/climb',
        '/docs/sub',
        '/docs/sub/loop-a',
      ].map((p) => a(['cat', p])),
    );
    const [plain, bigRun, link, up, empty, abs, climb, dir, loop] = runs as [
      Run,
      Run,
      Run,
      Run,
      Run,
      Run,
      Run,
      Run,
      Run,
    ];
    fails(loop, 40, /^tessera: cat: ELOOP: too many levels of symbolic links, lookup '\/docs\/sub\/loop-a'$/);
    assert.equal(ok(plain).out, 'hello, tessera\n');
    assert.ok(ok(bigRun).stdout.equals(big), 'big file byte-identical');
    assert.equal(ok(link).out, 'hello, tessera\n');
    assert.equal(ok(up).out, 'hello, tessera\n');
    assert.equal(ok(empty).out, '');
    fails(abs, 13, /^tessera: cat: EACCES: symlink target '\/etc\/hostname' is absolute/);
    fails(climb, 13, /^tessera: cat: EACCES: symlink target '..\/..\/..\/outside' leads above \//);
    fails(dir, 21, /^tessera: cat: EISDIR/);
  });

  it('get downloads byte-identical files, verified by sha256, leaving no temp files', async () => {
    await mkdir(join(work, 'into'));
    const [bigRun, linkRun, intoRun, missing, dir, noDir] = await Promise.all([
      a(['get', '/docs/big.bin'], { cwd: work }),
      a(['get', '/docs/link', join(work, 'renamed.txt')]),
      a(['get', '/docs/sub/deep/x.md', join(work, 'into')]),
      a(['get', '/docs/nope'], { cwd: work }),
      a(['get', '/docs/sub'], { cwd: work }),
      a(['get', '/docs/a.txt', join(work, 'missing-dir', 'a.txt')]),
    ]);
    const local = join(work, 'big.bin');
    assert.equal(ok(bigRun).out, `${local}  ${big.length} bytes  sha256 ${sha256(big)}\n`);
    assert.ok((await readFile(local)).equals(big));
    ok(linkRun, 'get a symlink');
    assert.equal(await readFile(join(work, 'renamed.txt'), 'utf8'), 'hello, tessera\n');
    ok(intoRun, 'get into a dir');
    assert.equal(await readFile(join(work, 'into', 'x.md'), 'utf8'), '# deep\n');
    fails(missing, 2, /^tessera: get: ENOENT: no such file or directory, lookup '\/docs\/nope'$/);
    fails(dir, 21, /^tessera: get: EISDIR/);
    fails(noDir, 2, /^tessera: get: ENOENT/);
    assert.deepEqual((await readdir(work)).sort(), ['big.bin', 'into', 'renamed.txt']);
  });

  it('get removes its temp file on a hash mismatch and on Ctrl-C, leaving nothing', async () => {
    const file = join(docs, 'changing.bin');
    await writeFile(file, randomBytes(32 * MiB));
    const dest = join(root, 'get-fail');
    await mkdir(dest);
    /** Start `get`, stop it once its first bytes are on disk, run `meanwhile`, resume it. */
    const interrupted = async (meanwhile: (pid: number) => Promise<void>) => {
      const child = spawn(process.execPath, [BIN, 'get', '/docs/changing.bin', dest], {
        env: { ...process.env, TESSERA_HOME: homeA, TESSERA_NODE: '', TESSERA_CREDENTIAL: '' },
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((done) =>
        child.on('exit', (code, signal) => done(code ?? (signal ? -1 : null))),
      );
      // The temp file fills in order: once it has bytes, the start of the file has been read.
      for (;;) {
        const part = (await readdir(dest)).find((n) => n.endsWith('.part'));
        if (part !== undefined && (await stat(join(dest, part)).catch(() => undefined))?.size) break;
        await new Promise((r) => setTimeout(r, 2));
      }
      child.kill('SIGSTOP');
      try {
        await meanwhile(child.pid!);
      } catch (err) {
        child.kill('SIGKILL');
        throw err;
      } finally {
        child.kill('SIGCONT');
      }
      return { code: await exited, stderr };
    };
    // The first byte changes on the node after it was read: the node's hash cannot match.
    const mismatch = await interrupted(async () => {
      const fh = await open(file, 'r+');
      const first = Buffer.alloc(1);
      await fh.read(first, 0, 1, 0);
      await fh.write(Buffer.from([first[0]! ^ 0xff]), 0, 1, 0);
      await fh.close();
    });
    assert.equal(mismatch.code, 5, mismatch.stderr);
    assert.match(
      mismatch.stderr,
      /^tessera: get: EIO: content hash mismatch: 33554432 bytes with sha256 [0-9a-f]{64} moved, the node holds 33554432 bytes with sha256 [0-9a-f]{64}, get '\/docs\/changing\.bin'\n$/,
    );
    assert.deepEqual(await readdir(dest), [], 'no partial file');
    const interrupt = await interrupted(async (pid) => {
      process.kill(pid, 'SIGINT');
    });
    assert.equal(interrupt.code, 130, interrupt.stderr);
    assert.deepEqual(await readdir(dest), [], 'no partial file after Ctrl-C');
    await rm(file);
  });

  it('put uploads files that appear whole and identical, into dirs or over files', async () => {
    const data = randomBytes(5 * MiB + 7);
    await writeFile(join(work, 'up.bin'), data);
    await writeFile(join(work, 'small.txt'), 'replacement\n');
    await writeFile(join(work, 'empty'), '');
    await symlink('sub', join(docs, 'sublink'));
    const [intoDir, overFile, newName, empty, missing, noParent, root, viaLink] = await Promise.all([
      a(['put', join(work, 'up.bin'), '/docs/sub/']),
      a(['put', 'small.txt', '/docs/sub/notes.md'], { cwd: work }),
      a(['put', 'small.txt', '/other/new-name.txt'], { cwd: work }),
      a(['put', 'empty', '/other/'], { cwd: work }),
      a(['put', 'nope', '/docs/x'], { cwd: work }),
      a(['put', 'small.txt', '/docs/no/such/dir/f'], { cwd: work }),
      a(['put', 'small.txt', '/'], { cwd: work }),
      a(['put', 'small.txt', '/docs/sublink/via-link.txt'], { cwd: work }),
    ]);
    assert.equal(
      ok(viaLink).out,
      `/docs/sub/via-link.txt  12 bytes  sha256 ${sha256(Buffer.from('replacement\n'))}\n`,
    );
    assert.equal(await readFile(join(docs, 'sub', 'via-link.txt'), 'utf8'), 'replacement\n');
    await rm(join(docs, 'sub', 'via-link.txt'));
    await rm(join(docs, 'sublink'));
    assert.equal(ok(intoDir).out, `/docs/sub/up.bin  ${data.length} bytes  sha256 ${sha256(data)}\n`);
    assert.ok((await readFile(join(docs, 'sub', 'up.bin'))).equals(data));
    ok(overFile, 'put over a file');
    assert.equal(await readFile(join(docs, 'sub', 'notes.md'), 'utf8'), 'replacement\n');
    ok(newName, 'put to a new name');
    assert.equal(await readFile(join(other, 'new-name.txt'), 'utf8'), 'replacement\n');
    ok(empty, 'put an empty file');
    assert.equal((await stat(join(other, 'empty'))).size, 0);
    fails(missing, 2, /^tessera: put: ENOENT: .*nope'$/);
    fails(noParent, 2, /lookup '\/docs\/no'$/);
    fails(root, 30, /^tessera: put: EROFS/);
    await rm(join(docs, 'sub', 'up.bin'));
    await rm(join(other, 'new-name.txt'));
    await rm(join(other, 'empty'));
  });

  // The node discards the abandoned handle (closeFile abort), so nothing half-written appears.
  it('a put that dies mid-transfer leaves nothing on the node', async () => {
    const local = join(work, 'dying.bin');
    await writeFile(local, randomBytes(48 * MiB));
    const target = join(docs, 'sub');
    const child = spawn(process.execPath, [BIN, 'put', local, '/docs/sub/dying.bin'], {
      env: { ...process.env, TESSERA_HOME: homeA, TESSERA_NODE: '', TESSERA_CREDENTIAL: '' },
      stdio: 'ignore',
    });
    const exited = new Promise<void>((done) => child.on('exit', () => done()));
    const temps = async () => (await readdir(target)).filter((n) => n.startsWith(TEMP_PREFIX));
    // The node writes through a hidden temp file: once it has bytes, the transfer is under way.
    for (;;) {
      const [temp] = await temps();
      if (temp !== undefined && (await stat(join(target, temp)).catch(() => undefined))?.size) break;
      await new Promise((r) => setTimeout(r, 2));
    }
    child.kill('SIGKILL');
    await exited;
    // The node discards the abandoned handle's file as soon as it sees the connection drop.
    for (let i = 0; i < 500 && (await temps()).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(await temps(), [], 'the temp file is gone');
    const appeared = await lstat(join(target, 'dying.bin')).catch(() => undefined);
    assert.equal(appeared, undefined, `a ${appeared?.size}-byte file appeared`);
    await rm(local);
  });

  it('mkdir makes a directory, -p its parents too', async () => {
    ok(await a(['mkdir', '/docs/made']), 'mkdir');
    assert.ok((await stat(join(docs, 'made'))).isDirectory());
    const [again, noParent, deep, notDir] = await Promise.all([
      a(['mkdir', '/docs/made']),
      a(['mkdir', '/docs/x/y']),
      a(['mkdir', '-p', '/docs/made/one/two']),
      a(['mkdir', '-p', '/docs/a.txt/x']),
    ]);
    fails(again, 17, /^tessera: mkdir: EEXIST: file exists, mkdir '\/docs\/made'$/);
    fails(noParent, 2, /lookup '\/docs\/x'$/);
    ok(deep, 'mkdir -p');
    assert.ok((await stat(join(docs, 'made', 'one', 'two'))).isDirectory());
    ok(await a(['mkdir', '-p', '/docs/made/one']), 'mkdir -p of an existing directory');
    fails(notDir, 20, /ENOTDIR/);
  });

  it('cp copies files and trees (-r) within and across exports, symlinks as symlinks', async () => {
    const [file, link, noR, tree, inside] = await Promise.all([
      a(['cp', '/docs/big.bin', '/docs/made/']),
      a(['cp', '/docs/link', '/other/copied.txt']),
      a(['cp', '/docs/sub', '/other/sub']),
      a(['cp', '-r', '/docs/sub', '/other/tree']),
      a(['cp', '-r', '/docs/sub', '/docs/sub/deep']),
    ]);
    ok(file, 'cp a file into a dir');
    assert.ok((await readFile(join(docs, 'made', 'big.bin'))).equals(big));
    ok(link, 'cp follows a symlink without -r');
    assert.equal(await readFile(join(other, 'copied.txt'), 'utf8'), 'hello, tessera\n');
    fails(noR, 21, /^tessera: cp: EISDIR: a directory: copy it with -r/);
    ok(tree, 'cp -r across exports');
    assert.deepEqual(await snapshot(join(other, 'tree')), await snapshot(join(docs, 'sub')));
    fails(inside, 22, /inside itself/);
    ok(await a(['cp', '-r', '/docs/sub', '/docs/made']), 'cp -r into a dir');
    assert.deepEqual(await snapshot(join(docs, 'made', 'sub')), await snapshot(join(docs, 'sub')));
  });

  it('mv renames within an export and copies + deletes across exports (or refuses with --no-copy)', async () => {
    const before = await lstat(join(docs, 'made', 'big.bin'));
    const [renamed, noCopy, root] = await Promise.all([
      a(['mv', '/docs/made/big.bin', '/docs/made/moved.bin']),
      a(['mv', '--no-copy', '/docs/made/sub', '/other/']),
      a(['mv', '/docs', '/other/x']),
    ]);
    ok(renamed, 'mv rename');
    const after = await lstat(join(docs, 'made', 'moved.bin'));
    assert.equal(after.ino, before.ino, 'a rename, not a copy');
    await assert.rejects(lstat(join(docs, 'made', 'big.bin')));
    fails(noCopy, 18, /^tessera: mv: EXDEV: '\/other\/sub' is in another export/);
    fails(root, 16, /^tessera: mv: EBUSY/);
    const tree = await snapshot(join(docs, 'made', 'sub'));
    const [file, dir, link] = await Promise.all([
      a(['mv', '/docs/made/moved.bin', '/other/']),
      a(['mv', '/docs/made/sub', '/other/moved-tree']),
      a(['mv', '/docs/link', '/docs/made/link2']),
    ]);
    ok(file, 'mv a file across exports');
    assert.ok((await readFile(join(other, 'moved.bin'))).equals(big));
    await assert.rejects(lstat(join(docs, 'made', 'moved.bin')));
    ok(dir, 'mv a tree across exports');
    assert.deepEqual(await snapshot(join(other, 'moved-tree')), tree);
    await assert.rejects(lstat(join(docs, 'made', 'sub')));
    ok(link, 'mv a symlink itself');
    assert.equal(await readlink(join(docs, 'made', 'link2')), 'a.txt');
    await rename(join(docs, 'made', 'link2'), join(docs, 'link'));
  });

  it('rm removes files and symlinks, trees with -r, never an export root', async () => {
    await writeFile(join(docs, 'made', 'gone.txt'), 'x');
    const [file, dir, missing, force, exportRoot, nsRoot] = await Promise.all([
      a(['rm', '/docs/made/gone.txt']),
      a(['rm', '/docs/made']),
      a(['rm', '/docs/made/nope']),
      a(['rm', '-f', '/docs/made/nope']),
      a(['rm', '-r', '/docs']),
      a(['rm', '-r', '/']),
    ]);
    ok(file, 'rm a file');
    await assert.rejects(lstat(join(docs, 'made', 'gone.txt')));
    fails(dir, 21, /^tessera: rm: EISDIR: a directory: remove it with -r/);
    fails(missing, 2, /^tessera: rm: ENOENT: no such file or directory, lookup '\/docs\/made\/nope'$/);
    ok(force, 'rm -f of a missing path');
    fails(exportRoot, 16, /^tessera: rm: EBUSY: the root of an export/);
    fails(nsRoot, 16, /EBUSY/);
    const [tree, link] = await Promise.all([a(['rm', '-r', '/docs/made']), a(['rm', '/other/tree/up'])]);
    ok(tree, 'rm -r');
    await assert.rejects(lstat(join(docs, 'made')));
    ok(link, 'rm a symlink');
    await assert.rejects(lstat(join(other, 'tree', 'up')));
    assert.ok((await stat(join(docs, 'a.txt'))).isFile(), 'not its target');
    for (const name of await readdir(other)) await rm(join(other, name), { recursive: true });
  });

  it('find walks like find(1): every path, --type, --name, --maxdepth, --json lines', async () => {
    const [allRun, mdRun, linksRun, depthRun, jsonRun, badType] = await Promise.all([
      a(['find', '/docs']),
      a(['find', '/docs', '--type', 'f', '--name', '*.md']),
      a(['find', '/docs', '--type', 'l']),
      a(['find', '/', '--maxdepth', '1']),
      a(['find', '/docs/sub', '--type', 'd', '--json']),
      a(['find', '/docs', '--type', 'x']),
    ]);
    const all = await walkDisk(docs);
    assert.equal(ok(allRun).out, ['/docs', ...all.map((p) => `/docs${p}`)].map((p) => `${p}\n`).join(''));
    assert.equal(ok(mdRun).out, '/docs/sub/deep/x.md\n/docs/sub/notes.md\n');
    assert.equal(
      ok(linksRun).out,
      '/docs/abs\n/docs/link\n/docs/sub/climb\n/docs/sub/loop-a\n/docs/sub/loop-b\n/docs/sub/up\n',
    );
    assert.equal(ok(depthRun).out, '/\n/docs\n/other\n/vfs\n');
    const lines = ok(jsonRun).out.trimEnd().split('\n');
    const parsed = lines.map((l) => JSON.parse(l) as { path: string; kind: string });
    assert.deepEqual(
      parsed.map((e) => [e.path, e.kind]),
      [
        ['/docs/sub', 'dir'],
        ['/docs/sub/deep', 'dir'],
      ],
    );
    fails(badType, 22, /--type must be f, d or l/);
  });

  describe('another home, with --node and a credential of the node', () => {
    const b = (args: readonly string[], cred: { id: string; secret: string } | string = peer) =>
      tessera(homeB, [
        ...args,
        '--node',
        node.url,
        '--credential',
        typeof cred === 'string' ? cred : `${cred.id}:${cred.secret}`,
      ]);

    it('pins the certificate on first contact (one note), then works quietly', async () => {
      const first = await b(['ls', '/docs/sub/deep']);
      assert.equal(first.code, 0, first.stderr);
      assert.equal(first.out, 'x.md\n');
      assert.match(
        first.stderr,
        /^tessera: note: first contact with 127\.0\.0\.1:\d+: pinned its certificate [0-9A-F:]{95} in .*known_nodes\.json\n$/,
      );
      const pins = JSON.parse(await readFile(join(homeB, 'known_nodes.json'), 'utf8')) as Record<
        string,
        { fingerprint: string }
      >;
      assert.equal(Object.values(pins)[0]?.fingerprint, node.fingerprint);
      ok(await b(['cat', '/docs/a.txt']), 'second contact');
      // The environment variables work as well as the options.
      const viaEnv = await tessera(homeB, ['cat', '/docs/a.txt'], {
        env: { TESSERA_NODE: node.url, TESSERA_CREDENTIAL: `${peer.id}:${peer.secret}` },
      });
      assert.equal(ok(viaEnv, 'env').out, 'hello, tessera\n');
    });

    it('a read-only credential reads but gets EACCES (13) on put, rm and mkdir', async () => {
      assert.equal(ok(await b(['cat', '/docs/a.txt'], reader)).out, 'hello, tessera\n');
      const diskBefore = await snapshot(docs);
      await writeFile(join(work, 'ro.txt'), 'nope');
      const [put, rmRun, mkdirRun] = await Promise.all([
        b(['put', join(work, 'ro.txt'), '/docs/ro.txt'], reader),
        b(['rm', '/docs/a.txt'], reader),
        b(['mkdir', '/docs/newdir'], reader),
      ]);
      fails(put, 13, /^tessera: put: EACCES: credential reader may not write .*'\/docs\/ro\.txt'$/);
      fails(rmRun, 13, /^tessera: rm: EACCES: .*'\/docs\/a\.txt'$/);
      fails(mkdirRun, 13, /^tessera: mkdir: EACCES: .*'\/docs\/newdir'$/);
      assert.deepEqual(await snapshot(docs), diskBefore, 'nothing changed on disk');
    });

    it('a wrong secret is EKEYREJECTED (129)', async () => {
      const [wrong, malformed] = await Promise.all([
        b(['ls'], `${peer.id}:${'x'.repeat(43)}`),
        b(['ls'], 'no-colon'),
      ]);
      fails(wrong, 129, /^tessera: ls: EKEYREJECTED: credential tk_\w+ rejected by the node/);
      fails(malformed, 22, /^tessera: ls: EINVAL: a credential is ID:SECRET/);
    });

    it('refuses a changed certificate with the tessera trust hint; trust re-pins', async () => {
      const file = join(homeB, 'known_nodes.json');
      const hostPort = `127.0.0.1:${node.address.port}`;
      const bogus = Array.from({ length: 32 }, () => 'AB').join(':');
      await writeFile(
        file,
        JSON.stringify({ [hostPort]: { fingerprint: bogus, since: new Date().toISOString() } }),
      );
      fails(
        await b(['ls']),
        13,
        new RegExp(
          `EACCES: the server's certificate changed .*tessera trust ${node.url.replace(/[.]/g, '\\.')} --fingerprint ${node.fingerprint}`,
        ),
      );
      const trusted = ok(await tessera(homeB, ['trust', node.url]), 'trust');
      assert.equal(trusted.out, `pinned ${hostPort} ${node.fingerprint} (was ${bogus})\n`);
      ok(await b(['ls']), 'ls after trust');
      ok(await tessera(homeB, ['trust', '--remove', node.url]), 'trust --remove');
      fails(await tessera(homeB, ['trust', '--remove', node.url]), 2, /no certificate is pinned/);
      const hex = node.fingerprint!.replace(/:/g, '').toLowerCase();
      assert.equal(
        ok(await tessera(homeB, ['trust', node.url, '--fingerprint', hex])).out,
        `pinned ${hostPort} ${node.fingerprint}\n`,
      );
      assert.equal(ok(await b(['ls'])).out, 'docs\nother\nvfs\n', 'no first-contact note: already pinned');
      fails(
        await tessera(homeB, ['trust', node.url, '--fingerprint', 'abc']),
        22,
        /a fingerprint is 32 bytes/,
      );
    });

    it('without a running node of its own, a command says how to start one (ECONNREFUSED 111)', async () => {
      const [ls, status, noCred] = await Promise.all([
        tessera(homeB, ['ls']),
        tessera(homeB, ['status']),
        tessera(homeB, ['ls', '--node', node.url]),
      ]);
      fails(
        ls,
        111,
        /^tessera: ls: ECONNREFUSED: no node is running for the home '.*home-b'; is the node running\? start it with 'tessera serve'$/,
      );
      fails(status, 111, /ECONNREFUSED/);
      fails(noCred, 22, /--node needs --credential/);
    });
  });

  it('status --wait exits 0 once a node started later answers; times out with 111', async () => {
    const homeC = join(root, 'home-c');
    await initHome({ root: homeC, name: 'gamma' });
    fails(await tessera(homeC, ['status', '--wait', '0.3']), 111, /ECONNREFUSED: no node is running/);
    const waiting = new Promise<{ code: number | null; out: string; err: string }>((done) => {
      const child = spawn(process.execPath, [BIN, 'status', '--wait', '60'], {
        env: { ...process.env, TESSERA_HOME: homeC, TESSERA_NODE: '', TESSERA_CREDENTIAL: '' },
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('exit', (code) => done({ code, out, err }));
    });
    // Let the waiting command find nothing first, then start the node it waits for.
    await new Promise((r) => setTimeout(r, 1500));
    const nodeC = await createNode({
      home: homeC,
      listen: '127.0.0.1:0',
      logger: createLogger({ level: 'silent' }),
      argon2: CHEAP_ARGON2,
    });
    try {
      const res = await waiting;
      assert.equal(res.code, 0, res.err);
      assert.match(res.out, /^node +gamma$/m);
      assert.match(res.out, /^exports +\/vfs \(virtual, ro\), \/\.tessera \(diagnostics, ro\)$/m);
    } finally {
      await nodeC.close();
    }
  });
});
