import { MemorySource } from '../../src/sources/memory/memory-source.ts';
import { MemoryStore } from '../../src/sources/memory/memory-store.ts';
import { behindThrough } from './source-paths.ts';
import { runConformance } from './suite.ts';

runConformance({
  name: 'memory',
  async setup() {
    const store = new MemoryStore();
    const open = async (ro: boolean) => {
      const src = new MemorySource({ name: 'mem', exportIndex: 3, ro, store });
      await src.open();
      return src;
    };
    let source = await open(false);
    const other = await open(false);
    const extra: MemorySource[] = [other];
    return {
      source,
      readOnly: async () => open(true),
      behind: behindThrough(other, (await other.listExports())[0]!.root),
      async restart() {
        await source.close();
        source = await open(false);
        return source;
      },
      async cleanup() {
        await source.close();
        for (const s of extra) await s.close();
      },
    };
  },
});
