import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ChunkPool } from '../../src/frontends/fuse/chunk-pool.ts';

describe('fuse ChunkPool', () => {
  it('hands a returned buffer out again, whole, and sizes new ones', () => {
    const pool = new ChunkPool({ size: 4096 });
    const a = pool.take();
    assert.equal(a.length, 4096);
    pool.give(a.subarray(0, 100)); // a short view of it (a short write) still returns the whole buffer
    const b = pool.take();
    assert.equal(b.buffer, a.buffer);
    assert.equal(b.length, 4096);
    assert.notEqual(pool.take().buffer, a.buffer);
  });

  it('ignores buffers it did not make', () => {
    const pool = new ChunkPool({ size: 4096 });
    const foreign = Buffer.alloc(4096);
    pool.give(foreign);
    assert.notEqual(pool.take().buffer, foreign.buffer);
  });
});
