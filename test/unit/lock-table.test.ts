import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FsError } from '../../src/core/fs-error.ts';
import { LockTable } from '../../src/sources/lock-table.ts';

describe('lock table', () => {
  it('splits, merges and replaces an owner’s own locks', () => {
    const t = new LockTable();
    t.set('f', { owner: 'a', type: 'write', start: 0, length: 100 });
    t.set('f', { owner: 'a', type: 'unlock', start: 40, length: 20 });
    assert.deepEqual(
      t.held('f').map((l) => [l.start, l.length]),
      [
        [0, 40],
        [60, 40],
      ],
    );
    assert.equal(t.test('f', { owner: 'b', type: 'read', start: 45, length: 10 }), null);
    assert.ok(t.test('f', { owner: 'b', type: 'read', start: 30, length: 20 }));
    t.set('f', { owner: 'a', type: 'read', start: 0, length: 0 });
    assert.deepEqual(t.held('f'), [{ owner: 'a', type: 'read', start: 0, length: 0 }]);
  });

  it('grants a waiter when the holder unlocks, and fails it with EBADF when its owner goes away', async () => {
    const t = new LockTable();
    t.set('f', { owner: 'a', type: 'write', start: 0, length: 0 });
    const granted = t.wait('f', { owner: 'b', type: 'write', start: 0, length: 10 });
    t.set('f', { owner: 'a', type: 'unlock', start: 0, length: 0 });
    await granted;
    assert.equal(t.held('f')[0]?.owner, 'b');

    const orphan = t.wait('f', { owner: 'c', type: 'read', start: 0, length: 1 });
    t.releaseOwner('c');
    await assert.rejects(orphan, (e: unknown) => FsError.is(e, 'EBADF'));
    t.releaseOwner('b');
    assert.deepEqual(t.held('f'), [], 'the cancelled waiter never took the lock');
  });

  it('refuses a wait that would deadlock', async () => {
    const t = new LockTable();
    t.set('f', { owner: 'a', type: 'write', start: 0, length: 10 });
    t.set('f', { owner: 'b', type: 'write', start: 20, length: 10 });
    const aWaits = t.wait('f', { owner: 'a', type: 'write', start: 20, length: 10 });
    await assert.rejects(t.wait('f', { owner: 'b', type: 'write', start: 0, length: 10 }), (e: unknown) =>
      FsError.is(e, 'EDEADLK'),
    );
    t.releaseOwner('b');
    await aWaits;
  });
});
