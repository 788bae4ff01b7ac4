import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { SCHEMA_VERSION } from '../../src/catalog/schema.ts';
import { search } from '../../src/catalog/search.ts';
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

  it('a version-2 catalog (name index filled by a trigger) counts every document as indexed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-catalog-upgrade-'));
    try {
      const file = join(dir, 'catalog.db');
      const sighting = (path: string, local: number) => ({
        op: 'upsert' as const,
        file: {
          mount: '/d',
          local,
          node: 'n',
          export: 'd',
          path,
          kind: 'file' as const,
          size: 1,
          mtimeMs: 1,
          persistentIds: true,
          exportPath: path.slice(2),
        },
      });
      const v2 = new CatalogStore({ file });
      await v2.open();
      v2.write([sighting('/d/old-report.txt', 2)]);
      v2.indexNames();
      // What a version-2 catalog looked like: no watermark (its insert trigger indexed names).
      v2.db.exec('DROP TABLE fts_state; PRAGMA user_version = 2');
      await v2.close();
      const store = new CatalogStore({ file });
      await store.open();
      try {
        assert.equal(store.db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
        assert.equal(store.namesIndexedUpto(), store.fileByPath('/d/old-report.txt')!.inode);
        store.write([sighting('/d/new-report.txt', 3)]);
        const names = () =>
          search(store, { q: 'report' })
            .results.map((r) => r.name)
            .sort();
        assert.deepEqual(names(), ['new-report.txt', 'old-report.txt']);
        assert.equal(store.indexNames(), 1);
        assert.deepEqual(names(), ['new-report.txt', 'old-report.txt']);
      } finally {
        await store.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a version-4 catalog gets the table of listing digests', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-catalog-upgrade-'));
    try {
      const file = join(dir, 'catalog.db');
      const v4 = new CatalogStore({ file });
      await v4.open();
      v4.db.exec('DROP TABLE dir_digests; PRAGMA user_version = 4');
      await v4.close();
      const store = new CatalogStore({ file });
      await store.open();
      try {
        assert.equal(store.db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
        assert.equal(store.dirDigest('/docs'), undefined);
        store.write([], { digests: new Map([['/docs', '1:abc']]) });
        assert.equal(store.dirDigest('/docs'), '1:abc');
      } finally {
        await store.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
