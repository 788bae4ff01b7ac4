// The conformance suite through remote mounts: a namespace that mounts a node's export on
// loopback through an alias (AliasSource: one endpoint, its own ids), and a chain — node C
// exports a directory, node B mounts it through an alias and re-exports it, and the
// namespace under test mounts B's re-export. Changes behind the back go to the directory on
// disk, so invalidations travel the whole chain.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/core/log.ts';
import { CachingSource } from '../../src/client/cache/caching-source.ts';
import { AliasSource } from '../../src/namespace/alias-source.ts';
import { Namespace } from '../../src/namespace/namespace.ts';
import { readOwnerCredential } from '../../src/node/credentials.ts';
import type { TesseraNode } from '../../src/node/node.ts';
import type { Source } from '../../src/sources/source.ts';
import { startNode } from '../helpers/remote-node.ts';
import { nodeFsBehind } from './local-fixture.ts';
import type { ConformanceFixture } from './fixture.ts';
import { runConformance } from './suite.ts';

const quiet = createLogger({ level: 'silent' });

/** An alias over one node's export (owner credential, pinned fingerprint). */
async function aliasTo(opts: { node: TesseraNode; home: string; exportName: string; ro?: boolean }) {
  const cred = await readOwnerCredential({ home: opts.home });
  const alias = new AliasSource({
    alias: opts.node.nodeName,
    exportName: opts.exportName,
    endpoints: [
      {
        url: opts.node.url,
        credential: { id: cred.id, secret: cred.secret },
        trust: { fingerprint: opts.node.fingerprint! },
      },
    ],
    logger: quiet,
    ro: opts.ro,
    waitMs: 5000,
  });
  await alias.open();
  return alias;
}

/** A namespace with `source` mounted at `path` (export `exportName` of it). */
async function namespaceWith(opts: {
  source: Source;
  exportName: string;
  path: string;
  ro?: boolean;
}): Promise<Namespace> {
  const ns = new Namespace();
  await ns.open();
  await ns.mount({ path: opts.path, source: opts.source, exportName: opts.exportName, ro: opts.ro });
  return ns;
}

/**
 * A node exporting `dir` as `/disk` (kind linux), or nothing without `dir`; `stop` closes it
 * and removes its home.
 */
async function startDiskNode(dir?: string) {
  const { node, home } = await startNode(dir === undefined ? {} : { dir });
  return {
    node,
    home,
    stop: async () => (await node.close(), await rm(home, { recursive: true, force: true })),
  };
}

/**
 * The fixture of a namespace that mounts, at `path`, what `wrap` makes of an alias to
 * `exportName` on `node` (each call a fresh alias; the read-only variant mounts it `ro`).
 */
async function mountFixture(opts: {
  node: { node: TesseraNode; home: string };
  exportName: string;
  path: string;
  dir: string;
  wrap?: (alias: AliasSource, ro: boolean) => Promise<Source>;
  cleanup: () => Promise<void>;
}): Promise<ConformanceFixture> {
  const opened: { close(): Promise<void> }[] = [];
  const mount = async (ro: boolean) => {
    const alias = await aliasTo({ node: opts.node.node, home: opts.node.home, exportName: opts.exportName });
    const source = opts.wrap ? await opts.wrap(alias, ro) : alias;
    const ns = await namespaceWith({ source, exportName: opts.exportName, path: opts.path, ro });
    opened.push(ns, source, alias);
    return ns;
  };
  return {
    source: await mount(false),
    exportName: opts.path,
    readOnly: () => mount(true),
    behind: nodeFsBehind(opts.dir),
    async cleanup() {
      for (const s of opened) await s.close();
      await opts.cleanup();
    },
  };
}

runConformance({
  name: 'remote mount (alias over a node)',
  bigDirEntries: 2000,
  async setup() {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-rmount-'));
    const b = await startDiskNode(dir);
    return mountFixture({
      node: b,
      exportName: '/disk',
      path: '/b/disk',
      dir,
      cleanup: async () => (await b.stop(), await rm(dir, { recursive: true, force: true })),
    });
  },
});

runConformance({
  name: 'remote mount behind the client cache (as a node mounts it)',
  bigDirEntries: 2000,
  async setup() {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-rmount-cache-'));
    const cacheDir = await mkdtemp(join(tmpdir(), 'tessera-rmount-cachedir-'));
    const b = await startDiskNode(dir);
    return mountFixture({
      node: b,
      exportName: '/disk',
      path: '/b/disk',
      dir,
      async wrap(alias, ro) {
        const cache = new CachingSource({
          inner: alias,
          dir: cacheDir,
          minFreeBytes: 0,
          scope: `b/disk:${ro ? 'ro' : 'rw'}`,
          tuning: { fullFileMaxBytes: 4096, blockBytes: 4096 },
        });
        await cache.open();
        return cache;
      },
      async cleanup() {
        await b.stop();
        for (const p of [dir, cacheDir]) await rm(p, { recursive: true, force: true });
      },
    });
  },
});

runConformance({
  name: 'chained mount (namespace → B re-export → C)',
  bigDirEntries: 2000,
  async setup() {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-chain-'));
    const c = await startDiskNode(dir);
    const b = await startDiskNode();
    const toC = await aliasTo({ node: c.node, home: c.home, exportName: '/disk' });
    await b.node.namespace.mount({ path: '/c/disk', source: toC, exportName: '/disk' });
    return mountFixture({
      node: b,
      exportName: '/c/disk',
      path: '/b/c/disk',
      dir,
      async cleanup() {
        await b.stop();
        await toC.close();
        await c.stop();
        await rm(dir, { recursive: true, force: true });
      },
    });
  },
});
