import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IntervalMap } from '../../src/client/cache/interval-map.ts';
import { rng } from '../helpers/rng.ts';

describe('cache interval map', () => {
  it('merges overlapping and touching ranges on insert', () => {
    const m = new IntervalMap();
    m.add({ start: 10, end: 20 });
    m.add({ start: 30, end: 40 });
    assert.deepEqual(m.ranges, [
      { start: 10, end: 20 },
      { start: 30, end: 40 },
    ]);
    m.add({ start: 20, end: 25 }); // touches the first
    m.add({ start: 28, end: 30 }); // touches the second
    assert.deepEqual(m.ranges, [
      { start: 10, end: 25 },
      { start: 28, end: 40 },
    ]);
    m.add({ start: 5, end: 50 }); // swallows both
    assert.deepEqual(m.ranges, [{ start: 5, end: 50 }]);
    assert.equal(m.bytes, 45);
  });

  it('answers presence and the missing sub-ranges', () => {
    const m = new IntervalMap([
      { start: 0, end: 10 },
      { start: 20, end: 30 },
    ]);
    assert.equal(m.covers(0, 10), true);
    assert.equal(m.covers(5, 12), false);
    assert.equal(m.covers(25, 25), true);
    assert.deepEqual(m.missing(5, 35), [
      { start: 10, end: 20 },
      { start: 30, end: 35 },
    ]);
    assert.deepEqual(m.missing(0, 10), []);
    assert.deepEqual(m.gapsBySize(100), [
      { start: 10, end: 20 },
      { start: 30, end: 100 },
    ]);
  });

  it('round-trips through its blob; a malformed blob is refused', () => {
    const m = new IntervalMap([
      { start: 0, end: 10 },
      { start: 20, end: 30 },
    ]);
    const copy = IntervalMap.fromBlob(m.toBlob());
    assert.deepEqual(copy?.ranges, m.ranges);
    assert.equal(IntervalMap.fromBlob(Buffer.alloc(15)), undefined);
    const overlapping = new IntervalMap([{ start: 0, end: 10 }]).toBlob();
    assert.equal(IntervalMap.fromBlob(Buffer.concat([overlapping, overlapping])), undefined);
  });

  it('agrees with a byte map under random inserts', () => {
    const next = rng(4242);
    const size = 512;
    for (let round = 0; round < 50; round++) {
      const m = new IntervalMap();
      const present = new Uint8Array(size);
      for (let k = 0; k < 20; k++) {
        const start = Math.floor(next() * size);
        const end = Math.min(size, start + 1 + Math.floor(next() * 40));
        const before = m.bytes;
        const added = m.add({ start, end });
        present.fill(1, start, end);
        assert.equal(added, m.bytes - before, 'add returns the bytes it made present');
        const a = Math.floor(next() * size);
        const b = Math.min(size, a + Math.floor(next() * 80));
        const expectMissing: { start: number; end: number }[] = [];
        for (let i = a; i < b; i++) {
          if (present[i]) continue;
          const last = expectMissing.at(-1);
          if (last && last.end === i) last.end = i + 1;
          else expectMissing.push({ start: i, end: i + 1 });
        }
        assert.deepEqual(m.missing(a, b), expectMissing);
        assert.equal(m.covers(a, b), expectMissing.length === 0);
        assert.equal(
          m.bytes,
          present.reduce((n, x) => n + x, 0),
        );
        for (let i = 1; i < m.ranges.length; i++) assert.ok(m.ranges[i]!.start > m.ranges[i - 1]!.end);
      }
    }
  });
});
