import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MemoryDirectoryStore } from '../../src/catalog/vfs/directory-store.ts';
import { MemoryCatalogView } from '../../src/catalog/vfs/memory-catalog-view.ts';
import { VirtualDirectories } from '../../src/catalog/vfs/virtual-directories.ts';
import { VirtualSource } from '../../src/catalog/vfs/virtual-source.ts';
import { Namespace } from '../../src/namespace/namespace.ts';
import { MemorySource } from '../../src/sources/memory/memory-source.ts';
import { readFile } from '../conformance/helpers.ts';
import { behindThrough } from '../conformance/source-paths.ts';
import { TestIndexer } from '../helpers/vfs-catalog.ts';

describe('VirtualSource in a namespace', () => {
  const data = new MemorySource({ name: 'data', exportIndex: 2 });
  const namespace = new Namespace();
  const catalog = new MemoryCatalogView();
  const directories = new MemoryDirectoryStore();
  const indexer = new TestIndexer({ catalog, namespace, mount: '/data', node: 'n1', export: 'data' });
  let vfs: VirtualDirectories;
  let source: VirtualSource;

  before(async () => {
    await data.open();
    await namespace.open();
    await namespace.mount({ path: '/data', source: data, exportName: 'data' });
    const behind = behindThrough(data, (await data.listExports())[0]!.root);
    await behind.mkdir('papers');
    await behind.writeFile('papers/report.pdf', 'the report');
    await behind.writeFile('papers/notes.txt', 'notes');
    await indexer.start();
    vfs = new VirtualDirectories({ store: directories, catalog });
    source = new VirtualSource({ vfs, catalog, files: namespace, exportIndex: 9 });
    await source.open();
    vfs.create({ path: '/by-tree', body: { mounts: [{ source: { export: 'data', path: '/papers' } }] } });
    vfs.create({
      path: '/pdfs',
      body: {
        mounts: [
          {
            source: { export: 'data' },
            strategy: 'flatten',
            steps: [{ op: 'glob', pattern: '*.pdf', on_match: 'include' }],
            default_result: 'exclude',
          },
        ],
      },
    });
    await namespace.mount({ path: '/vfs', source, exportName: 'vfs' });
  });

  after(async () => {
    indexer.stop();
    await namespace.close();
    await source.close();
    await data.close();
  });

  it('the same file in two virtual directories has the same id (inode), also after a restart', async () => {
    const a = await namespace.resolve({ path: '/vfs/by-tree/report.pdf' });
    const b = await namespace.resolve({ path: '/vfs/pdfs/report.pdf' });
    assert.equal(a.id, b.id);
    assert.equal((await readFile(namespace, a.id)).toString(), 'the report');
    const again = new VirtualSource({ vfs, catalog, files: namespace, exportIndex: 9 });
    await again.open();
    try {
      const root = (await again.listExports())[0]!.root;
      const dir = await again.lookup({ parent: root, name: 'pdfs' });
      const f = await again.lookup({ parent: dir.id, name: 'report.pdf' });
      assert.equal(f.id & 0xffff_ffff_ffffn, a.id & 0xffff_ffff_ffffn);
    } finally {
      await again.close();
    }
  });

  it('reads return the real bytes and the real attributes, without write permission', async () => {
    const e = await namespace.resolve({ path: '/vfs/by-tree/notes.txt' });
    assert.equal(e.attr.size, 5);
    assert.equal(e.attr.mode & 0o222, 0);
    assert.equal((await readFile(namespace, e.id)).toString(), 'notes');
    const listed = await namespace.readdirp({
      dir: (await namespace.resolve({ path: '/vfs' })).id,
      cookie: '',
      max: 10,
    });
    assert.deepEqual(listed.entries.map((x) => x.name).sort(), ['by-tree', 'pdfs']);
  });
});
