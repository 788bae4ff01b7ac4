import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Attr } from '../../src/core/attr.ts';
import { FsError } from '../../src/core/fs-error.ts';
import { makeId, rootId } from '../../src/core/ids.ts';
import { Authorizer } from '../../src/namespace/authorization.ts';
import type { ExportInfo } from '../../src/sources/source.ts';

const slots = new Map([
  [1, 'work'],
  [2, 'secret'],
]);

function authz(opts: {
  exports?: string[] | '*';
  caps?: Partial<Record<'show' | 'read' | 'write' | 'execute', boolean>>;
}) {
  const exports = opts.exports ?? '*';
  return new Authorizer({
    grant: {
      credentialId: 'tk_x',
      principal: 'p',
      exports: exports === '*' ? '*' : new Set(exports),
      caps: { show: true, read: true, write: true, execute: true, ...opts.caps },
    },
    exportOfSlot: (slot) => slots.get(slot),
  });
}

const file: Attr = {
  kind: 'file',
  mode: 0o755,
  nlink: 1,
  uid: 0,
  gid: 0,
  size: 0,
  atimeNs: 0n,
  mtimeNs: 0n,
  ctimeNs: 0n,
  gen: 0,
};

describe('authorization', () => {
  it('hides exports the grant does not cover: their ids are stale', () => {
    const a = authz({ exports: ['work'] });
    assert.equal(a.showsSlot(0), true, 'the namespace root is always visible');
    assert.equal(a.showsSlot(1), true);
    assert.equal(a.showsSlot(2), false);
    assert.equal(a.showsSlot(3), false, 'an unmounted slot is not visible');
    assert.throws(
      () => a.check({ id: makeId(2, 5n), caps: ['show'], op: 'getattr' }),
      (e: unknown) => FsError.is(e, 'ESTALE'),
    );
    a.check({ id: makeId(1, 5n), caps: ['show', 'read', 'write'], op: 'open' });
    const entries = a.entries([
      { name: 'work', id: rootId(1), attr: { ...file, kind: 'dir' } },
      { name: 'secret', id: rootId(2), attr: { ...file, kind: 'dir' } },
    ]);
    assert.deepEqual(
      entries.map((e) => e.name),
      ['work'],
    );
    assert.equal(a.showsEvent({ kind: 'entry', parent: rootId(2), name: 'x' }), false);
    assert.equal(a.showsEvent({ kind: 'data', id: makeId(1, 9n) }), true);
  });

  it('answers EACCES for a missing capability', () => {
    const a = authz({ caps: { write: false } });
    assert.throws(
      () => a.check({ id: makeId(1, 5n), caps: ['write'], op: 'mkdir' }),
      (e: unknown) => FsError.is(e, 'EACCES'),
    );
    a.check({ id: makeId(1, 5n), caps: ['read'], op: 'read' });
  });

  it('without execute, clears x bits of non-directories and refuses setting them', () => {
    const a = authz({ caps: { execute: false } });
    assert.equal(a.attr(file).mode, 0o644);
    assert.equal(a.attr({ ...file, kind: 'dir' }).mode, 0o755, 'directories keep their search bits');
    assert.equal(a.createMode({ mode: 0o775, kind: 'file' }), 0o664);
    assert.throws(
      () => a.checkSetMode({ mode: 0o700, kind: 'file', op: 'setattr', path: '1' }),
      (e: unknown) => FsError.is(e, 'EACCES'),
    );
    a.checkSetMode({ mode: 0o600, kind: 'file', op: 'setattr', path: '1' });
    a.checkSetMode({ mode: 0o755, kind: 'dir', op: 'setattr', path: '1' });
    assert.equal(authz({}).attr(file).mode, 0o755, 'with execute nothing changes');
  });

  it('lists only visible exports, read-only without write', () => {
    const caps = { writable: true } as ExportInfo['caps'];
    const list: ExportInfo[] = [0, 1, 2].map((slot) => ({
      name: slot === 0 ? '/' : `/${slots.get(slot)}`,
      root: rootId(slot),
      ro: false,
      desc: '',
      source_kind: 'memory',
      source_id: 'x',
      caps,
    }));
    const shown = authz({ exports: ['work'], caps: { write: false } }).exports(list);
    assert.deepEqual(
      shown.map((e) => [e.name, e.ro, e.caps.writable]),
      [
        ['/', true, false],
        ['/work', true, false],
      ],
    );
  });
});
