import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FsError } from '../../src/core/fs-error.ts';
import { rootId } from '../../src/core/ids.ts';
import { Namespace } from '../../src/namespace/namespace.ts';
import { MemorySource } from '../../src/sources/memory/memory-source.ts';

// closeFile({ abort: true }): what a node uses to drop the handles of an abandoned session.
describe('closeFile with abort', () => {
  for (const through of ['memory', 'namespace'] as const) {
    it(`discards a created file and a rewrite (${through})`, async () => {
      const mem = new MemorySource({ name: 'm', exportIndex: 3 });
      await mem.open();
      const ns = new Namespace();
      await ns.open();
      await ns.mount({ path: '/m', source: mem, exportName: 'm', slot: 3 });
      const src = through === 'memory' ? mem : ns;
      const root = rootId(3);
      try {
        const created = await src.create({ parent: root, name: 'half', mode: 0o644 });
        await src.write({ handle: created.handle, offset: 0, data: Buffer.from('partial') });
        await src.closeFile({ handle: created.handle, abort: true });
        await assert.rejects(src.lookup({ parent: root, name: 'half' }), (e: unknown) =>
          FsError.is(e, 'ENOENT'),
        );
        await assert.rejects(src.getattr({ id: created.id }), (e: unknown) => FsError.is(e, 'ESTALE'));

        const kept = await src.create({ parent: root, name: 'kept', mode: 0o644 });
        await src.write({ handle: kept.handle, offset: 0, data: Buffer.from('old') });
        await src.closeFile({ handle: kept.handle });
        const { handle } = await src.openFile({
          id: kept.id,
          flags: { read: true, write: true, truncate: true },
        });
        await src.write({ handle, offset: 0, data: Buffer.from('new content') });
        await src.closeFile({ handle, abort: true });
        const r = await src.openFile({ id: kept.id, flags: { read: true, write: false } });
        assert.equal(
          Buffer.from(await src.read({ handle: r.handle, offset: 0, length: 100 })).toString(),
          'old',
        );
        await src.closeFile({ handle: r.handle });
        await assert.rejects(src.closeFile({ handle, abort: true }), (e: unknown) => FsError.is(e, 'EBADF'));
      } finally {
        await ns.close();
        await mem.close();
      }
    });
  }
});
