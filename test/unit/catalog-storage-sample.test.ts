import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Catalog } from '../../src/catalog/catalog.ts';
import { storageLatest } from '../../src/catalog/storage.ts';
import { createLogger } from '../../src/core/log.ts';
import { Namespace } from '../../src/namespace/namespace.ts';
import { MemorySource } from '../../src/sources/memory/memory-source.ts';
import type { Source } from '../../src/sources/source.ts';
import { overriding } from '../helpers/overriding.ts';

/** `source` with `before` run ahead of each of its statfs calls. */
function withStatfs(source: Source, before: () => void | Promise<void>): Source {
  return overriding(source, {
    statfs: async (req) => {
      await before();
      return source.statfs(req);
    },
  });
}

describe('catalog storage samples', () => {
  it(
    'a mount slow to answer statfs holds up neither open() nor the other mounts',
    { timeout: 20_000 },
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'tessera-storage-'));
      const quick = new MemorySource({ name: 'quick', exportIndex: 1 });
      const slowInner = new MemorySource({ name: 'slow', exportIndex: 2 });
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let asked = false;
      let quickAsked = false;
      const quickProbe = withStatfs(quick, () => {
        quickAsked = true;
      });
      const slow = withStatfs(slowInner, async () => {
        asked = true;
        await gate;
      });
      await quick.open();
      await slowInner.open();
      const ns = new Namespace();
      await ns.open();
      // The slow mount in the first slot (indexers go by slot): the quick one must not wait behind it.
      await ns.mount({ path: '/slow', source: slow, exportName: 'slow', slot: 1 });
      await ns.mount({ path: '/quick', source: quickProbe, exportName: 'quick', slot: 2 });
      const catalog = new Catalog({
        file: join(dir, 'catalog.db'),
        namespace: ns,
        nodeName: 'alpha',
        logger: createLogger({ level: 'silent' }),
      });
      try {
        await catalog.open(); // would never resolve if it waited for the slow mount's statfs
        while (!asked) await new Promise((r) => setTimeout(r, 5)); // the sample is under way, held at the gate
        // Asked while the slow mount is still held (a sequential sample never asks it).
        for (let i = 0; i < 1000 && !quickAsked; i++) await new Promise((r) => setTimeout(r, 5));
        assert.ok(quickAsked, 'the quick mount was asked while the slow one was held');
        release();
        await catalog.settled();
        assert.deepEqual(
          storageLatest(catalog.store)
            .map((s) => s.mount)
            .sort(),
          ['/quick', '/slow'],
        );
      } finally {
        release();
        await catalog.close();
        await ns.close();
        await quick.close();
        await slowInner.close();
        await rm(dir, { recursive: true, force: true });
      }
    },
  );
});
