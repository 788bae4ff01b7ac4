import assert from 'node:assert/strict';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Catalog } from '../../src/catalog/catalog.ts';
import { mountStates } from '../../src/catalog/mount-state.ts';
import { CatalogStore } from '../../src/catalog/store.ts';
import { createLogger } from '../../src/core/log.ts';
import { Namespace } from '../../src/namespace/namespace.ts';
import type { LocalSource } from '../../src/sources/local/local-source.ts';
import { type LocalDirs, localDirs, openLocal } from '../unit/local-helpers.ts';

const logger = createLogger({ level: 'silent' });

/** Poll `check` (after letting the catalog settle) until it passes or 10 s go by. */
async function eventually(catalog: Catalog, check: () => void): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    await catalog.settled();
    try {
      check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

describe('catalog indexing a linux export through the namespace', () => {
  let dirs: LocalDirs;
  let source: LocalSource;
  let ns: Namespace;
  let dbFile: string;

  const start = async (): Promise<Catalog> => {
    const catalog = new Catalog({ file: dbFile, namespace: ns, nodeName: 'alpha', logger, debounceMs: 50 });
    await catalog.open();
    await catalog.settled();
    return catalog;
  };
  const paths = (c: Catalog): string[] =>
    c.store
      .filesUnder({ prefix: '/docs' })
      .map((f) => f.path)
      .sort();

  before(async () => {
    dirs = localDirs();
    dbFile = join(dirs.base, 'catalog.db');
    await mkdir(join(dirs.root, 'a/b'), { recursive: true });
    await writeFile(join(dirs.root, 'a/one.txt'), 'one');
    await writeFile(join(dirs.root, 'a/b/two.pdf'), 'two!');
    await writeFile(join(dirs.root, 'top.md'), '# top');
    source = await openLocal({ root: dirs.root, stateDir: dirs.state });
    ns = new Namespace();
    await ns.open();
    await ns.mount({ path: '/docs', source, exportName: 'unit' });
  });
  after(async () => {
    await ns.close();
    await source.close();
    dirs[Symbol.dispose]();
  });

  it('crawls, follows changes, and reconciles after a restart', async () => {
    let catalog = await start();
    assert.deepEqual(paths(catalog), [
      '/docs/a',
      '/docs/a/b',
      '/docs/a/b/two.pdf',
      '/docs/a/one.txt',
      '/docs/top.md',
    ]);
    const two = catalog.store.fileByPath('/docs/a/b/two.pdf')!;
    assert.equal(two.size, 4);
    assert.equal(two.node, 'alpha');
    assert.equal(two.export, 'unit');
    assert.equal(two.mime, 'application/pdf');
    const [status] = catalog.status();
    assert.equal(status?.state, 'watching');
    assert.equal(status?.files, 3);
    assert.equal(status?.crawls, 1);

    // A new file shows up in search; a change of size is seen.
    await writeFile(join(dirs.root, 'a/new-report.txt'), 'fresh');
    await eventually(catalog, () =>
      assert.deepEqual(
        catalog.search({ q: 'report' }).results.map((r) => r.path),
        ['/docs/a/new-report.txt'],
      ),
    );
    // The name index keeps growing behind the writes, also after a fill that found nothing
    // to do (a node's periodic check calls it with everything indexed).
    await catalog.indexNames();
    await catalog.indexNames();
    await writeFile(join(dirs.root, 'a/newer-report.txt'), 'newer');
    await eventually(catalog, () => assert.ok(catalog.store.fileByPath('/docs/a/newer-report.txt')));
    await catalog.indexNames();
    assert.equal(
      catalog.store.namesIndexedUpto(),
      catalog.store.fileByPath('/docs/a/newer-report.txt')?.inode,
      'the new document is in the name index',
    );
    await writeFile(join(dirs.root, 'a/new-report.txt'), 'fresh and longer');
    await eventually(catalog, () =>
      assert.equal(catalog.store.fileByPath('/docs/a/new-report.txt')?.size, 16),
    );

    // A rename moves the document: same file id and inode, new path; the old path is gone.
    await rename(join(dirs.root, 'a/b/two.pdf'), join(dirs.root, 'renamed.pdf'));
    await eventually(catalog, () =>
      assert.equal(catalog.store.fileByPath('/docs/renamed.pdf')?.inode, two.inode),
    );
    assert.equal(catalog.store.fileByPath('/docs/renamed.pdf')?.fileId, two.fileId);
    assert.equal(catalog.store.fileByPath('/docs/a/b/two.pdf'), undefined);

    // A directory created with contents, then renamed: its subtree follows.
    await mkdir(join(dirs.root, 'c/d'), { recursive: true });
    await writeFile(join(dirs.root, 'c/d/deep.txt'), 'deep');
    await eventually(catalog, () => assert.ok(catalog.store.fileByPath('/docs/c/d/deep.txt')));
    const deep = catalog.store.fileByPath('/docs/c/d/deep.txt')!;
    await rename(join(dirs.root, 'c'), join(dirs.root, 'e'));
    await eventually(catalog, () =>
      assert.equal(catalog.store.fileByPath('/docs/e/d/deep.txt')?.inode, deep.inode),
    );
    assert.deepEqual(
      catalog.search({ q: 'deep' }).results.map((r) => r.path),
      ['/docs/e/d/deep.txt'],
    );

    // Deleted files are never listed.
    await rm(join(dirs.root, 'a'), { recursive: true });
    await eventually(catalog, () =>
      assert.deepEqual(paths(catalog), [
        '/docs/e',
        '/docs/e/d',
        '/docs/e/d/deep.txt',
        '/docs/renamed.pdf',
        '/docs/top.md',
      ]),
    );

    // Changes while the catalog is down are found by the crawl at the next start; what did
    // not change keeps its document and inode.
    const top = catalog.store.fileByPath('/docs/top.md')!;
    catalog.reindex(); // Still crawling when it closes: no reader may take it as going on.
    await catalog.close();
    {
      await using reader = new CatalogStore({ file: dbFile, readonly: true });
      await reader.open();
      assert.deepEqual(
        mountStates(reader).map((m) => m.state),
        ['stopped'],
      );
    }
    await rm(join(dirs.root, 'renamed.pdf'));
    await writeFile(join(dirs.root, 'top.md'), '# top, edited');
    await writeFile(join(dirs.root, 'later.txt'), 'later');
    catalog = await start();
    assert.deepEqual(paths(catalog), [
      '/docs/e',
      '/docs/e/d',
      '/docs/e/d/deep.txt',
      '/docs/later.txt',
      '/docs/top.md',
    ]);
    assert.equal(catalog.store.fileByPath('/docs/top.md')?.inode, top.inode);
    assert.equal(catalog.store.fileByPath('/docs/top.md')?.size, 13);
    assert.equal(catalog.store.fileByPath('/docs/e/d/deep.txt')?.inode, deep.inode);
    assert.equal(catalog.status()[0]?.crawls, 2);

    // Unmounting drops the mount's documents.
    await ns.unmount({ path: '/docs' });
    await eventually(catalog, () => assert.deepEqual(paths(catalog), []));
    assert.equal(catalog.status()[0]?.state, 'unmounted');
    await catalog.close();
  });
});
