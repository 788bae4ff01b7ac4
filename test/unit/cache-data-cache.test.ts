import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DataCache } from '../../src/client/cache/data-cache.ts';

describe('DataCache: data files of killed entries', () => {
  let dir = '';
  let cache: DataCache;
  const version = { size: 100, mtimeNs: 1n, ctimeNs: 1n, gen: 0 };
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-datacache-'));
    cache = new DataCache({ dir });
    await cache.open();
  });
  after(async () => {
    await cache.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('closes the data file of an entry dropped while held once its holder releases it', async () => {
    const entry = await cache.acquire('k1', version);
    assert.notEqual(entry.fd, undefined, 'held: its data file is open');
    cache.invalidate('k1', 'drop');
    assert.notEqual(entry.fd, undefined, 'a holder keeps reading its fd');
    await cache.release(entry);
    assert.equal(entry.fd, undefined, 'the last holder gone, the fd is closed');
  });

  it('closes and removes an entry that got no bytes when its holder releases it', async () => {
    const entry = await cache.acquire('k2', version);
    await cache.release(entry);
    assert.equal(entry.fd, undefined);
    assert.equal(entry.dead, true);
    assert.deepEqual(await readdir(join(dir, 'data')), []);
  });
});
