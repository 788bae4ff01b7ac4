import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LOCAL_MASK } from '../../src/core/ids.ts';
import { IdMap, sha256KeyHash, type KeyHash } from '../../src/sources/s3/s3-ids.ts';
import {
  dirAttr,
  fileAttr,
  formatMtime,
  parseMtime,
  readPosixMeta,
  withPosixMeta,
} from '../../src/sources/s3/s3-meta.ts';

describe('s3 ids from keys', () => {
  it('gives the same key the same id in every map (no stored state)', () => {
    const a = new IdMap();
    const b = new IdMap();
    for (const rel of ['x', 'dir/', 'dir/file.txt', 'ünï/ç', 'a b/c'])
      assert.equal(a.idFor(rel), b.idFor(rel));
    assert.notEqual(a.idFor('a'), a.idFor('a/'), 'file a and directory a/ differ');
  });

  it('stays within 48 bits and never hands out 0 or the root (1)', () => {
    const m = new IdMap();
    for (let i = 0; i < 2000; i++) {
      const id = m.idFor(`k${i}`);
      assert.ok(id > 1n && id <= LOCAL_MASK);
    }
    // A hash that lands on the reserved values is probed away from them.
    const reserved = new IdMap({
      hash: (rel, attempt) => (attempt === 0 ? 1n : sha256KeyHash(rel, attempt)),
    });
    assert.ok(reserved.idFor('r') > 1n);
  });

  it('resolves collisions by a deterministic probe, first seen keeps the plain hash', () => {
    const colliding: KeyHash = (rel, attempt) => (attempt === 0 ? 42n : sha256KeyHash(rel, attempt));
    const m = new IdMap({ hash: colliding });
    const first = m.idFor('one');
    const second = m.idFor('two');
    assert.equal(first, 42n);
    assert.notEqual(second, 42n);
    assert.equal(second, sha256KeyHash('two', 1));
    assert.equal(m.relOf(first), 'one');
    assert.equal(m.relOf(second), 'two');
    assert.equal(m.idFor('two'), second, 'stable once assigned');
  });
});

describe('s3 POSIX metadata', () => {
  it('formats and parses mtime like rclone (decimal seconds) and RFC 3339', () => {
    const ns = 1_600_000_000_123_456_789n;
    assert.equal(formatMtime(ns), '1600000000.123456789');
    assert.equal(parseMtime(formatMtime(ns)), ns);
    assert.equal(parseMtime('1500000000.5'), 1_500_000_000_500_000_000n);
    assert.equal(parseMtime('1500000000'), 1_500_000_000_000_000_000n);
    assert.equal(parseMtime('2020-09-13T12:26:40Z'), 1_600_000_000_000_000_000n);
    assert.equal(parseMtime('not a time'), undefined);
  });

  it('reads mode/uid/gid/mtime from user metadata, ignoring malformed values', () => {
    assert.deepEqual(readPosixMeta({ mode: '0100640', uid: '1000', gid: '100', mtime: '10.5' }), {
      mode: 0o640,
      uid: 1000,
      gid: 100,
      mtimeNs: 10_500_000_000n,
    });
    assert.deepEqual(readPosixMeta({ mode: 'rwx', uid: '-1', gid: 'x' }), {
      mode: undefined,
      uid: undefined,
      gid: undefined,
      mtimeNs: undefined,
    });
  });

  it('writes metadata keeping what it does not change', () => {
    const meta = withPosixMeta({ color: 'blue', uid: '5' }, 'file', { mode: 0o600, mtimeNs: 2_000_000_000n });
    assert.deepEqual(meta, { color: 'blue', uid: '5', mode: '0100600', mtime: '2.000000000' });
    assert.equal(withPosixMeta({}, 'dir', { mode: 0o750 }).mode, '040750');
  });

  it('builds attributes with stable synthetic defaults', () => {
    const f = fileAttr({ size: 3, lastModifiedMs: 5000, meta: {} });
    assert.equal(f.mode, 0o644);
    assert.equal(f.nlink, 1);
    assert.equal(f.mtimeNs, 5_000_000_000n);
    assert.equal(f.uid, process.getuid?.() ?? 0);
    const g = fileAttr({ size: 3, lastModifiedMs: 5000, meta: { mtime: '1.0', mode: '0100600' } });
    assert.equal(g.mtimeNs, 1_000_000_000n, 'stored mtime wins');
    assert.equal(g.ctimeNs, 5_000_000_000n, 'ctime is LastModified');
    assert.equal(g.mode, 0o600);
    const d = dirAttr();
    assert.equal(d.kind, 'dir');
    assert.equal(d.mode, 0o755);
    assert.equal(d.nlink, 2);
    assert.deepEqual(dirAttr(), d, 'the same in every call');
  });
});
