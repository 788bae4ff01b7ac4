import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { startS3rver } from '../helpers/s3rver.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = join(repoRoot, 'bin', 'tessera.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run `tessera` as a real subprocess. */
function tessera(
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, TESSERA_HOME: '', TESSERA_DEBUG: '', ...opts.env };
    execFile(
      process.execPath,
      [BIN, ...args],
      { env, cwd: opts.cwd ?? repoRoot },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') {
          reject(new Error(`tessera did not run: ${error.message}`, { cause: error }));
          return;
        }
        resolvePromise({ code: error ? Number(error.code) : 0, stdout, stderr });
      },
    );
  });
}

/** Asserts a failed run: exit code and a single stderr line matching `pattern`. */
function assertFails(run: Run, code: number, pattern: RegExp): void {
  assert.equal(run.code, code, `exit code (stderr: ${run.stderr})`);
  assert.equal(run.stdout, '');
  assert.match(run.stderr.trimEnd(), pattern);
  assert.equal(run.stderr.trimEnd().split('\n').length, 1, `one line: ${run.stderr}`);
}

describe('tessera CLI', () => {
  let dir: string;
  let n = 0;
  const freshHome = () => join(dir, `home-${++n}`);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-cli-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prints help for the program, a group and each command', async () => {
    const main = await tessera(['--help']);
    assert.equal(main.code, 0);
    for (const name of ['init', 'info', 'export add', 'export list', 'export remove']) {
      assert.match(main.stdout, new RegExp(`\\n  ${name} `));
    }
    const group = await tessera(['export', '--help']);
    assert.equal(group.code, 0);
    assert.match(group.stdout, /^Usage: tessera export <command>/);
    const add = await tessera(['export', 'add', '--help']);
    assert.equal(add.code, 0);
    assert.match(add.stdout, /^Usage: tessera export add NAME PATH/);
    assert.match(add.stdout, /--option K=V/);
    const help = await tessera(['help', 'init']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: tessera init/);
    const version = await tessera(['--version']);
    assert.match(version.stdout, /^tessera \d+\.\d+\.\d+\n$/);
  });

  it('gives usage errors exit code 22 (EINVAL)', async () => {
    assertFails(
      await tessera(['frobnicate']),
      22,
      /^tessera: EINVAL: unknown command 'frobnicate' \(see 'tessera --help'\)$/m,
    );
    assertFails(
      await tessera(['export', 'frob']),
      22,
      /^tessera: export: EINVAL: unknown command 'export frob'/,
    );
    assertFails(
      await tessera(['export', 'add']),
      22,
      /^tessera: export add: EINVAL: missing NAME \(see 'tessera export add --help'\)/,
    );
    assertFails(
      await tessera(['export', 'list', '--bogus']),
      22,
      /^tessera: export list: EINVAL: unknown option '--bogus'/,
    );
    assertFails(await tessera(['export', 'remove', 'a', 'b']), 22, /unexpected argument 'b'/);
    assertFails(
      await tessera(['init', '--name']),
      22,
      /^tessera: init: EINVAL: option '--name <value>' argument missing/,
    );
    // An empty number is not 0 (no caching): refused, and the message shows what was given.
    assertFails(
      await tessera(['mount-fs', '/nonexistent', '--cache-timeout', '']),
      22,
      /^tessera: mount-fs: EINVAL: --cache-timeout expects seconds from 0 to 3600, got ''/,
    );
    const bare = await tessera([]);
    assert.equal(bare.code, 22);
    assert.match(bare.stdout, /^Usage: tessera <command>/);
  });

  it('init creates the home once; --home wins over TESSERA_HOME', async () => {
    const home = freshHome();
    const envHome = freshHome();
    const first = await tessera(['init', '--name', 'box', '--home', home], {
      env: { TESSERA_HOME: envHome },
    });
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, new RegExp(`^initialized ${home}\\n`));
    const id = /node id {4}([0-9a-f]{32})\n/.exec(first.stdout)?.[1];
    assert.ok(id, first.stdout);
    assert.match(first.stdout, /node name {2}box\n/);
    const again = await tessera(['init'], { env: { TESSERA_HOME: home } });
    assert.equal(again.code, 0);
    assert.match(again.stdout, new RegExp(`^already initialized ${home}\\n`));
    assert.ok(again.stdout.includes(id));
    await assert.rejects(readFile(join(envHome, 'tessera.toml')), { code: 'ENOENT' });
    assertFails(
      await tessera(['init', '--name', 'other', '--home', home]),
      17,
      /^tessera: init: EEXIST: .*already names this node "box"/,
    );
    const info = await tessera(['info', '--json', '--home', home]);
    assert.equal(info.code, 0, info.stderr);
    const parsed = JSON.parse(info.stdout) as Record<string, unknown>;
    assert.deepEqual(parsed, {
      home,
      config: join(home, 'tessera.toml'),
      nodeId: id,
      nodeName: 'box',
      listen: '127.0.0.1:7420',
      exports: 0,
    });
  });

  it('commands on a home that was never initialized fail with ENOENT (exit 2)', async () => {
    const home = freshHome();
    assertFails(
      await tessera(['export', 'list', '--home', home]),
      2,
      /^tessera: export list: ENOENT: no .* \(run 'tessera init' first, or pass --home\)$/,
    );
    assertFails(await tessera(['info'], { env: { TESSERA_HOME: home } }), 2, /^tessera: info: ENOENT/);
  });

  it('export add refuses bad input with the errno exit code and leaves the config alone', async () => {
    const home = freshHome();
    assert.equal((await tessera(['init', '--home', home])).code, 0);
    const config = join(home, 'tessera.toml');
    const before = await readFile(config, 'utf8');
    const file = join(dir, 'plain-file');
    await writeFile(file, 'x');
    const h = ['--home', home];
    assertFails(
      await tessera(['export', 'add', 'w', join(dir, 'missing'), ...h]),
      2,
      /^tessera: export add: ENOENT: no such file or directory, export path '.*missing'$/,
    );
    assertFails(
      await tessera(['export', 'add', 'w', file, ...h]),
      20,
      /^tessera: export add: ENOTDIR: not a directory, export path/,
    );
    assertFails(
      await tessera(['export', 'add', 'w', dir, '--kind', 'ext4', ...h]),
      22,
      /--kind: expected one of memory, linux, posix, windows, s3, got "ext4"/,
    );
    assertFails(
      await tessera(['export', 'add', 'a/b', dir, ...h]),
      22,
      /export name "a\/b" may only contain/,
    );
    assertFails(
      await tessera(['export', 'add', 'x'.repeat(65), dir, ...h]),
      22,
      /export name longer than 64 characters/,
    );
    assertFails(
      await tessera(['export', 'add', 'w', dir, '--option', 'novalue', ...h]),
      22,
      /--option expects key=value/,
    );
    assertFails(
      await tessera(['export', 'add', 'w', dir, '--option', 'a=1', '--option', 'a=2', ...h]),
      22,
      /--option a given twice/,
    );
    assertFails(await tessera(['export', 'add', 'w', '--kind', 'posix', ...h]), 22, /missing PATH/);
    assertFails(
      await tessera(['export', 'add', 'b', 'not-s3', '--kind', 's3', ...h]),
      22,
      /^tessera: export add: EINVAL: PATH: expected "s3:\/\/bucket\[\/prefix\]" for kind s3, got "not-s3"$/,
    );
    // The adapter itself validates its options: the export is built and opened before it lands.
    assertFails(
      await tessera(['export', 'add', 'm', '--kind', 'memory', '--option', 'capacity=-1', ...h]),
      22,
      /^tessera: export add: EINVAL: /,
    );
    assert.equal(await readFile(config, 'utf8'), before, 'nothing landed');
  });

  it('adds, lists and removes exports; indices are never reused', async () => {
    const home = freshHome();
    const h = ['--home', home];
    assert.equal((await tessera(['init', ...h])).code, 0);
    const empty = await tessera(['export', 'list', ...h]);
    assert.equal(empty.code, 0);
    assert.match(empty.stdout, /^no exports/);
    assert.equal((await tessera(['export', 'list', '--json', ...h])).stdout.trim(), '[]');

    const added = await tessera([
      'export',
      'add',
      'scratch',
      '--kind',
      'memory',
      '--desc',
      'temp space',
      '--option',
      'capacity=1048576',
      ...h,
    ]);
    assert.equal(added.code, 0, added.stderr);
    assert.equal(added.stdout, 'added export scratch: kind memory, index 1\n');
    const ro = await tessera(['export', 'add', 'ro-mem', '--kind', 'memory', '--ro', ...h]);
    assert.equal(ro.code, 0, ro.stderr);
    assertFails(
      await tessera(['export', 'add', 'scratch', '--kind', 'memory', ...h]),
      17,
      /^tessera: export add: EEXIST: an export with this name already exists/,
    );

    const table = await tessera(['export', 'list', ...h]);
    assert.equal(table.code, 0);
    assert.deepEqual(
      table.stdout
        .split('\n')
        .filter(Boolean)
        .map((line) => line.split(/\s{2,}/)),
      [
        ['NAME', 'KIND', 'INDEX', 'MODE', 'PATH', 'DESC'],
        ['scratch', 'memory', '1', 'rw', 'temp space'],
        ['ro-mem', 'memory', '2', 'ro'],
      ],
    );
    const json = JSON.parse((await tessera(['export', 'list', '--json', ...h])).stdout) as unknown;
    assert.deepEqual(json, [
      { name: 'scratch', kind: 'memory', path: '', ro: false, index: 1, desc: 'temp space' },
      { name: 'ro-mem', kind: 'memory', path: '', ro: true, index: 2, desc: '' },
    ]);
    const config = await readFile(join(home, 'tessera.toml'), 'utf8');
    assert.match(config, /\[export\.options\]\ncapacity = 1048576\n/);
    assert.match(config, /^# Tessera node configuration/, 'the comments of the starter config are kept');

    const removed = await tessera(['export', 'remove', 'ro-mem', ...h]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal(removed.stdout, 'removed export ro-mem (index 2)\n');
    assertFails(
      await tessera(['export', 'remove', 'ro-mem', ...h]),
      2,
      /^tessera: export remove: ENOENT: no export with this name/,
    );
    const again = await tessera(['export', 'add', 'ro-mem', '--kind', 'memory', ...h]);
    assert.equal(again.stdout, 'added export ro-mem: kind memory, index 3\n');
  });

  it('reports a broken config by file, key and expected value', async () => {
    const home = freshHome();
    assert.equal((await tessera(['init', '--home', home])).code, 0);
    const config = join(home, 'tessera.toml');
    const good = await readFile(config, 'utf8');
    await writeFile(config, `${good}\n[[export]]\nname = "x"\nkind = "ext4"\npath = "/x"\n`);
    assertFails(
      await tessera(['export', 'list', '--home', home]),
      22,
      new RegExp(
        `^tessera: export list: ${config}: export\\[0\\]\\.kind: expected one of memory, linux, posix, windows, s3, got "ext4"$`,
      ),
    );
    await writeFile(config, `${good}\n[[export]\nname = "x"\n`);
    assertFails(
      await tessera(['export', 'list', '--home', home]),
      22,
      new RegExp(`^tessera: export list: ${config}:\\d+:\\d+: invalid TOML: `),
    );
    await writeFile(config, `${good}\nsurprise = 1\n`);
    assertFails(await tessera(['info', '--home', home]), 22, /: unknown key log\.surprise$/);
  });

  it('prints the stack only with TESSERA_DEBUG=1', async () => {
    const home = freshHome();
    const quiet = await tessera(['export', 'list', '--home', home]);
    assert.equal(quiet.stderr.trimEnd().split('\n').length, 1);
    const loud = await tessera(['export', 'list', '--home', home], { env: { TESSERA_DEBUG: '1' } });
    assert.equal(loud.code, 2);
    assert.match(loud.stderr, /^tessera: export list: ENOENT/);
    assert.match(loud.stderr, /\n\s+at /, 'a stack trace follows');
  });

  it('exports local directories (relative paths made absolute) and drops their state on removal', async () => {
    const home = freshHome();
    const work = join(dir, 'work');
    await mkdir(join(work, 'data'), { recursive: true });
    await writeFile(join(work, 'data', 'f.txt'), 'hello');
    const h = ['--home', home];
    assert.equal((await tessera(['init', ...h])).code, 0);
    const linux = await tessera(['export', 'add', 'data', 'data', '--kind', 'linux', ...h], { cwd: work });
    assert.equal(linux.code, 0, linux.stderr);
    assert.equal(linux.stdout, `added export data: kind linux, index 1, ${join(work, 'data')}\n`);
    const posix = await tessera([
      'export',
      'add',
      'data-ro',
      join(work, 'data'),
      '--kind',
      'posix',
      '--ro',
      ...h,
    ]);
    assert.equal(posix.code, 0, posix.stderr);
    const list = JSON.parse((await tessera(['export', 'list', '--json', ...h])).stdout) as unknown;
    assert.deepEqual(list, [
      { name: 'data', kind: 'linux', path: join(work, 'data'), ro: false, index: 1, desc: '' },
      { name: 'data-ro', kind: 'posix', path: join(work, 'data'), ro: true, index: 2, desc: '' },
    ]);
    // The probe opened the adapters with their state dirs; removal deletes that state only.
    const state = join(home, 'state', 'exports', '1');
    await stat(state);
    assert.equal((await tessera(['export', 'remove', 'data', ...h])).code, 0);
    await assert.rejects(stat(state), { code: 'ENOENT' });
    assert.equal(
      await readFile(join(work, 'data', 'f.txt'), 'utf8'),
      'hello',
      'exported files are untouched',
    );
    assertFails(
      await tessera(['export', 'add', 'win', 'C:\\data', '--kind', 'windows', ...h]),
      38,
      /^tessera: export add: .*windows source runs only on Windows/,
    );
  });

  it('exports an S3 bucket only when the bucket answers', async () => {
    await using s3 = await startS3rver({ bucket: 'cli-bucket' });
    const home = freshHome();
    const h = ['--home', home];
    assert.equal((await tessera(['init', ...h])).code, 0);
    const options = Object.entries(s3.sourceOptions()).flatMap(([k, v]) => ['--option', `${k}=${String(v)}`]);
    assertFails(
      await tessera(['export', 'add', 'nob', 's3://no-such-bucket', '--kind', 's3', ...options, ...h]),
      2,
      /^tessera: export add: ENOENT: .*no-such-bucket/,
    );
    const added = await tessera([
      'export',
      'add',
      'b',
      's3://cli-bucket/photos',
      '--kind',
      's3',
      ...options,
      ...h,
    ]);
    assert.equal(added.code, 0, added.stderr);
    assert.equal(added.stdout, 'added export b: kind s3, index 1, s3://cli-bucket/photos\n');
    const config = await readFile(join(home, 'tessera.toml'), 'utf8');
    assert.match(config, /force_path_style = true\n/, '--option true is typed as a boolean');
    assert.doesNotMatch(config, /nob/);
  });

  it('runs through npm start as well as the bin launcher', async () => {
    const run = await new Promise<Run>((resolvePromise) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', 'src/cli/main.ts', '--version'],
        { cwd: repoRoot },
        (error, stdout, stderr) => resolvePromise({ code: error ? Number(error.code) : 0, stdout, stderr }),
      );
    });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^tessera \d+\.\d+\.\d+\n$/);
  });
});
