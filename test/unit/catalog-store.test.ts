import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { requestRescan, takeRescan } from '../../src/catalog/catalog-file.ts';
import { FIRST_INODE } from '../../src/catalog/file-doc.ts';
import {
  addRule,
  assignLabels,
  effectiveLabels,
  listAssignments,
  listLabels,
  removeRule,
  setRuleEnabled,
  unassignLabels,
} from '../../src/catalog/labels.ts';
import { search } from '../../src/catalog/search.ts';
import { CatalogStore, type FileSighting } from '../../src/catalog/store.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tessera-catalog-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

let nextLocal = 100;
function sighting(path: string, over: Partial<FileSighting> = {}): FileSighting {
  return {
    mount: '/docs',
    local: nextLocal++,
    node: 'alpha',
    export: 'docs',
    path,
    kind: 'file',
    size: 10,
    mtimeMs: 1000.5,
    persistentIds: true,
    exportPath: path.slice('/docs'.length),
    ...over,
  };
}

async function freshStore(name: string): Promise<CatalogStore> {
  const store = new CatalogStore({ file: join(dir, `${name}.db`) });
  await store.open();
  return store;
}

const labelsAt = (store: CatalogStore, path: string): string[] =>
  store.labelsOf(store.fileByPath(path)!.inode);

describe('catalog store', () => {
  it('keeps inodes and file ids across a reopen, a rename and a re-index', async () => {
    const file = join(dir, 'stable.db');
    const a = sighting('/docs/a.txt');
    let inode: number;
    let fileId: string;
    {
      await using store = new CatalogStore({ file });
      await store.open();
      store.write([
        { op: 'upsert', file: sighting('/docs/sub', { kind: 'dir' }) },
        { op: 'upsert', file: a },
      ]);
      const doc = store.fileByPath('/docs/a.txt')!;
      assert.ok(doc.inode >= FIRST_INODE);
      assert.equal(doc.mime, 'text/plain');
      inode = doc.inode;
      fileId = doc.fileId;
    }
    await using store = new CatalogStore({ file });
    await store.open();
    assert.equal(store.fileByPath('/docs/a.txt')?.inode, inode);
    // A rename is one update of the same document.
    const r = store.write([{ op: 'upsert', file: { ...a, path: '/docs/sub/b.txt' } }]);
    assert.deepEqual(r, { inserted: 0, updated: 0, moved: 1, removed: 0, unchanged: 0 });
    assert.equal(store.fileByPath('/docs/a.txt'), undefined);
    const moved = store.fileByPath('/docs/sub/b.txt')!;
    assert.equal(moved.inode, inode);
    assert.equal(moved.fileId, fileId);
    assert.equal(moved.parent, '/docs/sub');
    // Removed and seen again: the same file id (its labels come back), a fresh inode (an
    // inode is never reused, so one a client still holds never points at another file).
    store.write([{ op: 'remove', path: '/docs/sub' }]);
    assert.equal(store.fileByInode(inode), undefined);
    store.write([{ op: 'upsert', file: { ...a, path: '/docs/a.txt' } }]);
    const again = store.fileByPath('/docs/a.txt')!;
    assert.equal(again.fileId, fileId);
    assert.ok(again.inode > inode);
  });

  it('moves a directory subtree with the directory and skips unchanged sightings', async () => {
    await using store = await freshStore('move');
    const d = sighting('/docs/d', { kind: 'dir' });
    const x = sighting('/docs/d/e/x.pdf');
    store.write([
      { op: 'upsert', file: d },
      { op: 'upsert', file: sighting('/docs/d/e', { kind: 'dir' }) },
      { op: 'upsert', file: x },
    ]);
    assert.equal(store.write([{ op: 'upsert', file: x }]).unchanged, 1);
    store.write([{ op: 'upsert', file: { ...d, path: '/docs/z' } }]);
    assert.deepEqual(
      store.filesUnder({ prefix: '/docs' }).map((f) => [f.path, f.parent]),
      [
        ['/docs/z', '/docs'],
        ['/docs/z/e', '/docs/z'],
        ['/docs/z/e/x.pdf', '/docs/z/e'],
      ],
    );
    assert.deepEqual(
      store.filesUnder({ prefix: '/docs/z', childrenOnly: true }).map((f) => f.name),
      ['e'],
    );
    // A removal naming a Source id that is no longer at the path leaves the path alone.
    store.write([{ op: 'remove', path: '/docs/z/e/x.pdf', local: x.local + 1000 }]);
    assert.ok(store.fileByPath('/docs/z/e/x.pdf'));
  });

  it('re-keys a document by path when the Source ids do not persist', async () => {
    await using store = await freshStore('rekey');
    const f = sighting('/docs/r.txt', { persistentIds: false });
    store.write([{ op: 'upsert', file: f }]);
    const before = store.fileByPath('/docs/r.txt')!;
    store.write([{ op: 'upsert', file: { ...f, local: 9999 } }]);
    const afterDoc = store.fileByPath('/docs/r.txt')!;
    assert.equal(afterDoc.inode, before.inode);
    assert.equal(afterDoc.local, 9999);
  });

  it('builds the deferred path indexes as soon as a write must look a document up by path', async () => {
    await using store = await freshStore('deferred');
    const hasPathIndex = () =>
      store.db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'files_by_path'").get() !== undefined;
    const release = store.deferIndexes();
    const first = sighting('/docs/a/one');
    store.write([{ op: 'insert', file: first }]);
    assert.equal(hasPathIndex(), false, 'plain inserts leave it for the release');
    // A hard link's second name: the document moves, after a lookup of what is at the new path
    // (a scan of the table per link without the index).
    store.write([{ op: 'insert', file: { ...first, path: '/docs/b/one', exportPath: '/b/one' } }]);
    assert.equal(hasPathIndex(), true);
    assert.equal(store.fileByPath('/docs/b/one')?.local, first.local);
    release();
    assert.equal(hasPathIndex(), true);
  });
});

describe('rescan requests', () => {
  it('are taken once, the latest request winning', async () => {
    await using store = await freshStore('rescan');
    assert.equal(takeRescan(store), undefined);
    const generation = store.generation();
    assert.equal(takeRescan(store), undefined);
    assert.equal(store.generation(), generation, 'checking for none writes nothing');
    requestRescan(store, { mount: '/docs' });
    requestRescan(store, {});
    assert.equal(takeRescan(store)?.mount, null);
    assert.equal(takeRescan(store), undefined);
  });
});

describe('label cache', () => {
  it('keeps the effective set (assignments ∪ rules) through every change', async () => {
    await using store = await freshStore('labels');
    const p = sighting('/docs/work/p.pdf');
    store.write([
      { op: 'upsert', file: p },
      { op: 'upsert', file: sighting('/docs/work/q.txt') },
      { op: 'upsert', file: sighting('/docs/home/h.txt') },
      { op: 'upsert', file: sighting('/docs/workshop/w.txt') },
    ]);
    const rule = addRule(store, { prefix: '/docs/work/', label: 'work' });
    assert.deepEqual(labelsAt(store, '/docs/work/p.pdf'), ['work']);
    assert.deepEqual(labelsAt(store, '/docs/workshop/w.txt'), [], 'prefix ends at a segment');
    assert.deepEqual(labelsAt(store, '/docs/home/h.txt'), []);
    assignLabels(store, { path: '/docs/work/p.pdf', labels: ['work', 'urgent'] });
    assert.deepEqual(labelsAt(store, '/docs/work/p.pdf'), ['urgent', 'work']);
    // The rule goes: the assignment still gives 'work' to p, nothing gives it to q.
    removeRule(store, { id: rule.id });
    assert.deepEqual(labelsAt(store, '/docs/work/p.pdf'), ['urgent', 'work']);
    assert.deepEqual(labelsAt(store, '/docs/work/q.txt'), []);
    // A file moving under a rule's prefix gains its label; moving out loses it.
    addRule(store, { prefix: '/docs/home/', label: 'home', node: 'alpha' });
    addRule(store, { prefix: '/docs/home/', label: 'beta-only', node: 'beta' });
    store.write([{ op: 'upsert', file: { ...p, path: '/docs/home/p.pdf' } }]);
    assert.deepEqual(labelsAt(store, '/docs/home/p.pdf'), ['home', 'urgent', 'work']);
    assert.deepEqual(
      listAssignments(store, { label: 'urgent' }).map((a) => a.path),
      ['/docs/home/p.pdf'],
      'an assignment shows where its file is now',
    );
    store.write([{ op: 'upsert', file: { ...p, path: '/docs/p.pdf' } }]);
    assert.deepEqual(labelsAt(store, '/docs/p.pdf'), ['urgent', 'work']);
    // Assignments survive re-indexing: removed and seen again, the file has its labels back.
    store.write([{ op: 'remove', path: '/docs/p.pdf' }]);
    store.write([{ op: 'upsert', file: { ...p, path: '/docs/p.pdf' } }]);
    assert.deepEqual(labelsAt(store, '/docs/p.pdf'), ['urgent', 'work']);
    unassignLabels(store, { path: '/docs/p.pdf', labels: ['work'] });
    assert.deepEqual(labelsAt(store, '/docs/p.pdf'), ['urgent']);
    // Disabling a rule takes its label away; enabling gives it back.
    const home = addRule(store, { prefix: '/docs/home/', label: 'home', node: 'alpha' });
    setRuleEnabled(store, { id: home.id, enabled: false });
    assert.deepEqual(labelsAt(store, '/docs/home/h.txt'), []);
    setRuleEnabled(store, { id: home.id, enabled: true });
    assert.deepEqual(labelsAt(store, '/docs/home/h.txt'), ['home']);
    const eff = effectiveLabels(store, { path: '/docs/home/h.txt' });
    assert.deepEqual(
      eff.rules.map((r) => r.id),
      [home.id],
    );
    assert.deepEqual(
      listLabels(store).map((l) => [l.label, l.files]),
      [
        ['beta-only', 0],
        ['home', 1],
        ['urgent', 1],
      ],
      "'work' is no longer given by anything",
    );
    assert.throws(() => addRule(store, { prefix: '/docs/home', label: 'x' }), /ending with "\/"/);
    assert.throws(
      () => assignLabels(store, { path: '/docs/p.pdf', labels: ['a b'] }),
      /EINVAL: .*no whitespace.*, got "a b"/,
    );
    // A value too long to quote whole is still named, cut short.
    assert.throws(
      () => assignLabels(store, { path: '/docs/p.pdf', labels: ['x'.repeat(100)] }),
      new RegExp(`EINVAL: .*, got "${'x'.repeat(77)}\\.\\.\\."`),
    );
    assert.throws(() => assignLabels(store, { path: '/nope', labels: ['a'] }), /ENOENT/);
  });
});

describe('search', () => {
  it('finds by substring and glob, ANDs labels, pages without repeats', async () => {
    await using store = await freshStore('search');
    const writes = [];
    for (let i = 0; i < 30; i++)
      writes.push({ op: 'upsert' as const, file: sighting(`/docs/s/Report-${i}.pdf`) });
    writes.push({ op: 'upsert' as const, file: sighting('/docs/s/notes.txt') });
    writes.push({ op: 'upsert' as const, file: sighting('/docs/s/x_y.md') });
    writes.push({ op: 'upsert' as const, file: sighting('/docs/s/xay.md') });
    writes.push({ op: 'upsert' as const, file: sighting('/docs/s/a "quoted" 50%_off.dat') });
    writes.push({ op: 'upsert' as const, file: sighting('/docs/s/a quoted 50xyoff.dat') });
    store.write(writes);
    assignLabels(store, { path: '/docs/s/Report-3.pdf', labels: ['q1', 'final'] });
    assignLabels(store, { path: '/docs/s/Report-4.pdf', labels: ['q1'] });
    const names = (q: Parameters<typeof search>[1]) =>
      search(store, q)
        .results.map((r) => r.name)
        .sort();
    // The same answers whether the name index holds none, part or all of the documents
    // (rows above its watermark are scanned), and pages cross the boundary without repeats.
    const check = (): void => {
      assert.equal(names({ q: 'report', limit: 100 }).length, 30);
      assert.deepEqual(names({ q: 'x_' }), ['x_y.md'], 'wildcards in a substring are literal');
      assert.deepEqual(names({ q: 'x_y' }), ['x_y.md'], 'also in an indexed (3+ character) substring');
      assert.deepEqual(names({ q: '0%_o' }), ['a "quoted" 50%_off.dat']);
      assert.deepEqual(names({ q: '"QUOTED" 5' }), ['a "quoted" 50%_off.dat'], 'quotes are literal');
      assert.deepEqual(names({ q: 'QUOTED' }).length, 2, 'case-insensitive');
      assert.deepEqual(names({ q: 'OR 5' }), [], 'query syntax is literal');
      assert.deepEqual(names({ glob: 'Report-2?.pdf' }).length, 10);
      assert.deepEqual(names({ glob: '*.txt' }), ['notes.txt']);
      assert.deepEqual(names({ q: 'report', labels: ['q1'] }), ['Report-3.pdf', 'Report-4.pdf']);
      assert.deepEqual(names({ labels: ['q1', 'final'] }), ['Report-3.pdf']);
      const seen = new Set<string>();
      let cursor: string | undefined;
      do {
        const page = search(store, { q: 'rep', limit: 7, cursor });
        for (const r of page.results) {
          assert.ok(!seen.has(r.path));
          seen.add(r.path);
        }
        cursor = page.next;
      } while (cursor !== undefined);
      assert.equal(seen.size, 30);
    };
    assert.equal(store.namesIndexedUpto(), FIRST_INODE - 1);
    check();
    assert.equal(store.indexNames(10), 10);
    check();
    while (store.indexNames(7) > 0);
    assert.equal(store.namesIndexedUpto(), store.fileByPath('/docs/s/a quoted 50xyoff.dat')!.inode);
    check();
    assert.throws(
      () => search(store, { limit: 0 }),
      /EINVAL: limit: .*>=1, got 0/,
      'names the key and value',
    );
  });

  it('gives a new document the labels of enabled matching rules and of its assignments', async () => {
    await using store = await freshStore('new-labels');
    addRule(store, { prefix: '/docs/in/', label: 'any-node' });
    addRule(store, { prefix: '/docs/in/', label: 'alpha-only', node: 'alpha' });
    addRule(store, { prefix: '/docs/in/', label: 'beta-only', node: 'beta' });
    const off = addRule(store, { prefix: '/docs/', label: 'disabled' });
    setRuleEnabled(store, { id: off.id, enabled: false });
    const f = sighting('/docs/in/a.txt');
    store.write([
      { op: 'upsert', file: f },
      { op: 'upsert', file: sighting('/docs/inside.txt') },
    ]);
    assert.deepEqual(labelsAt(store, '/docs/in/a.txt'), ['alpha-only', 'any-node']);
    assert.deepEqual(labelsAt(store, '/docs/inside.txt'), [], 'a prefix ends at a segment');
    assignLabels(store, { path: '/docs/in/a.txt', labels: ['mine'] });
    store.write([{ op: 'remove', path: '/docs/in/a.txt' }]);
    store.write([{ op: 'upsert', file: f }]);
    assert.deepEqual(labelsAt(store, '/docs/in/a.txt'), ['alpha-only', 'any-node', 'mine']);
  });

  it('keeps the name index in step with renames and removals of indexed documents', async () => {
    await using store = await freshStore('search-index');
    const a = sighting('/docs/alpha-one.txt');
    const b = sighting('/docs/beta-two.txt');
    store.write([
      { op: 'upsert', file: a },
      { op: 'upsert', file: b },
    ]);
    store.indexNames();
    store.write([{ op: 'upsert', file: { ...a, path: '/docs/gamma-three.txt' } }]);
    store.write([{ op: 'remove', path: '/docs/beta-two.txt' }]);
    store.write([{ op: 'upsert', file: sighting('/docs/alpha-new.txt') }]);
    const names = (q: string) =>
      search(store, { q })
        .results.map((r) => r.name)
        .sort();
    assert.deepEqual(names('alpha'), ['alpha-new.txt'], 'the old name is gone from the index');
    assert.deepEqual(names('gamma'), ['gamma-three.txt']);
    assert.deepEqual(names('beta'), []);
    assert.equal(store.indexNames(), 1, 'only the new document was left to index');
    assert.deepEqual(names('alpha'), ['alpha-new.txt']);
    assert.deepEqual(search(store, { glob: 'gamma-*' }).results.length, 1);
  });
});
