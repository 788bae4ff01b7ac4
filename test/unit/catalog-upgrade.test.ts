import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { SCHEMA_VERSION } from '../../src/catalog/schema.ts';
import { CatalogStore } from '../../src/catalog/store.ts';

describe('catalog schema upgrades', () => {
  it('a version-1 catalog gets the covering path index on open and keeps its documents', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-catalog-upgrade-'));
    try {
      const file = join(dir, 'catalog.db');
      const v1 = new CatalogStore({ file });
      await v1.open();
      v1.putDoc({ type: 'vdir', id: '/kept', body: { path: '/kept' } });
      // What a version-1 catalog looked like: the path index on the path alone.
      v1.db.exec(
        'DROP INDEX files_by_path; CREATE INDEX files_by_path ON files (path); PRAGMA user_version = 1',
      );
      await v1.close();
      const columns = (s: CatalogStore) =>
        (s.db.prepare('PRAGMA index_info(files_by_path)').all() as { name: string }[]).map((c) => c.name);
      const reader = new CatalogStore({ file, readonly: true });
      await assert.rejects(reader.open(), /schema version 1/, 'a reader does not upgrade');
      const store = new CatalogStore({ file });
      await store.open();
      try {
        assert.equal(store.db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
        assert.deepEqual(columns(store), [
          'path',
          'export',
          'node',
          'kind',
          'size',
          'mtime_ms',
          'mime',
          'file_id',
        ]);
        assert.deepEqual(store.getDoc('vdir', '/kept')?.body, { path: '/kept' });
      } finally {
        await store.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
