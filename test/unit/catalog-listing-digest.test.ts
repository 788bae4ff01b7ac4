import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ListingDigest } from '../../src/catalog/listing-digest.ts';

type Entry = [name: string, local: number, kind: string, size: number, mtimeMs: number];

const digestOf = (entries: readonly Entry[]): string => {
  const d = new ListingDigest();
  for (const e of entries) d.add(...e);
  return d.value();
};

describe('listing digest', () => {
  const listing: Entry[] = [
    ['a.txt', 1001, 'file', 3, 1_700_000_000_123.456],
    ['b', 2 ** 40 + 7, 'dir', 4096, 1_700_000_000_000],
    ['c.fifo', 1003, 'fifo', 0, 1_700_000_000_001.5],
  ];

  it('does not depend on the order of the entries', () => {
    assert.equal(digestOf(listing), digestOf([...listing].reverse()));
    assert.match(digestOf(listing), /^3:[0-9a-f]{32}$/);
  });

  it('changes with every compared field of any entry, and with an entry more or less', () => {
    const base = digestOf(listing);
    const variants: Entry[][] = [
      [['a.txt ', 1001, 'file', 3, 1_700_000_000_123.456], listing[1]!, listing[2]!],
      [['a.txt', 1002, 'file', 3, 1_700_000_000_123.456], listing[1]!, listing[2]!],
      [listing[0]!, ['b', 2 ** 41 + 7, 'dir', 4096, 1_700_000_000_000], listing[2]!],
      [['a.txt', 1001, 'fifo', 3, 1_700_000_000_123.456], listing[1]!, listing[2]!],
      [['a.txt', 1001, 'file', 2 ** 32 + 3, 1_700_000_000_123.456], listing[1]!, listing[2]!],
      [['a.txt', 1001, 'file', 3, 1_700_000_000_123.457], listing[1]!, listing[2]!],
      listing.slice(0, 2),
      [...listing, ['d', 1004, 'file', 0, 0]],
    ];
    const seen = new Set([base]);
    for (const v of variants) {
      const d = digestOf(v);
      assert.ok(!seen.has(d), `a distinct digest for ${JSON.stringify(v)}`);
      seen.add(d);
    }
  });
});
