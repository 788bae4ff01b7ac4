import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { SCHEMA_VERSION } from '../../src/catalog/schema.ts';
import { search } from '../../src/catalog/search.ts';
import { CatalogStore } from '../../src/catalog/store.ts';

/**
 * Make a catalog, turn it into what an older version left (`downgrade`, which sets its
 * `user_version`), open it again (the upgrade) and run `check` on the upgraded store.
 */
async function upgraded(opts: {
  downgrade: (old: CatalogStore) => void;
  /** Runs on the old catalog's file before the upgrading open. */
  before?: (file: string) => Promise<void>;
  check: (store: CatalogStore) => void;
}): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'tessera-catalog-upgrade-'));
  try {
    const file = join(dir, 'catalog.db');
    const old = new CatalogStore({ file });
    await old.open();
    opts.downgrade(old);
    await old.close();
    await opts.before?.(file);
    const store = new CatalogStore({ file });
    await store.open();
    try {
      assert.equal(store.db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
      opts.check(store);
    } finally {
      await store.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('catalog schema upgrades', () => {
  it('a version-1 catalog gets the covering path index on open and keeps its documents', async () => {
    const columns = (s: CatalogStore) =>
      (s.db.prepare('PRAGMA index_info(files_by_path)').all() as { name: string }[]).map((c) => c.name);
    await upgraded({
      downgrade: (v1) => {
        v1.putDoc({ type: 'vdir', id: '/kept', body: { path: '/kept' } });
        // What a version-1 catalog looked like: the path index on the path alone.
        v1.db.exec(
          'DROP INDEX files_by_path; CREATE INDEX files_by_path ON files (path); PRAGMA user_version = 1',
        );
      },
      before: async (file) => {
        const reader = new CatalogStore({ file, readonly: true });
        await assert.rejects(reader.open(), /schema version 1/, 'a reader does not upgrade');
      },
      check: (store) => {
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
      },
    });
  });

  it('a version-2 catalog (name index filled by a trigger) counts every document as indexed', async () => {
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
    await upgraded({
      downgrade: (v2) => {
        v2.write([sighting('/d/old-report.txt', 2)]);
        v2.indexNames();
        // What a version-2 catalog looked like: no watermark (its insert trigger indexed names).
        v2.db.exec('DROP TABLE fts_state; PRAGMA user_version = 2');
      },
      check: (store) => {
        assert.equal(store.namesIndexedUpto(), store.fileByPath('/d/old-report.txt')!.inode);
        store.write([sighting('/d/new-report.txt', 3)]);
        const names = () =>
          search(store, { q: 'report' })
            .results.map((r) => r.name)
            .sort();
        assert.deepEqual(names(), ['new-report.txt', 'old-report.txt']);
        assert.equal(store.indexNames(), 1);
        assert.deepEqual(names(), ['new-report.txt', 'old-report.txt']);
      },
    });
  });

  it('a version-4 catalog gets the table of listing digests', async () => {
    await upgraded({
      downgrade: (v4) => v4.db.exec('DROP TABLE dir_digests; PRAGMA user_version = 4'),
      check: (store) => {
        assert.equal(store.dirDigest('/docs'), undefined);
        store.write([], { digests: new Map([['/docs', '1:abc']]) });
        assert.equal(store.dirDigest('/docs'), '1:abc');
      },
    });
  });
});
