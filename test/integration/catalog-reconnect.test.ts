// The catalog over a remote mount (an alias over a node on loopback): changes made while the
// serving node is down are found by the reconciliation crawl once the alias reconnects.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Catalog } from '../../src/catalog/catalog.ts';
import { addExport } from '../../src/core/home.ts';
import { AliasSource } from '../../src/namespace/alias-source.ts';
import { Namespace } from '../../src/namespace/namespace.ts';
import { readOwnerCredential } from '../../src/node/credentials.ts';
import { createNode, type TesseraNode } from '../../src/node/node.ts';
import { CHEAP_ARGON2, makeHome, quietLogger } from './node-harness.ts';

describe('catalog over a remote mount', () => {
  it('reconciles after the serving node restarts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-catalog-remote-'));
    const made = await makeHome({ exports: [] });
    await addExport({
      root: made.home,
      entry: { name: 'disk', kind: 'linux', path: dir, ro: false, desc: '', options: {} },
    });
    await writeFile(join(dir, 'before.txt'), 'before');
    const start = (listen: string): Promise<TesseraNode> =>
      createNode({ home: made.home, listen, logger: quietLogger(), argon2: CHEAP_ARGON2 });
    let node = await start('127.0.0.1:0');
    const port = node.address.port;
    const cred = await readOwnerCredential({ home: made.home });
    const alias = new AliasSource({
      alias: 'far',
      exportName: '/disk',
      endpoints: [
        {
          url: node.url,
          credential: { id: cred.id, secret: cred.secret },
          trust: { fingerprint: node.fingerprint! },
        },
      ],
      logger: quietLogger(),
      backoff: { baseMs: 100, maxMs: 400 },
      waitMs: 20_000,
    });
    const ns = new Namespace();
    const catalog = new Catalog({
      file: join(made.home, 'state', 'remote-catalog.db'),
      namespace: ns,
      nodeName: 'near',
      nodeOfMount: () => ({ node: 'far', export: 'disk' }),
      logger: quietLogger(),
      debounceMs: 50,
      checkIntervalMs: 200,
    });
    try {
      await alias.open();
      await ns.open();
      await ns.mount({ path: '/far/disk', source: alias, exportName: '/disk' });
      await catalog.open();
      await catalog.settled();
      const before = catalog.store.fileByPath('/far/disk/before.txt');
      assert.equal(before?.node, 'far');
      assert.equal(before?.export, 'disk');
      assert.equal(catalog.status()[0]?.crawls, 1);

      // While the node is down, the tree changes behind everyone's back.
      await node.close();
      await writeFile(join(dir, 'during.txt'), 'written while the node was down');
      await rm(join(dir, 'before.txt'));
      node = await start(`127.0.0.1:${port}`);

      const deadline = Date.now() + 30_000;
      for (;;) {
        await catalog.settled();
        const paths = catalog.store.filesUnder({ prefix: '/far/disk' }).map((f) => f.path);
        if (paths.length === 1 && paths[0] === '/far/disk/during.txt') break;
        assert.ok(Date.now() < deadline, `not reconciled: ${paths.join(', ')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok((catalog.status()[0]?.crawls ?? 0) >= 2, 'a reconciliation crawl ran');
    } finally {
      await catalog.close();
      await ns.close();
      await alias.close();
      await node.close();
      await made.cleanup();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
