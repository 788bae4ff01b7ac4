// The conformance suite over the wire: a node on loopback with a memory and a linux export,
// reached through RemoteSource (TLS, SCRAM). For EROFS a second node serves the same
// directory read-only; behind-the-back changes go straight to the directory on disk (linux)
// or through the serving node's own namespace (memory), not through the session under test.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RemoteSource } from '../../src/client/remote-source.ts';
import { connect, startNode } from '../helpers/remote-node.ts';
import { nodeFsBehind } from './local-fixture.ts';
import { behindThrough } from './source-paths.ts';
import { runConformance } from './suite.ts';

runConformance({
  name: 'remote (linux export over TLS)',
  async setup() {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-remote-data-'));
    const a = await startNode({ dir });
    const b = await startNode({ dir, ro: true });
    let source = await connect(a.node, a.home);
    const extra: RemoteSource[] = [];
    return {
      source,
      exportName: '/disk',
      async readOnly() {
        const ro = await connect(b.node, b.home);
        extra.push(ro);
        return ro;
      },
      behind: nodeFsBehind(dir),
      async restart() {
        await source.close();
        source = await connect(a.node, a.home);
        return source;
      },
      async cleanup() {
        await source.close();
        for (const s of extra) await s.close();
        await a.node.close();
        await b.node.close();
        for (const p of [a.home, b.home, dir]) await rm(p, { recursive: true, force: true });
      },
    };
  },
});

runConformance({
  name: 'remote (memory export)',
  async setup() {
    const a = await startNode({ memory: true });
    let source = await connect(a.node, a.home);
    const root = (await a.node.namespace.listExports()).find((e) => e.name === '/mem')!.root;
    return {
      source,
      exportName: '/mem',
      behind: behindThrough(a.node.namespace, root),
      async restart() {
        await source.close();
        source = await connect(a.node, a.home);
        return source;
      },
      async cleanup() {
        await source.close();
        await a.node.close();
        await rm(a.home, { recursive: true, force: true });
      },
    };
  },
});
