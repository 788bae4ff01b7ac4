import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { READ_HEADROOM, ReadBufferPool } from '../../src/node/read-buffers.ts';

describe('ReadBufferPool', () => {
  it('lends a buffer with headroom and a view of the asked length behind it', () => {
    const pool = new ReadBufferPool({ chunk: 1024, keep: 2 });
    const lease = pool.lease(100)!;
    assert.equal(lease.buf.length, READ_HEADROOM + 1024);
    assert.equal(lease.into.length, 100);
    assert.equal(lease.into.buffer, lease.buf.buffer);
    assert.equal(lease.into.byteOffset, lease.buf.byteOffset + READ_HEADROOM);
  });

  it('refuses reads larger than its chunk (the caller allocates then)', () => {
    const pool = new ReadBufferPool({ chunk: 1024, keep: 2 });
    assert.equal(pool.lease(1025), undefined);
    assert.ok(pool.lease(1024));
  });

  it('reuses a released buffer, never one still lent out', () => {
    const pool = new ReadBufferPool({ chunk: 64, keep: 4 });
    const a = pool.lease(64)!;
    const b = pool.lease(64)!;
    assert.notEqual(a.buf, b.buf);
    a.release();
    a.release(); // idempotent: the buffer is not pooled twice
    const c = pool.lease(10)!;
    const d = pool.lease(10)!;
    assert.equal(c.buf, a.buf);
    assert.notEqual(d.buf, a.buf);
    assert.notEqual(d.buf, b.buf);
  });

  it('keeps at most `keep` idle buffers', () => {
    const pool = new ReadBufferPool({ chunk: 16, keep: 2 });
    const leases = Array.from({ length: 5 }, () => pool.lease(16)!);
    for (const l of leases) l.release();
    const again = Array.from({ length: 5 }, () => pool.lease(16)!);
    const reused = again.filter((l) => leases.some((old) => old.buf === l.buf)).length;
    assert.equal(reused, 2);
  });
});
