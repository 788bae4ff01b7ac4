import { Namespace } from '../../src/namespace/namespace.ts';
import { MemorySource } from '../../src/sources/memory/memory-source.ts';
import { MemoryStore } from '../../src/sources/memory/memory-store.ts';
import { behindThrough } from './source-paths.ts';
import { runConformance } from './suite.ts';

// The namespace with two exports mounted under it (one nested below a synthetic directory).
// The suite works inside the first mount; EXDEV is checked against the second.
runConformance({
  name: 'namespace',
  async setup() {
    const stores = [new MemoryStore(), new MemoryStore()];
    const sources: MemorySource[] = [];
    const openSource = async (i: number, ro: boolean) => {
      const src = new MemorySource({ name: `m${i}`, exportIndex: 7 + i, store: stores[i], ro });
      await src.open();
      sources.push(src);
      return src;
    };
    const openNamespace = async (ro: boolean) => {
      const ns = new Namespace();
      await ns.open();
      await ns.mount({ path: '/a/mem', source: await openSource(0, false), exportName: 'm0', ro });
      await ns.mount({ path: '/b', source: await openSource(1, false), exportName: 'm1', ro });
      return ns;
    };
    let ns = await openNamespace(false);
    const extra: Namespace[] = [];
    const other = await openSource(0, false);
    return {
      source: ns,
      exportName: '/a/mem',
      async readOnly() {
        const ro = await openNamespace(true);
        extra.push(ro);
        return ro;
      },
      behind: behindThrough(other, (await other.listExports())[0]!.root),
      async restart() {
        await ns.close();
        ns = await openNamespace(false);
        return ns;
      },
      async cleanup() {
        await ns.close();
        for (const n of extra) await n.close();
        for (const s of sources) await s.close();
      },
    };
  },
});
