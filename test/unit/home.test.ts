import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FsError } from '../../src/core/fs-error.ts';
import {
  addExport,
  exportStateDir,
  homePaths,
  initHome,
  logFileOf,
  openHome,
  removeExport,
  resolveHome,
  type NewExport,
} from '../../src/core/home.ts';
import { isNodeId, loadIdentity, loadOrCreateIdentity } from '../../src/core/identity.ts';

const mem = (name: string): NewExport => ({
  name,
  kind: 'memory',
  path: '',
  ro: false,
  desc: '',
  options: {},
});

describe('node home', () => {
  let dir: string;
  let n = 0;
  /** A fresh, not yet initialized home path. */
  const freshRoot = () => join(dir, `home-${++n}`);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-home-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is --home, else TESSERA_HOME, else ~/.tessera', () => {
    const env = { TESSERA_HOME: 'envhome' };
    assert.equal(resolveHome({ home: 'flag', env, cwd: '/w', userHome: '/u' }), '/w/flag');
    assert.equal(resolveHome({ home: '/abs', env, cwd: '/w', userHome: '/u' }), '/abs');
    assert.equal(resolveHome({ env, cwd: '/w', userHome: '/u' }), '/w/envhome');
    assert.equal(resolveHome({ env: {}, cwd: '/w', userHome: '/u' }), '/u/.tessera');
    assert.equal(
      resolveHome({ home: '', env: { TESSERA_HOME: '' }, cwd: '/w', userHome: '/u' }),
      '/u/.tessera',
    );
  });

  it('init creates a private home with identity and config, and is idempotent', async () => {
    const root = freshRoot();
    const first = await initHome({ root, name: 'box' });
    assert.equal(first.createdConfig, true);
    assert.equal(first.createdIdentity, true);
    assert.ok(isNodeId(first.home.identity.id));
    assert.equal(first.home.config.node.name, 'box');
    assert.equal((await stat(root)).mode & 0o777, 0o700);
    const paths = homePaths(root);
    assert.equal((await stat(paths.configFile)).mode & 0o777, 0o600);
    const text = await readFile(paths.configFile, 'utf8');

    const again = await initHome({ root });
    assert.equal(again.createdConfig, false);
    assert.equal(again.createdIdentity, false);
    assert.equal(again.home.identity.id, first.home.identity.id);
    assert.equal(await readFile(paths.configFile, 'utf8'), text, 'a second init changes nothing');
    assert.equal((await initHome({ root, name: 'box' })).home.identity.id, first.home.identity.id);
  });

  it('init refuses to rename a node or to use a bad name', async () => {
    const root = freshRoot();
    await initHome({ root, name: 'box' });
    await assert.rejects(initHome({ root, name: 'other' }), (err: unknown) => {
      assert.ok(FsError.is(err, 'EEXIST'));
      assert.match(err.message, /already names this node "box"/);
      return true;
    });
    await assert.rejects(initHome({ root: freshRoot(), name: 'a b' }), (err: unknown) =>
      FsError.is(err, 'EINVAL'),
    );
  });

  it('init fills in a missing identity without touching the config', async () => {
    const root = freshRoot();
    await mkdir(root);
    await writeFile(join(root, 'tessera.toml'), '# mine\n[node]\nname = "kept"\n');
    const { createdConfig, createdIdentity, home } = await initHome({ root });
    assert.equal(createdConfig, false);
    assert.equal(createdIdentity, true);
    assert.equal(home.config.node.name, 'kept');
    assert.equal(await readFile(join(root, 'tessera.toml'), 'utf8'), '# mine\n[node]\nname = "kept"\n');
  });

  it('open says how to initialize a home that is not one', async () => {
    const root = freshRoot();
    await assert.rejects(openHome({ root }), (err: unknown) => {
      assert.ok(FsError.is(err, 'ENOENT'));
      assert.match(err.message, /run 'tessera init'/);
      return true;
    });
  });

  it('gives export indices that never change and are never reused', async () => {
    const root = freshRoot();
    await initHome({ root });
    assert.equal((await addExport({ root, entry: mem('a') })).index, 1);
    assert.equal((await addExport({ root, entry: mem('b') })).index, 2);
    assert.equal((await addExport({ root, entry: mem('c') })).index, 3);
    await removeExport({ root, name: 'b' });
    // Another process opening the home sees the same indices.
    const reopened = await openHome({ root });
    assert.deepEqual(
      reopened.config.export.map((e) => [e.name, e.index]),
      [
        ['a', 1],
        ['c', 3],
      ],
    );
    // The newest export removed: its index is still not handed out again.
    await removeExport({ root, name: 'c' });
    assert.equal((await addExport({ root, entry: mem('d') })).index, 4);
    assert.equal((await addExport({ root, entry: mem('c') })).index, 5, 'a re-added name is a new export');
  });

  it('assigns and persists indices for hand-written exports, keeping comments', async () => {
    const root = freshRoot();
    await initHome({ root });
    await addExport({ root, entry: mem('first') });
    const paths = homePaths(root);
    const handWritten =
      (await readFile(paths.configFile, 'utf8')) +
      '\n# added by hand\n[[export]]\nname = "hand"\nkind = "memory"\n\n[[export]]\nname = "pinned"\nkind = "memory"\nindex = 40\n';
    await writeFile(paths.configFile, handWritten);
    const home = await openHome({ root });
    const byName = new Map(home.config.export.map((e) => [e.name, e.index]));
    assert.equal(byName.get('first'), 1);
    assert.equal(byName.get('pinned'), 40);
    assert.equal(byName.get('hand'), 41, 'above every index in use');
    const text = await readFile(paths.configFile, 'utf8');
    assert.match(text, /# added by hand\n\[\[export\]\]\nindex = 41\n/);
    assert.equal((await openHome({ root })).config.export.find((e) => e.name === 'hand')?.index, 41);
  });

  it('never writes an export whose check fails, and cleans its state', async () => {
    const root = freshRoot();
    await initHome({ root });
    const paths = homePaths(root);
    const before = await readFile(paths.configFile, 'utf8');
    let checkedIndex = -1;
    await assert.rejects(
      addExport({
        root,
        entry: mem('bad'),
        check: async (entry) => {
          checkedIndex = entry.index;
          await mkdir(exportStateDir(paths, entry.index), { recursive: true });
          throw FsError.ENOENT('export path', '/gone');
        },
      }),
      (err: unknown) => FsError.is(err, 'ENOENT'),
    );
    assert.equal(checkedIndex, 1);
    assert.equal(await readFile(paths.configFile, 'utf8'), before);
    await assert.rejects(stat(exportStateDir(paths, 1)), { code: 'ENOENT' });
    // Nothing landed, so the index is free for the next export.
    assert.equal((await addExport({ root, entry: mem('good') })).index, 1);
  });

  it('refuses a duplicate name and an unknown removal', async () => {
    const root = freshRoot();
    await initHome({ root });
    await addExport({ root, entry: mem('x') });
    await assert.rejects(addExport({ root, entry: mem('x') }), (err: unknown) => FsError.is(err, 'EEXIST'));
    await assert.rejects(removeExport({ root, name: 'nope' }), (err: unknown) => FsError.is(err, 'ENOENT'));
  });

  it('removing an export deletes the state its adapter kept', async () => {
    const root = freshRoot();
    await initHome({ root });
    const paths = homePaths(root);
    const entry = await addExport({ root, entry: mem('s') });
    const state = exportStateDir(paths, entry.index);
    await mkdir(state, { recursive: true });
    await writeFile(join(state, 'ids.db'), 'x');
    await removeExport({ root, name: 's' });
    await assert.rejects(stat(state), { code: 'ENOENT' });
  });

  it('concurrent adds all land', async () => {
    const root = freshRoot();
    await initHome({ root });
    await Promise.all(['p', 'q', 'r', 's'].map((name) => addExport({ root, entry: mem(name) })));
    const home = await openHome({ root });
    assert.deepEqual(home.config.export.map((e) => e.name).sort(), ['p', 'q', 'r', 's']);
    assert.deepEqual(home.config.export.map((e) => e.index).sort(), [1, 2, 3, 4]);
  });

  it('resolves the log file against the home', async () => {
    const root = freshRoot();
    const { home } = await initHome({ root });
    assert.equal(logFileOf(home.paths, home.config), undefined);
    assert.equal(
      logFileOf(home.paths, { ...home.config, log: { level: 'info', file: 'n.log' } }),
      join(root, 'n.log'),
    );
    assert.equal(
      logFileOf(home.paths, { ...home.config, log: { level: 'info', file: '/var/n.log' } }),
      '/var/n.log',
    );
  });
});

describe('node identity', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-identity-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is created once; racing creators agree on one id', async () => {
    const file = join(dir, 'node.json');
    const results = await Promise.all(Array.from({ length: 6 }, () => loadOrCreateIdentity({ file })));
    assert.equal(results.filter((r) => r.created).length, 1);
    assert.equal(new Set(results.map((r) => r.identity.id)).size, 1);
    assert.deepEqual(await loadIdentity({ file }), results[0]?.identity);
  });

  it('refuses a damaged identity file', async () => {
    const file = join(dir, 'bad.json');
    await writeFile(file, '{"version":1,"id":"XYZ","createdAt":"2024-01-01T00:00:00Z"}');
    await assert.rejects(loadIdentity({ file }), (err: unknown) => {
      assert.ok(FsError.is(err, 'EINVAL'));
      assert.match(err.message, /id: expected 32 lowercase hex digits/);
      return true;
    });
    await writeFile(file, 'not json');
    await assert.rejects(loadIdentity({ file }), (err: unknown) => FsError.is(err, 'EINVAL'));
  });

  it('makes distinct 128-bit ids', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++) {
      ids.add((await loadOrCreateIdentity({ file: join(dir, `n${i}.json`) })).identity.id);
    }
    assert.equal(ids.size, 5);
    for (const id of ids) assert.match(id, /^[0-9a-f]{32}$/);
  });
});
