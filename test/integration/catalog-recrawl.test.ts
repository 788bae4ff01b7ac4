import assert from 'node:assert/strict';
import { link, lstat, mkdir, readdir, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { crawl, type MountTarget, sightingOf } from '../../src/catalog/crawler.ts';
import { CatalogStore } from '../../src/catalog/store.ts';
import { nsToMs } from '../../src/core/attr.ts';
import { FsError } from '../../src/core/fs-error.ts';
import type { LocalSource } from '../../src/sources/local/local-source.ts';
import { type LocalDirs, localDirs, openLocal, ROOT } from '../unit/local-helpers.ts';

const target: MountTarget = { mount: '/docs', node: 'alpha', export: 'unit', persistentIds: true };

describe('crawler: first crawl and re-crawls of a linux export', () => {
  let dirs: LocalDirs;
  let source: LocalSource;
  let store: CatalogStore;

  before(async () => {
    dirs = localDirs();
    await mkdir(join(dirs.root, 'a'));
    await mkdir(join(dirs.root, 'b'));
    await writeFile(join(dirs.root, 'a/one.txt'), 'one');
    await writeFile(join(dirs.root, 'a/two.txt'), 'two');
    await writeFile(join(dirs.root, 'b/three.txt'), 'three');
    await writeFile(join(dirs.root, 'top.md'), '# top');
    await link(join(dirs.root, 'top.md'), join(dirs.root, 'b/top-link.md'));
    source = await openLocal({ root: dirs.root, stateDir: dirs.state });
    store = new CatalogStore({ file: join(dirs.base, 'catalog.db') });
    await store.open();
  });
  after(async () => {
    await store.close();
    await source.close();
    dirs[Symbol.dispose]();
  });

  const pathIndexes = (of: CatalogStore = store): string[] =>
    (
      of.db
        .prepare(
          "SELECT name FROM sqlite_master WHERE type = 'index' AND name IN ('files_by_path', 'files_by_parent', 'files_by_file_id') ORDER BY name",
        )
        .all() as { name: string }[]
    ).map((r) => r.name);

  const crawlAll = () => crawl({ store, source, target, dir: ROOT, path: '/docs' });

  /** Every path of the tree (below the export root), as namespace paths. */
  const treePaths = async (): Promise<string[]> =>
    (await readdir(dirs.root, { recursive: true })).map((p) => `/docs/${p}`).sort();

  /** Every document agrees with the file it names (kind, size, mtime). */
  const assertCurrent = async (): Promise<string[]> => {
    const docs = store.filesUnder({ prefix: '/docs' });
    for (const doc of docs) {
      const st = await lstat(join(dirs.root, doc.path.slice('/docs/'.length)), { bigint: true });
      assert.equal(doc.size, st.isDirectory() ? doc.size : Number(st.size), doc.path);
      assert.equal(doc.mtimeMs, nsToMs(st.mtimeNs), doc.path);
      assert.equal(doc.kind, st.isDirectory() ? 'dir' : 'file', doc.path);
    }
    return docs.map((d) => d.path).sort();
  };

  it('inserts a first crawl, skips unchanged directories, and finds changes made meanwhile', async () => {
    // First crawl of a mount without documents: inserted without lookups; the hard link's
    // second name (same Source id) falls back to an upsert, one document for both names.
    const first = await crawlAll();
    assert.equal(first.seen, 7);
    assert.equal(first.inserted + first.moved, 7);
    const linked = (await assertCurrent()).filter((p) => p.endsWith('top.md') || p.endsWith('top-link.md'));
    assert.equal(linked.length, 1, 'one document for a file with two names');
    for (const dir of ['/docs', '/docs/a', '/docs/b']) assert.ok(store.dirDigest(dir), `digest of ${dir}`);
    // Checkpoints held back during the crawl are back on; the indexes left out while it
    // filled the empty table are built.
    assert.equal(store.db.pragma('wal_autocheckpoint', { simple: true }), 1000);
    assert.deepEqual(pathIndexes(), ['files_by_file_id', 'files_by_parent', 'files_by_path']);
    await rm(join(dirs.root, 'b/top-link.md'));
    assert.equal((await crawlAll()).seen, 6);
    assert.deepEqual(await assertCurrent(), await treePaths());

    // Nothing changed: every directory's listing gives its stored digest, nothing is written.
    const generation = store.generation();
    const again = await crawlAll();
    assert.deepEqual(
      { seen: again.seen, unchanged: again.unchanged, written: again.inserted + again.updated + again.moved },
      { seen: 6, unchanged: 6, written: 0 },
    );
    assert.equal(store.generation(), generation + 1, 'one transaction (the digests)');

    // Changes while nobody watched: a file rewritten in place with the same size, one
    // removed, one added, one moved to a directory listed earlier.
    const three = store.fileByPath('/docs/b/three.txt')!;
    await writeFile(join(dirs.root, 'a/one.txt'), 'ONE');
    await utimes(join(dirs.root, 'a/one.txt'), 1_000_000, 1_000_000);
    await rm(join(dirs.root, 'a/two.txt'));
    await writeFile(join(dirs.root, 'b/four.txt'), 'four');
    await rename(join(dirs.root, 'b/three.txt'), join(dirs.root, 'a/three.txt'));
    // (How the writes count depends on the file system: a freed inode may come back as the new file.)
    assert.equal((await crawlAll()).seen, 6);
    assert.deepEqual(await assertCurrent(), await treePaths());
    assert.equal(store.fileByPath('/docs/a/three.txt')?.inode, three.inode, 'the move kept its document');
    assert.equal(store.fileByPath('/docs/a/one.txt')?.mtimeMs, 1_000_000_000);
  });

  it("a write to a directory's documents drops its digest, so the next crawl compares them", async () => {
    await crawlAll();
    assert.ok(store.dirDigest('/docs/a'));
    const a = await source.lookup({ parent: ROOT, name: 'a' });
    const one = await source.lookup({ parent: a.id, name: 'one.txt' });
    const wrong = sightingOf(target, '/docs/a/one.txt', { id: one.id, attr: { ...one.attr, size: 999 } });
    store.write([{ op: 'upsert', file: wrong }]);
    assert.equal(store.dirDigest('/docs/a'), undefined);
    assert.ok(store.dirDigest('/docs/b'), 'other directories keep theirs');
    const r = await crawlAll();
    assert.equal(r.updated, 1);
    assert.equal(store.fileByPath('/docs/a/one.txt')?.size, 3);
    await assertCurrent();
  });

  it('builds path indexes a crawl cut short left out, when the catalog opens', async () => {
    store.db.exec('DROP INDEX files_by_path; DROP INDEX files_by_parent; DROP INDEX files_by_file_id;');
    await store.close();
    await store.open();
    assert.deepEqual(pathIndexes(), ['files_by_file_id', 'files_by_parent', 'files_by_path']);
    assert.equal(store.fileByPath('/docs/a/one.txt')?.size, 3);
  });

  it('a first crawl stopped part way keeps what it saw, without digests, and builds its indexes', async () => {
    await using cut = new CatalogStore({ file: join(dirs.base, 'cut.db') });
    await cut.open();
    const stop = new AbortController();
    await assert.rejects(
      crawl({
        store: cut,
        source,
        target,
        dir: ROOT,
        path: '/docs',
        concurrency: 1,
        batch: 1,
        signal: stop.signal,
        onProgress: () => stop.abort(),
      }),
      (e: unknown) => FsError.is(e, 'ECANCELED') && e.op === 'crawl' && e.path === '/docs',
    );
    // The root's listing was written as its batch filled; nothing below it was listed.
    assert.deepEqual(
      cut
        .filesUnder({ prefix: '/docs' })
        .map((d) => d.path)
        .sort(),
      ['/docs/a', '/docs/b', '/docs/top.md'],
    );
    assert.equal(cut.dirDigest('/docs'), undefined);
    assert.equal(cut.db.pragma('wal_autocheckpoint', { simple: true }), 1000);
    assert.deepEqual(pathIndexes(cut), ['files_by_file_id', 'files_by_parent', 'files_by_path']);
  });

  it('first crawls of one export mounted twice keep one document per file', async () => {
    await using twice = new CatalogStore({ file: join(dirs.base, 'twice.db') });
    await twice.open();
    const other: MountTarget = { ...target, mount: '/copy' };
    // Both mounts start on an empty table: file ids go unchecked until the last one ends.
    await Promise.all([
      crawl({ store: twice, source, target, dir: ROOT, path: '/docs' }),
      crawl({ store: twice, source, target: other, dir: ROOT, path: '/copy' }),
    ]);
    const entries = (await treePaths()).length;
    const ids = twice.db.prepare('SELECT file_id FROM files').all() as { file_id: string }[];
    assert.equal(ids.length, entries, 'one document per file');
    assert.equal(new Set(ids.map((r) => r.file_id)).size, entries);
    assert.equal(
      twice.db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'files_by_file_id'").get() !== undefined,
      true,
    );
    // The digests went with the duplicates: the next crawls compare and stay consistent.
    assert.equal(twice.dirDigest('/docs'), undefined);
    await crawl({ store: twice, source, target, dir: ROOT, path: '/docs' });
    await crawl({ store: twice, source, target: other, dir: ROOT, path: '/copy' });
    const after = twice.db.prepare('SELECT file_id FROM files').all() as { file_id: string }[];
    assert.equal(new Set(after.map((r) => r.file_id)).size, after.length);
  });
});
