import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ListingDigest, localOfId, msOfNs } from '../../src/catalog/listing-digest.ts';
import { nsToMs } from '../../src/core/attr.ts';
import { localPartOf, makeId } from '../../src/core/ids.ts';
import { rng } from '../helpers/rng.ts';

type Entry = [name: string, id: bigint, kind: string, size: number, mtimeNs: bigint];

const digestOf = (entries: readonly Entry[]): string => {
  const d = new ListingDigest();
  for (const e of entries) d.add(...e);
  return d.value();
};

describe('listing digest', () => {
  const T = 1_700_000_000_123_456_789n;
  const listing: Entry[] = [
    ['a.txt', makeId(3, 1001n), 'file', 3, T],
    ['b', makeId(3, 2n ** 40n + 7n), 'dir', 4096, T + 1000n],
    ['c.fifo', makeId(3, 1003n), 'fifo', 0, T + 2n],
  ];
  const [a, b, c] = listing as [Entry, Entry, Entry];

  it('does not depend on the order of the entries, nor on the mount slot of the ids', () => {
    assert.equal(digestOf(listing), digestOf([c, a, b]));
    assert.equal(
      digestOf(listing),
      digestOf(listing.map(([n, id, ...rest]) => [n, makeId(9, localPartOf(id)), ...rest])),
    );
    assert.match(digestOf(listing), /^3:[0-9a-f]{32}$/);
  });

  it('changes with every compared field of any entry, and with an entry more or less', () => {
    const variants: Entry[][] = [
      [['a.txt ', a[1], 'file', 3, T], b, c],
      [['a.txt', makeId(3, 1002n), 'file', 3, T], b, c],
      [a, ['b', makeId(3, 2n ** 41n + 7n), 'dir', 4096, T + 1000n], c],
      [['a.txt', a[1], 'fifo', 3, T], b, c],
      [['a.txt', a[1], 'file', 2 ** 32 + 3, T], b, c],
      [['a.txt', a[1], 'file', 3, T + 1n], b, c],
      [['a.txt', a[1], 'file', 3, T + (1n << 40n)], b, c],
      [a, b],
      [a, b, c, ['d', makeId(3, 1004n), 'file', 0, 0n]],
    ];
    const seen = new Set([digestOf(listing)]);
    for (const v of variants) {
      const d = digestOf(v);
      assert.ok(!seen.has(d), `a distinct digest for ${v.map((e) => e.join(' ')).join(', ')}`);
      seen.add(d);
    }
  });

  it('reads local ids and milliseconds exactly as localPartOf and nsToMs do', () => {
    const rand = rng(5);
    const times = [0n, 1n, 999_999n, 1_000_000n, T, 2n ** 62n + 12_345n, -1n, -1_500_000_001n];
    for (let i = 0; i < 2000; i++)
      times.push(BigInt(Math.floor(rand() * 2 ** 31)) * 2n ** 32n + BigInt(Math.floor(rand() * 2 ** 32)));
    for (const ns of times) assert.equal(msOfNs(ns), nsToMs(ns), String(ns));
    for (const local of [1n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 48n - 1n, 123_456_789_012n])
      for (const slot of [0, 1, 4095])
        assert.equal(localOfId(makeId(slot, local)), Number(localPartOf(makeId(slot, local))));
  });
});
