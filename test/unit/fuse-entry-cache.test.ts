// The FUSE front-end's lookup cache: when a missing name may be answered without asking the
// node (complete directories), and how changes make names unsure again. Plus the READDIR
// record packing the kernel parses.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { syntheticAttr } from '../../src/core/attr.ts';
import { EntryCache } from '../../src/frontends/fuse/entry-cache.ts';
import { BLKSIZE, packDirents, packDirentsPlus } from '../../src/frontends/fuse/fuse-encode.ts';

const attr = syntheticAttr({ kind: 'file', timeNs: 0n, size: 1 });
const entry = (id: bigint) => ({ id, attr });

describe('fuse EntryCache', () => {
  it('drops entries when replaced, past its bound, forgotten or removed; an unknown name drops nothing', () => {
    const c = new EntryCache({ ttlMs: 60_000, maxEntries: 2 });
    c.put(1n, 'a', entry(5n));
    c.put(1n, 'b', entry(6n));
    assert.equal(c.size, 2, 'new names drop nothing');
    c.put(1n, 'a', entry(7n));
    assert.equal(c.size, 2, 'replaced');
    assert.equal(c.get(1n, 'a')?.id, 7n, 'replaced');
    c.put(1n, 'c', entry(8n));
    assert.equal(c.size, 2, 'evicted past the bound');
    assert.equal(c.get(1n, 'b'), undefined, 'the oldest went');
    c.forgetId(7n);
    c.removed(1n, 'c');
    c.forgetName(1n, 'missing');
    assert.equal(c.size, 0, 'forgotten and removed; an unknown name drops nothing');
    c.put(1n, 'd', entry(9n));
    c.clear();
    assert.equal(c.size, 0);
  });

  it('knows a name is absent only in a complete directory, and only until it is unsure', () => {
    const c = new EntryCache({ ttlMs: 60_000 });
    assert.equal(c.knownAbsent(1n, 'x'), false, 'not complete: must ask');
    c.markComplete(1n);
    assert.equal(c.knownAbsent(1n, 'x'), true);
    c.put(1n, 'x', entry(5n));
    assert.equal(c.knownAbsent(1n, 'x'), false);
    assert.deepEqual(c.get(1n, 'x'), entry(5n));
    // Attributes changed: the name still exists, so it must not be "known absent".
    c.forgetId(5n);
    assert.equal(c.get(1n, 'x'), undefined);
    assert.equal(c.knownAbsent(1n, 'x'), false);
    // A change elsewhere may have added any name.
    c.forgetName(1n, 'y');
    assert.equal(c.knownAbsent(1n, 'y'), false);
    assert.equal(c.knownAbsent(1n, 'z'), true);
    // Removed through this mount: known gone.
    c.put(1n, 'w', entry(6n));
    c.removed(1n, 'w');
    assert.equal(c.knownAbsent(1n, 'w'), true);
    c.clear();
    assert.equal(c.knownAbsent(1n, 'z'), false);
  });

  it('expires entries (which are then unsure) and completeness', () => {
    // Past the ttl by the clock the cache reads, without a timer.
    const pastTtl = () => {
      const until = performance.now() + 3;
      while (performance.now() <= until);
    };
    const names = new EntryCache({ ttlMs: 1, completeMs: 60_000 });
    names.markComplete(1n);
    names.put(1n, 'x', entry(2n));
    pastTtl();
    assert.equal(names.get(1n, 'x'), undefined, 'an expired name is not answered');
    assert.equal(names.knownAbsent(1n, 'x'), false, 'an expired name may still exist');
    assert.equal(names.knownAbsent(1n, 'y'), true, 'the directory is still complete');

    const dirs = new EntryCache({ ttlMs: 60_000, completeMs: 1 });
    dirs.markComplete(1n);
    assert.equal(dirs.knownAbsent(1n, 'y'), true);
    pastTtl();
    assert.equal(dirs.knownAbsent(1n, 'y'), false, 'completeness expires');
  });

  it('caches nothing with a ttl of zero or less', () => {
    const c = new EntryCache({ ttlMs: -1 });
    c.put(1n, 'x', entry(2n));
    c.markComplete(1n);
    assert.equal(c.get(1n, 'x'), undefined);
    assert.equal(c.knownAbsent(1n, 'x'), false);
  });

  it('evicts the oldest name past its bound, which then is unsure', () => {
    const c = new EntryCache({ ttlMs: 60_000, maxEntries: 2 });
    c.markComplete(1n);
    c.put(1n, 'a', entry(2n));
    c.put(1n, 'b', entry(3n));
    c.put(1n, 'c', entry(4n));
    assert.equal(c.size, 2);
    assert.equal(c.get(1n, 'a'), undefined);
    assert.equal(c.knownAbsent(1n, 'a'), false);
  });
});

describe('fuse packDirents', () => {
  it('packs fuse_dirent records 8-byte aligned with next offsets, within the size', () => {
    const entries = [
      { name: 'a', ino: 7n, mode: 0o040000 },
      { name: 'héllo', ino: 1n << 50n, mode: 0o100000 },
      { name: 'l', ino: 9n, mode: 0o120000 },
    ];
    const all = packDirents(entries, 0, 4096);
    assert.equal(all.length, 32 + 32 + 32);
    assert.equal(all.readBigUInt64LE(32), 1n << 50n);
    assert.equal(all.readBigUInt64LE(32 + 8), 2n, 'next offset');
    assert.equal(all.readUInt32LE(32 + 16), Buffer.byteLength('héllo'));
    assert.equal(all.readUInt32LE(32 + 20), 8, 'DT_REG');
    assert.equal(all.readUInt32LE(64 + 20), 10, 'DT_LNK');
    assert.equal(all.subarray(32 + 24, 32 + 24 + 6).toString(), 'héllo');
    assert.equal(packDirents(entries, 1, 63).length, 32, 'stops before the size is exceeded');
    assert.equal(packDirents(entries, 3, 4096).length, 0, 'past the end: nothing');
  });
});

describe('fuse packDirentsPlus', () => {
  it('packs fuse_direntplus records: an entry_out with the attributes, then the dirent', () => {
    const entries = [
      { name: '.', ino: 1n, mode: 0o040000 },
      { name: 'file', ino: 5n, mode: 0o100000 },
      { name: 'open', ino: 6n, mode: 0o100000 },
    ];
    const old = syntheticAttr({ kind: 'file', timeNs: -1_500_000_000n, size: 1000 });
    const buf = packDirentsPlus(
      entries,
      0,
      4096,
      (e) =>
        e.ino === 5n ? { attr: { ...old, mode: 0o640, nlink: 2, uid: 7, gid: 8 }, generation: 3 } : undefined,
      1.5,
      60,
    );
    const size = (name: string) => (128 + 24 + name.length + 7) & ~7;
    assert.equal(buf.length, size('.') + size('file') + size('open'));
    assert.equal(buf.readBigUInt64LE(0), 0n, '. carries no entry (node id 0)');
    assert.equal(buf.readBigUInt64LE(128), 1n, "the dirent keeps .'s inode");
    const at = size('.');
    assert.equal(buf.readBigUInt64LE(at), 5n, 'node id');
    assert.equal(buf.readBigUInt64LE(at + 8), 3n, 'generation');
    assert.equal(buf.readBigUInt64LE(at + 16), 1n, 'entry_valid');
    assert.equal(buf.readUInt32LE(at + 32), 500_000_000, 'entry_valid_nsec');
    assert.equal(buf.readBigUInt64LE(at + 24), 60n, 'attr_valid');
    const a = at + 40;
    assert.equal(buf.readBigUInt64LE(a), 5n, 'attr.ino');
    assert.equal(buf.readBigUInt64LE(a + 8), 1000n, 'size');
    assert.equal(buf.readBigUInt64LE(a + 16), 2n, 'blocks of 512');
    assert.equal(buf.readBigInt64LE(a + 32), -2n, 'mtime before the epoch borrows a second');
    assert.equal(buf.readUInt32LE(a + 52), 500_000_000, 'mtimensec');
    assert.equal(buf.readUInt32LE(a + 60), 0o100640, 'mode with the type');
    assert.deepEqual(
      [buf.readUInt32LE(a + 64), buf.readUInt32LE(a + 68), buf.readUInt32LE(a + 72)],
      [2, 7, 8],
    );
    assert.equal(buf.readUInt32LE(a + 80), BLKSIZE);
    assert.equal(buf.readBigUInt64LE(at + 128 + 8), 2n, 'next offset');
    assert.equal(buf.subarray(at + 152, at + 156).toString(), 'file');
    const last = at + size('file');
    assert.equal(buf.readBigUInt64LE(last), 0n, 'no attributes given: node id 0 (the kernel asks)');
    assert.equal(buf.readBigUInt64LE(last + 128), 6n);
    assert.equal(packDirentsPlus(entries, 0, size('.') + 10, () => undefined, 1, 1).length, size('.'));
  });
});
