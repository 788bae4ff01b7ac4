import { MemoryDirectoryStore } from '../../src/catalog/vfs/directory-store.ts';
import { MemoryCatalogView } from '../../src/catalog/vfs/memory-catalog-view.ts';
import { VirtualDirectories } from '../../src/catalog/vfs/virtual-directories.ts';
import { VirtualSource } from '../../src/catalog/vfs/virtual-source.ts';
import { Namespace } from '../../src/namespace/namespace.ts';
import { MemorySource } from '../../src/sources/memory/memory-source.ts';
import { MemoryStore } from '../../src/sources/memory/memory-store.ts';
import { TestIndexer } from '../helpers/vfs-catalog.ts';
import { behindThrough } from './source-paths.ts';
import { runConformance } from './suite.ts';

// Virtual directories over a memory export: the root virtual directory mounts all of it
// (prefix_replace), files reach the catalog through a crawl of the namespace, and the suite
// checks the VirtualSource reads, lists and refuses writes like a read-only Source.
runConformance({
  name: 'vfs',
  readOnly: true,
  async setup() {
    const store = new MemoryStore();
    const data = new MemorySource({ name: 'data', exportIndex: 2, store });
    const other = new MemorySource({ name: 'data', exportIndex: 2, store });
    await data.open();
    await other.open();
    const namespace = new Namespace();
    await namespace.open();
    await namespace.mount({ path: '/data', source: data, exportName: 'data' });
    const catalog = new MemoryCatalogView();
    const indexer = new TestIndexer({ catalog, namespace, mount: '/data', node: 'n1', export: 'data' });
    await indexer.start();
    const directories = new MemoryDirectoryStore();
    const openVfs = async () => {
      const vfs = new VirtualDirectories({ store: directories, catalog });
      vfs.open();
      if (vfs.get({ path: '/' }).mounts.length === 0)
        vfs.update({ path: '/', body: { mounts: [{ source: { export: 'data', path: '/' } }] } });
      const src = new VirtualSource({ vfs, catalog, files: namespace, exportIndex: 5 });
      await src.open();
      return src;
    };
    let source = await openVfs();
    return {
      source,
      behind: behindThrough(other, (await other.listExports())[0]!.root),
      settle: () => indexer.settle(),
      async restart() {
        await source.close();
        source = await openVfs();
        return source;
      },
      async cleanup() {
        indexer.stop();
        await source.close();
        await namespace.close();
        await data.close();
        await other.close();
      },
    };
  },
});
