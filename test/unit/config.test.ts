import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, chmod, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  CACHE_DEFAULTS,
  DEFAULT_LISTEN,
  EXPORT_KINDS,
  defaultNodeName,
  loadConfig,
  parseConfigText,
  splitListen,
} from '../../src/core/config.ts';
import { parseByteSize } from '../../src/core/byte-size.ts';
import { appendExportText, removeExportText, setExportIndexesText } from '../../src/core/config-edit.ts';
import { writeFileAtomic } from '../../src/core/atomic-file.ts';
import { withFileLock } from '../../src/core/file-lock.ts';
import { FsError } from '../../src/core/fs-error.ts';
import { SOURCE_KINDS } from '../../src/sources/registry.ts';

const FILE = '/home/me/.tessera/tessera.toml';

function parse(text: string) {
  return parseConfigText({ text, file: FILE });
}

/** The FsError that `fn` throws (fails the test when it does not throw one). */
function errorOf(fn: () => unknown): FsError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof FsError, `expected an FsError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected an error');
}

describe('tessera.toml schema', () => {
  it('fills defaults for an empty file', () => {
    const cfg = parse('');
    assert.equal(cfg.server.listen, DEFAULT_LISTEN);
    assert.equal(cfg.server.sealed, true);
    assert.equal(cfg.log.level, 'info');
    assert.equal(cfg.log.file, undefined);
    assert.deepEqual(cfg.export, []);
    assert.equal(cfg.node.name, undefined);
  });

  it('reads every section', () => {
    const cfg = parse(`
[node]
name = "box-1"
[server]
listen = "[::1]:9000"
[log]
level = "debug"
file = "logs/node.log"
[[export]]
name = "work"
kind = "linux"
path = "/srv/work"
ro = true
desc = "work tree"
index = 3
[export.options]
scanIntervalMs = 500
[[export]]
name = "scratch"
kind = "memory"
[[export]]
name = "bucket"
kind = "s3"
path = "s3://my-bucket/pre/fix"
`);
    assert.equal(cfg.node.name, 'box-1');
    assert.deepEqual(splitListen(cfg.server.listen), { host: '::1', port: 9000 });
    assert.equal(cfg.log.level, 'debug');
    assert.equal(cfg.log.file, 'logs/node.log');
    assert.deepEqual(cfg.export[0], {
      name: 'work',
      kind: 'linux',
      path: '/srv/work',
      ro: true,
      desc: 'work tree',
      index: 3,
      options: { scanIntervalMs: 500 },
    });
    assert.deepEqual(cfg.export[1], {
      name: 'scratch',
      kind: 'memory',
      path: '',
      ro: false,
      desc: '',
      options: {},
    });
    assert.equal(cfg.export[2]?.path, 's3://my-bucket/pre/fix');
  });

  it('names the key, the expected values and the bad value for a wrong kind', () => {
    const err = errorOf(() =>
      parse(`
[[export]]
name = "a"
kind = "memory"
[[export]]
name = "b"
kind = "ext4"
path = "/x"
`),
    );
    assert.equal(err.code, 'EINVAL');
    assert.equal(err.op, 'config');
    assert.equal(err.path, FILE);
    assert.equal(
      err.message,
      `${FILE}: export[1].kind: expected one of memory, linux, posix, windows, s3, got "ext4"`,
    );
  });

  it('refuses unknown keys at every level', () => {
    assert.match(errorOf(() => parse('colour = "red"\n')).message, /: unknown key colour$/);
    assert.match(
      errorOf(() => parse('[node]\nname = "a"\nnick = "b"\n')).message,
      /: unknown key node\.nick$/,
    );
    assert.match(
      errorOf(() => parse('[[export]]\nname = "a"\nkind = "memory"\nreadonly = true\n')).message,
      /: unknown key export\[0\]\.readonly$/,
    );
    assert.match(errorOf(() => parse('[server]\nport = 1\n')).message, /unknown key server\.port/);
  });

  it('names the expected type and what it got', () => {
    assert.match(
      errorOf(() => parse('[[export]]\nname = "a"\nkind = "memory"\nro = "yes"\n')).message,
      /export\[0\]\.ro: expected a boolean \(true or false\), got "yes"$/,
    );
    assert.match(
      errorOf(() => parse('[[export]]\nname = "a"\nkind = "memory"\nindex = "1"\n')).message,
      /export\[0\]\.index: expected a number, got "1"$/,
    );
    assert.match(
      errorOf(() => parse('[[export]]\nname = "a"\nkind = "memory"\nindex = 1.5\n')).message,
      /export\[0\]\.index: expected an integer, got 1\.5$/,
    );
    assert.match(
      errorOf(() => parse('[[export]]\nkind = "memory"\n')).message,
      /export\[0\]\.name: missing \(expected a string\)$/,
    );
    assert.match(errorOf(() => parse('node = 3\n')).message, /node: expected a table, got 3$/);
    assert.match(
      errorOf(() => parse('[log]\nlevel = "loud"\n')).message,
      /log\.level: expected one of debug, info, warn, error, got "loud"$/,
    );
  });

  it('reports every problem at once, on one line', () => {
    const err = errorOf(() => parse('[[export]]\nname = "a b"\nkind = "zfs"\n[log]\nlevel = 1\n'));
    assert.doesNotMatch(err.message, /\n/);
    assert.match(err.message, /export\[0\]\.name: "a b" may only contain/);
    assert.match(err.message, /export\[0\]\.kind: expected one of/);
    assert.match(err.message, /log\.level: expected one of .*, got 1/);
  });

  it('gives line and column for TOML syntax errors', () => {
    const err = errorOf(() => parse('[node]\nname = "a"\n[server\nlisten = "x"\n'));
    assert.equal(err.code, 'EINVAL');
    assert.equal(err.op, 'config');
    assert.match(err.message, new RegExp(`^${FILE.replaceAll('.', '\\.')}:3:\\d+: invalid TOML: `));
    assert.doesNotMatch(err.message, /\n/);
  });

  it('checks export names: charset, length, dot names, uniqueness', () => {
    const one = (name: string) => `[[export]]\nname = ${JSON.stringify(name)}\nkind = "memory"\n`;
    assert.equal(parse(one('A.b_c-9')).export[0]?.name, 'A.b_c-9');
    assert.equal(parse(one('x'.repeat(64))).export[0]?.name.length, 64);
    assert.match(
      errorOf(() => parse(one('x'.repeat(65)))).message,
      /export\[0\]\.name: longer than 64 characters/,
    );
    assert.match(errorOf(() => parse(one('a/b'))).message, /export\[0\]\.name: "a\/b" may only contain/);
    assert.match(errorOf(() => parse(one('..'))).message, /export\[0\]\.name: "\.\." is not a name/);
    assert.match(errorOf(() => parse(one(''))).message, /export\[0\]\.name: must not be empty/);
    assert.match(
      errorOf(() => parse(one('dup') + one('ok') + one('dup'))).message,
      /export\[2\]\.name: duplicate export name "dup" \(also export\[0\]\)/,
    );
    const indexed = (name: string, index: number) => `${one(name)}index = ${index}\n`;
    assert.match(
      errorOf(() => parse(indexed('a', 4) + indexed('b', 4))).message,
      /export\[1\]\.index: duplicate export index 4/,
    );
    assert.match(
      errorOf(() => parse(indexed('a', 65536))).message,
      /export\[0\]\.index: must be at most 65535/,
    );
  });

  it('checks export paths by kind', () => {
    const exp = (kind: string, path?: string) =>
      `[[export]]\nname = "e"\nkind = "${kind}"\n${path === undefined ? '' : `path = ${JSON.stringify(path)}\n`}`;
    assert.match(
      errorOf(() => parse(exp('linux', 'rel/dir'))).message,
      /export\[0\]\.path: expected an absolute path for kind linux, got "rel\/dir"/,
    );
    assert.match(errorOf(() => parse(exp('posix'))).message, /export\[0\]\.path: missing/);
    assert.match(
      errorOf(() => parse(exp('s3', '/local'))).message,
      /export\[0\]\.path: expected "s3:\/\/bucket/,
    );
    assert.equal(parse(exp('windows', 'C:\\data')).export[0]?.path, 'C:\\data');
    assert.equal(parse(exp('memory')).export[0]?.path, '');
  });

  it('checks the listen address', () => {
    assert.match(
      errorOf(() => parse('[server]\nlisten = "7420"\n')).message,
      /server\.listen: expected "host:port"/,
    );
    assert.match(
      errorOf(() => parse('[server]\nlisten = "h:70000"\n')).message,
      /port 70000 is out of range/,
    );
    assert.deepEqual(splitListen(parse('[server]\nlisten = "0.0.0.0:0"\n').server.listen), {
      host: '0.0.0.0',
      port: 0,
    });
  });

  it('reads whether the node offers sealed connections', () => {
    assert.equal(parse('[server]\nsealed = false\n').server.sealed, false);
    assert.equal(parse('[server]\nlisten = "127.0.0.1:1"\n').server.sealed, true);
    assert.match(errorOf(() => parse('[server]\nsealed = "no"\n')).message, /server\.sealed/);
  });

  it('reads the cache section: defaults, sizes with units, and bad sizes named', () => {
    assert.deepEqual(parse('').cache, CACHE_DEFAULTS);
    const cfg = parse('[cache]\ndir = "/var/cache/tessera"\nmax_size = "512MiB"\nmin_free = 1000000\n');
    assert.deepEqual(cfg.cache, {
      dir: '/var/cache/tessera',
      max_size: 512 * 1024 ** 2,
      min_free: 1_000_000,
    });
    assert.equal(parseByteSize('2 GB'), 2e9);
    assert.equal(parseByteSize('1.5k'), 1536);
    assert.equal(parseByteSize('10 parsecs'), undefined);
    const err = errorOf(() => parse('[cache]\nmax_size = "lots"\n'));
    assert.match(err.message, /cache\.max_size/);
    assert.match(err.message, /"lots"/);
  });

  it('keeps the kind list equal to the source registry', () => {
    assert.deepEqual([...EXPORT_KINDS].sort(), [...SOURCE_KINDS].sort());
  });

  it('makes a valid node name from any host name', () => {
    assert.equal(defaultNodeName('my host!'), 'my-host-');
    assert.equal(defaultNodeName(''), 'node');
    assert.equal(defaultNodeName('..'), 'node');
    assert.equal(defaultNodeName('x'.repeat(100)).length, 64);
  });
});

describe('config edits keep the file valid and the comments', () => {
  const base = `# my node
[node]
name = "n"  # the name

# scratch space
[[export]]
name = "a"
kind = "memory"
index = 1

# the work tree
[[export]]
name = "b"
kind = "memory"
index = 2
[export.options]
capacity = 10

[log]
level = "warn" # quiet
`;

  it('appends an export as a new block', () => {
    const text = appendExportText({
      text: base,
      file: FILE,
      entry: {
        name: 'c',
        kind: 'memory',
        path: '',
        ro: true,
        desc: 'q"uote',
        index: 3,
        options: { capacity: 5 },
      },
    });
    assert.ok(text.startsWith(base), 'the existing text is kept byte for byte');
    const cfg = parse(text);
    assert.deepEqual(
      cfg.export.map((e) => e.name),
      ['a', 'b', 'c'],
    );
    assert.deepEqual(cfg.export[2], {
      name: 'c',
      kind: 'memory',
      path: '',
      ro: true,
      desc: 'q"uote',
      index: 3,
      options: { capacity: 5 },
    });
    assert.equal(cfg.log.level, 'warn');
  });

  it('removes a block with its own comment and keeps the others', () => {
    const withoutA = removeExportText({ text: base, position: 0, file: FILE });
    assert.doesNotMatch(withoutA, /scratch space/);
    assert.match(withoutA, /# the work tree/);
    assert.match(withoutA, /# quiet/);
    assert.deepEqual(
      parse(withoutA).export.map((e) => e.name),
      ['b'],
    );
    const withoutB = removeExportText({ text: base, position: 1, file: FILE });
    assert.doesNotMatch(withoutB, /work tree|capacity/);
    assert.match(withoutB, /# scratch space/);
    const cfg = parse(withoutB);
    assert.deepEqual(
      cfg.export.map((e) => e.name),
      ['a'],
    );
    assert.equal(cfg.log.level, 'warn', 'the section after the removed block is intact');
    const none = removeExportText({ text: withoutB, position: 0, file: FILE });
    assert.deepEqual(parse(none).export, []);
    assert.match(none, /# my node/);
  });

  it('adds index lines to the right blocks', () => {
    const text = `[[export]]\nname = "a"\nkind = "memory"\n\n[[export]]\nname = "b"\nkind = "memory"\n[export.options]\ncapacity = 1\n`;
    const out = setExportIndexesText({ text, indexes: new Map([[1, 7]]), file: FILE });
    const cfg = parse(out);
    assert.equal(cfg.export[0]?.index, undefined);
    assert.equal(cfg.export[1]?.index, 7);
    assert.deepEqual(cfg.export[1]?.options, { capacity: 1 });
  });

  it('rewrites layouts it cannot edit in place, still correctly', () => {
    const inline =
      'export = [ { name = "a", kind = "memory", index = 1 }, { name = "b", kind = "memory", index = 2 } ]\n';
    const out = removeExportText({ text: inline, position: 0, file: FILE });
    assert.match(out, /^# Rewritten by tessera/);
    assert.deepEqual(
      parse(out).export.map((e) => [e.name, e.index]),
      [['b', 2]],
    );
  });

  it('refuses an edit that would make the config invalid', () => {
    const err = errorOf(() =>
      appendExportText({
        text: base,
        file: FILE,
        entry: { name: 'a', kind: 'memory', path: '', ro: false, desc: '', index: 9, options: {} },
      }),
    );
    assert.equal(err.code, 'EINVAL');
    assert.match(err.message, /duplicate export name "a"/);
  });
});

describe('atomic writes and the config lock', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-config-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('replaces a file whole, keeps its mode and leaves no temp file', async () => {
    const file = join(dir, 'a.toml');
    await writeFile(file, 'old');
    await chmod(file, 0o600);
    await writeFileAtomic({ file, data: 'new content' });
    assert.equal(await readFile(file, 'utf8'), 'new content');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(dir), ['a.toml']);
  });

  it('leaves the old file untouched when the write fails', async () => {
    const file = join(dir, 'b.toml');
    await writeFile(file, 'keep me');
    // A directory where the temp file would be renamed to makes rename fail after writing.
    const sub = join(dir, 'sub');
    await writeFile(sub, 'i am a file, not a dir');
    await assert.rejects(writeFileAtomic({ file: join(sub, 'x.toml'), data: 'x' }), (err: unknown) => {
      assert.ok(err instanceof FsError);
      assert.equal(err.code, 'ENOTDIR');
      return true;
    });
    assert.equal(await readFile(file, 'utf8'), 'keep me');
    assert.deepEqual((await readdir(dir)).sort(), ['a.toml', 'b.toml', 'sub']);
  });

  it('serializes read-modify-write sections', async () => {
    const file = join(dir, 'counter');
    const lockFile = join(dir, 'counter.lock');
    await writeFile(file, '0');
    await Promise.all(
      Array.from({ length: 8 }, () =>
        withFileLock({ lockFile, pollMs: 5 }, async () => {
          const n = Number(await readFile(file, 'utf8'));
          await new Promise((r) => setImmediate(r));
          await writeFile(file, String(n + 1));
        }),
      ),
    );
    assert.equal(await readFile(file, 'utf8'), '8');
    await assert.rejects(stat(lockFile), { code: 'ENOENT' });
  });

  it('takes over a lock left by a dead process and refuses a live holder with EBUSY', async () => {
    const lockFile = join(dir, 'held.lock');
    // Linux never hands out pids above 2^22 (the largest pid_max), so this one is dead.
    const deadPid = 4194305;
    assert.throws(() => process.kill(deadPid, 0), { code: 'ESRCH' });
    await writeFile(lockFile, `${deadPid}\n`);
    assert.equal(await withFileLock({ lockFile }, async () => 'ran'), 'ran');
    await writeFile(lockFile, `${process.pid}\n`);
    await assert.rejects(
      withFileLock({ lockFile, timeoutMs: 0 }, async () => 'ran'),
      (err: unknown) => {
        assert.ok(FsError.is(err, 'EBUSY'));
        assert.match(err.message, new RegExp(`locked by process ${process.pid}`));
        return true;
      },
    );
    await rm(lockFile);
  });

  it('reads a config file, or says how to create one', async () => {
    const file = join(dir, 'tessera.toml');
    await writeFile(file, '[node]\nname = "x"\n');
    const { config, text } = await loadConfig({ file });
    assert.equal(config.node.name, 'x');
    assert.equal(text, '[node]\nname = "x"\n');
    await assert.rejects(loadConfig({ file: join(dir, 'none.toml') }), (err: unknown) => {
      assert.ok(FsError.is(err, 'ENOENT'));
      assert.match(err.message, /run 'tessera init'/);
      return true;
    });
  });
});
