import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ALLOC_BASE, IdTable, type IdRecord } from '../../src/sources/local/id-table.ts';

const DEV = 2049n;

function table(rootIno = 5000n): { t: IdTable; log: IdRecord[] } {
  const t = new IdTable({ rootDev: DEV, rootIno });
  const log: IdRecord[] = [];
  t.setSink((r) => log.push(r));
  return { t, log };
}

describe('local id table', () => {
  it('derives ids from inode numbers, swapping the root with ino 1', () => {
    const { t, log } = table();
    assert.equal(t.idFor(DEV, 5000n, false), 1, 'the root is 1');
    assert.equal(t.idFor(DEV, 1n, false), 5000, 'ino 1 takes the root ino');
    assert.equal(t.idFor(DEV, 777n, false), 777);
    assert.equal(log.length, 0, 'natural ids need no bookkeeping');
  });

  it('allocates from the reserved range for other devices and huge inodes, stably', () => {
    const { t, log } = table();
    const other = t.idFor(DEV + 1n, 777n, true)!;
    const huge = t.idFor(DEV, BigInt(ALLOC_BASE) + 3n, true)!;
    assert.ok(other >= ALLOC_BASE && huge >= ALLOC_BASE && other !== huge);
    assert.equal(t.idFor(DEV + 1n, 777n, true), other, 'same inode, same id');
    assert.equal(t.idFor(DEV + 1n, 778n, false), undefined, 'verification never allocates');
    assert.ok(log.some((r) => r[0] === 'B'));
  });

  it('a root whose ino does not fit leaves ino 1 to the allocator', () => {
    const { t } = table(BigInt(ALLOC_BASE) + 10n);
    assert.equal(t.idFor(DEV, BigInt(ALLOC_BASE) + 10n, false), 1);
    assert.ok(t.idFor(DEV, 1n, true)! >= ALLOC_BASE);
  });

  it('rebinding moves an id to a new inode; the old inode loses it', () => {
    const { t } = table();
    t.bind(777, t.keyOf(DEV, 900n), 42);
    assert.equal(t.idFor(DEV, 900n, false), 777);
    assert.equal(t.genOf(777), 42);
    const old = t.idFor(DEV, 777n, true)!;
    assert.ok(old >= ALLOC_BASE, `the replaced inode must not answer to 777 (got ${old})`);
  });

  it('locations form a tree; renames touch one entry; aliases are tried second', () => {
    const { t } = table();
    t.learn(10, 1, 'a', true);
    t.learn(11, 10, 'b', true);
    t.learn(12, 11, 'f', false);
    assert.equal(t.relPath(12), 'a/b/f');
    t.drop(10, 1, 'a');
    t.learn(10, 1, 'renamed', true);
    assert.equal(t.relPath(12), 'renamed/b/f', 'children follow a renamed directory');
    t.learn(12, 1, 'hardlink', false);
    assert.equal(t.relPath(12), 'hardlink');
    assert.deepEqual(
      t.node(12)!.locs.map((l) => l.name),
      ['hardlink', 'f'],
    );
    t.drop(12, 1, 'hardlink');
    assert.equal(t.relPath(12), 'renamed/b/f');
    assert.ok(t.isAncestor(10, 12) && !t.isAncestor(12, 10));
    assert.deepEqual([...t.dirs()].sort(), [10, 11]);
  });

  it('replaying the journal rebuilds the same state; a snapshot leaves orphans out', () => {
    const { t, log } = table();
    t.learn(10, 1, 'a', true);
    t.learn(12, 10, 'f', false);
    t.learn(12, 1, 'g', false);
    t.learn(20, 99, 'orphan', false);
    t.idFor(DEV + 7n, 5n, true);
    t.bind(12, t.keyOf(DEV, 4242n), 7);
    t.addTemp(10, '.tessera-tmp-x');
    const replayed = new IdTable({ rootDev: DEV, rootIno: 5000n });
    for (const r of log) replayed.replay(r);
    assert.equal(replayed.relPath(12), 'g');
    assert.deepEqual(replayed.node(12)!.locs, t.node(12)!.locs);
    assert.equal(replayed.idFor(DEV, 4242n, false), 12);
    assert.equal(replayed.idFor(DEV + 7n, 5n, false), t.idFor(DEV + 7n, 5n, false));
    assert.deepEqual(replayed.temps(), [{ dir: 10, name: '.tessera-tmp-x' }]);

    const compact = new IdTable({ rootDev: DEV, rootIno: 5000n });
    for (const r of t.snapshot()) compact.replay(r);
    assert.equal(compact.relPath(12), 'g');
    assert.deepEqual(compact.node(12)!.locs, t.node(12)!.locs, 'alias order survives compaction');
    assert.equal(compact.node(20), undefined, 'unreachable objects are dropped');
    const next = compact.idFor(DEV + 8n, 1n, true)!;
    assert.ok(next > t.idFor(DEV + 7n, 5n, false)!, 'the allocation counter survives');
  });

  it('ignores malformed records', () => {
    const t = new IdTable({ rootDev: DEV, rootIno: 5000n });
    for (const bad of [
      null,
      'x',
      ['L', -1, 1, 'a', 0],
      ['L', 3, 1, '', 0],
      ['B', 3, 'bogus key', 0],
      ['Z'],
      ['N', 'many'],
    ])
      t.replay(bad);
    assert.equal(t.size, 0);
  });
});
