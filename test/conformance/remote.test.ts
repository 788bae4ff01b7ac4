// The conformance suite over the wire: a node on loopback with a memory and a linux export,
// reached through RemoteSource (TLS, SCRAM). For EROFS a second node serves the same
// directory read-only; behind-the-back changes go straight to the directory on disk (linux)
// or through the serving node's own namespace (memory), not through the session under test.
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { addExport, initHome } from '../../src/core/home.ts';
import { createLogger } from '../../src/core/log.ts';
import { RemoteSource } from '../../src/client/remote-source.ts';
import { ensureOwnerCredential, readOwnerCredential } from '../../src/node/credentials.ts';
import { createNode, type TesseraNode } from '../../src/node/node.ts';
import type { BehindTheBack } from './fixture.ts';
import { behindThrough } from './source-paths.ts';
import { runConformance } from './suite.ts';

const CHEAP_ARGON2 = { m: 1024, t: 1, p: 1 };

async function startNode(opts: {
  dir?: string;
  ro?: boolean;
  memory?: boolean;
}): Promise<{ node: TesseraNode; home: string }> {
  const home = await mkdtemp(join(tmpdir(), 'tessera-remote-home-'));
  await initHome({ root: home, name: 'conformance' });
  if (opts.memory)
    await addExport({
      root: home,
      entry: { name: 'mem', kind: 'memory', path: '', ro: false, desc: '', options: {} },
    });
  if (opts.dir) {
    await addExport({
      root: home,
      entry: { name: 'disk', kind: 'linux', path: opts.dir, ro: opts.ro ?? false, desc: '', options: {} },
    });
  }
  await ensureOwnerCredential({ home, argon2: CHEAP_ARGON2 });
  const node = await createNode({
    home,
    listen: '127.0.0.1:0',
    logger: createLogger({ level: 'silent' }),
    argon2: CHEAP_ARGON2,
  });
  return { node, home };
}

async function connect(node: TesseraNode, home: string): Promise<RemoteSource> {
  const credential = await readOwnerCredential({ home });
  const src = new RemoteSource({
    connect: {
      url: node.url,
      credential: { id: credential.id, secret: credential.secret },
      trust: { fingerprint: node.fingerprint! },
    },
  });
  await src.open();
  return src;
}

function diskBehind(root: string): BehindTheBack {
  const at = (p: string) => join(root, ...p.split('/'));
  return {
    async writeFile(path, data) {
      await mkdir(dirname(at(path)), { recursive: true });
      await writeFile(at(path), data);
    },
    mkdir: (path) => mkdir(at(path)).then(() => undefined),
    remove: (path) => rm(at(path), { recursive: true }),
    rename: (from, to) => rename(at(from), at(to)),
    symlink: (path, target) => symlink(target, at(path)),
  };
}

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
      behind: diskBehind(dir),
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
