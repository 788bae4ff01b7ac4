// The conformance suite through the client cache: a CachingSource over a RemoteSource session
// to a node on loopback serving a linux export. Behind-the-back changes go straight to the
// directory on disk; the cache must learn of them from the node's pushed invalidations.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CachingSource } from '../../src/client/cache/caching-source.ts';
import type { TesseraNode } from '../../src/node/node.ts';
import { connect, startNode } from '../helpers/remote-node.ts';
import { nodeFsBehind } from './local-fixture.ts';
import { runConformance } from './suite.ts';

async function cached(node: TesseraNode, home: string, dir: string): Promise<CachingSource> {
  // Small blocks and a small full-file threshold, so the conformance files use block mode too.
  const src = new CachingSource({
    inner: await connect(node, home),
    dir,
    minFreeBytes: 0,
    tuning: { fullFileMaxBytes: 4096, blockBytes: 4096 },
  });
  await src.open();
  return src;
}

runConformance({
  name: 'caching (remote linux export)',
  async setup() {
    const data = await mkdtemp(join(tmpdir(), 'tessera-cache-data-'));
    const cacheDir = await mkdtemp(join(tmpdir(), 'tessera-cache-dir-'));
    const roCacheDir = await mkdtemp(join(tmpdir(), 'tessera-cache-ro-'));
    const a = await startNode({ dir: data });
    const b = await startNode({ dir: data, ro: true });
    let source = await cached(a.node, a.home, cacheDir);
    const extra: CachingSource[] = [];
    return {
      source,
      exportName: '/disk',
      async readOnly() {
        const ro = await cached(b.node, b.home, roCacheDir);
        extra.push(ro);
        return ro;
      },
      behind: nodeFsBehind(data),
      async restart() {
        await source.close();
        source = await cached(a.node, a.home, cacheDir);
        return source;
      },
      async cleanup() {
        await source.close();
        for (const s of extra) await s.close();
        await a.node.close();
        await b.node.close();
        for (const p of [a.home, b.home, data, cacheDir, roCacheDir])
          await rm(p, { recursive: true, force: true });
      },
    };
  },
});
