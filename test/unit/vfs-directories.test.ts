import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import type { FileDoc } from '../../src/catalog/vfs/catalog-view.ts';
import { MemoryDirectoryStore } from '../../src/catalog/vfs/directory-store.ts';
import { MemoryCatalogView } from '../../src/catalog/vfs/memory-catalog-view.ts';
import { VirtualDirectories } from '../../src/catalog/vfs/virtual-directories.ts';
import { FsError } from '../../src/core/fs-error.ts';

const NOW = Date.UTC(2026, 0, 31);
let inode = 1000n;

function file(node: string, exp: string, path: string, mtimeMs = NOW - 1000, size = 10): FileDoc {
  return {
    fileId: `${node}:${exp}:${path}`,
    inode: inode++,
    node,
    export: exp,
    path,
    nsPath: `/${exp}${path}`,
    size,
    mtimeMs,
  };
}

function names(vfs: VirtualDirectories, path: string): string[] {
  return vfs.readdir({ path }).map((e) => (e.kind === 'dir' ? `${e.name}/` : e.name));
}

function mount(exp: string, path: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { source: { export: exp, path }, ...extra };
}

describe('virtual directories', () => {
  let catalog: MemoryCatalogView;
  let clock: number;
  let vfs: VirtualDirectories;
  beforeEach(() => {
    catalog = new MemoryCatalogView();
    clock = NOW;
    vfs = new VirtualDirectories({ store: new MemoryDirectoryStore(), catalog, clock: () => clock });
    vfs.open();
    for (const p of [
      '/papers/2024/a.pdf',
      '/papers/2024/b.txt',
      '/papers/c.pdf',
      '/papers-old/z.pdf',
      '/music/x.mp3',
    ])
      catalog.put(file('laptop', 'home', p));
    catalog.put(file('nas', 'share', '/papers/c.pdf', NOW - 5000));
    catalog.put(file('nas', 'share', '/papers/d.pdf'));
  });

  it('the root is a system directory that cannot be deleted', () => {
    assert.equal(vfs.get({ path: '/' }).system, true);
    assert.throws(
      () => vfs.remove({ path: '/' }),
      (e) => FsError.is(e, 'EPERM'),
    );
  });

  it('prefix_replace keeps the hierarchy below the source prefix', () => {
    vfs.create({ path: '/docs', body: { mounts: [mount('home', '/papers')] } });
    assert.deepEqual(names(vfs, '/docs'), ['2024/', 'c.pdf']);
    assert.deepEqual(names(vfs, '/docs/2024'), ['a.pdf', 'b.txt']);
    assert.throws(
      () => vfs.readdir({ path: '/docs/nope' }),
      (e) => FsError.is(e, 'ENOENT'),
    );
  });

  it('source_prefix above source.path keeps the source directory itself', () => {
    vfs.create({ path: '/docs', body: { mounts: [mount('home', '/papers/2024', { source_prefix: '/' })] } });
    assert.deepEqual(names(vfs, '/docs'), ['papers/']);
    assert.deepEqual(names(vfs, '/docs/papers/2024'), ['a.pdf', 'b.txt']);
    assert.throws(
      () =>
        vfs.create({
          path: '/bad',
          body: { mounts: [mount('home', '/papers', { source_prefix: '/music' })] },
        }),
      /source_prefix/,
    );
  });

  it('flatten puts every matching file directly in the directory', () => {
    vfs.create({
      path: '/pdfs',
      body: {
        mounts: [
          mount('home', '/', {
            strategy: 'flatten',
            steps: [{ op: 'glob', pattern: '*.pdf', on_match: 'include' }],
            default_result: 'exclude',
          }),
        ],
      },
    });
    assert.deepEqual(names(vfs, '/pdfs'), ['a.pdf', 'c.pdf', 'z.pdf']);
  });

  it('several sources merge; last_write_wins keeps the newest of a name when every mount agrees', () => {
    vfs.create({ path: '/merged', body: { mounts: [mount('home', '/papers'), mount('share', '/papers')] } });
    const listing = vfs.readdir({ path: '/merged' });
    assert.deepEqual(
      listing.map((e) => e.name),
      ['2024', 'c.pdf', 'd.pdf'],
    );
    assert.equal(listing.find((e) => e.name === 'c.pdf')?.file?.node, 'laptop', 'the newer c.pdf wins');
  });

  it('suffix_node_id keeps both, and wins over last_write_wins across mounts (conservative)', () => {
    const body = (a: string, b: string) => ({
      mounts: [
        mount('home', '/papers', { conflict_policy: a }),
        mount('share', '/papers', { conflict_policy: b }),
      ],
    });
    vfs.create({ path: '/both', body: body('suffix_node_id', 'suffix_node_id') });
    vfs.create({ path: '/mixed', body: body('last_write_wins', 'suffix_node_id') });
    vfs.create({ path: '/mixed2', body: body('suffix_node_id', 'last_write_wins') });
    for (const p of ['/both', '/mixed', '/mixed2']) {
      const listing = vfs.readdir({ path: p });
      assert.deepEqual(
        listing.map((e) => e.name),
        ['2024', 'c.pdf', 'c~nas.pdf', 'd.pdf'],
        p,
      );
      assert.equal(listing.find((e) => e.name === 'c.pdf')?.file?.node, 'laptop');
    }
  });

  it('a file colliding with a directory stays visible, suffixed', () => {
    catalog.put(file('nas', 'share', '/papers/2024', NOW));
    vfs.create({ path: '/m', body: { mounts: [mount('home', '/papers'), mount('share', '/papers')] } });
    assert.deepEqual(names(vfs, '/m'), ['2024/', '2024~nas', 'c.pdf', 'd.pdf']);
  });

  it('child virtual directories are listed as subdirectories and shadow implied ones', () => {
    vfs.create({ path: '/docs', body: { mounts: [mount('home', '/papers')] } });
    vfs.create({ path: '/docs/2024', body: { mounts: [mount('home', '/music')] } });
    vfs.create({ path: '/docs/empty' });
    assert.deepEqual(names(vfs, '/docs'), ['2024/', 'c.pdf', 'empty/']);
    assert.deepEqual(names(vfs, '/docs/2024'), ['x.mp3']);
    assert.deepEqual(names(vfs, '/docs/empty'), []);
    assert.deepEqual(names(vfs, '/'), ['docs/']);
  });

  it("an ancestor's enforced steps filter its descendants; its exclude beats a child's include", () => {
    vfs.create({
      path: '/work',
      body: {
        enforce_steps_on_children: true,
        mounts: [
          mount('home', '/papers', { steps: [{ op: 'glob', pattern: '*.txt', on_match: 'exclude' }] }),
        ],
      },
    });
    vfs.create({
      path: '/work/all',
      body: {
        mounts: [
          mount('home', '/', {
            strategy: 'flatten',
            steps: [{ op: 'glob', pattern: '*.txt', on_match: 'include' }],
          }),
        ],
      },
    });
    assert.deepEqual(names(vfs, '/work/all'), ['a.pdf', 'c.pdf', 'x.mp3', 'z.pdf']);
    // Without enforcement the child shows the .txt again.
    vfs.update({ path: '/work', body: { ...vfs.get({ path: '/work' }), enforce_steps_on_children: false } });
    assert.deepEqual(names(vfs, '/work/all'), ['a.pdf', 'b.txt', 'c.pdf', 'x.mp3', 'z.pdf']);
  });

  it('the same file appears in two directories as the same document', () => {
    vfs.create({ path: '/a', body: { mounts: [mount('home', '/papers')] } });
    vfs.create({ path: '/b', body: { mounts: [mount('home', '/', { strategy: 'flatten' })] } });
    const inA = vfs.entries({ path: '/a' }).get('c.pdf');
    const inB = vfs.entries({ path: '/b' }).get('c.pdf');
    assert.ok(inA?.kind === 'file' && inB?.kind === 'file');
    assert.equal(inA.file.inode, inB.file.inode);
  });

  it('create, update and remove check their input', () => {
    const code = (c: string) => (e: unknown) => FsError.is(e, c as never);
    assert.throws(() => vfs.create({ path: '/federation/x' }), code('EINVAL'));
    assert.throws(() => vfs.create({ path: '/federation' }), code('EINVAL'));
    assert.throws(() => vfs.create({ path: '/a/b' }), code('ENOENT'));
    assert.throws(() => vfs.create({ path: '/a/../b' }), code('EINVAL'));
    assert.throws(
      () => vfs.create({ path: '/x', body: { mounts: [{ source: {} }] } }),
      /mounts\.0\.source\.export/,
    );
    assert.throws(
      () =>
        vfs.create({
          path: '/x',
          body: { mounts: [mount('e', '/', { steps: [{ op: 'regex', pattern: '(' }] })] },
        }),
      /bad regex/,
    );
    // A glob that makes no regular expression (a reversed range) is refused at create, not
    // accepted and then failing every listing.
    assert.throws(
      () =>
        vfs.create({
          path: '/x',
          body: { mounts: [mount('e', '/', { steps: [{ op: 'glob', pattern: '[z-a].pdf' }] })] },
        }),
      (e: unknown) => code('EINVAL')(e) && /bad glob "\[z-a\]\.pdf"/.test((e as Error).message),
    );
    assert.throws(() => vfs.create({ path: '/x', body: { extra: 1 } }), code('EINVAL'));
    assert.deepEqual(
      vfs.list().map((d) => d.path),
      ['/'],
      'nothing was created by bad input',
    );
    vfs.create({ path: '/x' });
    assert.throws(() => vfs.create({ path: '/x' }), code('EEXIST'));
    vfs.create({ path: '/x/y' });
    assert.throws(() => vfs.remove({ path: '/x' }), code('ENOTEMPTY'));
    const doc = vfs.update({ path: '/x', body: { mounts: [mount('home', '/music')] } });
    assert.equal(doc.rev, 2);
    assert.equal(doc.mounts[0]?.id, 'm1');
    assert.throws(() => vfs.update({ path: '/x', body: {}, rev: 1 }), code('EAGAIN'));
    assert.deepEqual(vfs.remove({ path: '/x', recursive: true }), ['/x', '/x/y']);
    assert.deepEqual(names(vfs, '/'), []);
  });

  it('preview evaluates a draft without saving it', () => {
    vfs.create({
      path: '/p',
      body: {
        enforce_steps_on_children: true,
        mounts: [mount('home', '/', { steps: [{ op: 'glob', pattern: '*.mp3', on_match: 'exclude' }] })],
      },
    });
    const draft = { mounts: [mount('home', '/', { strategy: 'flatten' })] };
    const preview = vfs.preview({ path: '/p/draft', body: draft });
    assert.deepEqual(
      preview.entries.map((e) => e.name),
      ['a.pdf', 'b.txt', 'c.pdf', 'z.pdf'],
      'inherited steps apply',
    );
    assert.equal(preview.files, 4);
    assert.throws(
      () => vfs.get({ path: '/p/draft' }),
      (e) => FsError.is(e, 'ENOENT'),
    );
  });

  it('the readdir cache serves within its TTL and is dropped by changes', () => {
    vfs.create({ path: '/docs', body: { mounts: [mount('home', '/papers')] } });
    const first = vfs.tree('/docs');
    assert.equal(vfs.tree('/docs'), first, 'cached');
    clock += 6000;
    const second = vfs.tree('/docs');
    assert.notEqual(second, first, 'expired after the TTL');
    catalog.put(file('laptop', 'home', '/papers/new.pdf'));
    assert.deepEqual(names(vfs, '/docs'), ['2024/', 'c.pdf', 'new.pdf'], 'a catalog change shows at once');
    catalog.remove({ node: 'laptop', export: 'home', path: '/papers/c.pdf' });
    assert.deepEqual(names(vfs, '/docs'), ['2024/', 'new.pdf'], 'deleted files are never listed');
    vfs.update({ path: '/docs', body: { mounts: [mount('home', '/music')] } });
    assert.deepEqual(names(vfs, '/docs'), ['x.mp3'], 'a document change shows at once');
  });

  it('changes are announced for the directories they touch', () => {
    vfs.create({ path: '/docs', body: { mounts: [mount('home', '/papers')] } });
    vfs.create({ path: '/music', body: { mounts: [mount('home', '/music')] } });
    const heard: unknown[] = [];
    vfs.onChange((c) => heard.push(c));
    catalog.put(file('laptop', 'home', '/papers/x.pdf'));
    assert.deepEqual(heard, [{ paths: ['/docs'], entries: [{ dir: '/docs', name: 'x.pdf' }] }]);
    heard.length = 0;
    catalog.put(file('laptop', 'home', '/papers/2024/y.pdf'));
    assert.deepEqual(heard, [{ paths: ['/docs'], entries: [{ dir: '/docs/2024', name: 'y.pdf' }] }]);
  });
});
