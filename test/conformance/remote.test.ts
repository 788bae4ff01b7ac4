// The conformance suite over the wire: a node on loopback with a memory and a linux export,
// reached through RemoteSource (TLS, SCRAM; the linux export's session moves to a sealed
// connection, the memory export's stays on TLS, so both transports pass the suite). For EROFS a second node serves the same
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
  name: 'remote (linux export, sealed connection keyed by TLS)',
  async setup() {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-remote-data-'));
    const a = await startNode({ dir });
    const b = await startNode({ dir, ro: true });
    let source = await connect(a.node, a.home);
    // The suite's name says which transport it covers: hold it to that.
    if (!source.connection.sealed)
      throw new Error(`no sealed connection: ${source.connection.sealError?.message}`);
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
  name: 'remote (memory export over TLS, unsealed)',
  async setup() {
    const a = await startNode({ memory: true });
    let source = await connect(a.node, a.home, { sealed: false });
    if (source.connection.sealed) throw new Error('the session moved to a sealed connection');
    const root = (await a.node.namespace.listExports()).find((e) => e.name === '/mem')!.root;
    return {
      source,
      exportName: '/mem',
      behind: behindThrough(a.node.namespace, root),
      async restart() {
        await source.close();
        source = await connect(a.node, a.home, { sealed: false });
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
