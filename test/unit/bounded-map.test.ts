// BoundedMap: a Map that drops its oldest-set entry beyond its bound.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BoundedMap } from '../../src/core/bounded-map.ts';

describe('BoundedMap', () => {
  it('keeps the most recently set entries, re-setting a key makes it the newest', () => {
    const map = new BoundedMap<string, number>({ max: 3 });
    map.set('a', 1).set('b', 2).set('c', 3);
    map.set('a', 10); // now newest: b is the oldest
    map.set('d', 4);
    assert.deepEqual(
      [...map.entries()],
      [
        ['c', 3],
        ['a', 10],
        ['d', 4],
      ],
    );
    assert.equal(map.get('b'), undefined);
    // Reading does not refresh: c is still the first to go.
    assert.equal(map.get('c'), 3);
    map.set('e', 5);
    assert.deepEqual([...map.keys()], ['a', 'd', 'e']);
    assert.equal(map.size, 3);
  });
});
