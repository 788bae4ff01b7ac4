import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeListingFast } from '../../src/protocol/listing-decode.ts';
import { decodeResult } from '../../src/protocol/messages.ts';
import { OPS } from '../../src/protocol/ops.ts';
import { rng } from '../helpers/rng.ts';

/** A valid READDIRP result as it comes off the wire (JSON types). */
function page(n: number): Record<string, unknown> {
  return {
    entries: Array.from({ length: n }, (_, i) => ({
      name: `f${i} ✓`,
      id: String(1_000_000 + i),
      attr: {
        kind: i % 3 === 0 ? 'dir' : 'file',
        mode: 0o644,
        nlink: 1,
        uid: 1000,
        gid: 1000,
        size: i * 10,
        atimeNs: '1700000000123456789',
        mtimeNs: '-5',
        ctimeNs: '0',
        gen: i - 2,
      },
    })),
    cookie: 'c1:10:f9',
    eof: false,
  };
}

/** Values that break one rule or another of the schema (or are fine), to put anywhere. */
const ODD: unknown[] = [
  undefined,
  null,
  '',
  '0',
  '18446744073709551616',
  '18446744073709551615',
  '12a',
  '-1',
  '1'.repeat(26),
  -1,
  1.5,
  2 ** 53,
  0o10000,
  'fifo',
  'device',
  true,
  [],
  {},
  'x'.repeat(4097),
  Number.NaN,
];

function mutate(value: Record<string, unknown>, rand: () => number): void {
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
  const entries = Array.isArray(value.entries) ? (value.entries as unknown[]).filter(isObject) : [];
  const entry = entries.length > 0 ? pick(entries) : undefined;
  const target =
    entry === undefined || rand() < 0.15 ? value : rand() < 0.5 || !isObject(entry.attr) ? entry : entry.attr;
  const keys = Object.keys(target);
  const r = rand();
  if (r < 0.1 || keys.length === 0) target.extra = 1;
  else if (r < 0.2) delete target[pick(keys)];
  else target[pick(keys)] = pick(ODD);
}

describe('READDIRP fast decode', () => {
  it('decodes a clean page exactly as the schema does', () => {
    const raw = page(50);
    const fast = decodeListingFast(raw);
    assert.ok(fast);
    assert.deepEqual(fast, OPS.READDIRP.result.parse(raw));
    assert.equal(typeof fast.entries[0]!.id, 'bigint');
    assert.equal(fast.entries[0]!.attr.atimeNs, 1700000000123456789n);
  });

  it('never accepts what the schema rejects, and agrees on what both accept (fuzz)', () => {
    const rand = rng(0x11571);
    let rejected = 0;
    for (let i = 0; i < 3000; i++) {
      const raw = page(1 + Math.floor(rand() * 4));
      const mutations = 1 + Math.floor(rand() * 2);
      for (let m = 0; m < mutations; m++) mutate(raw, rand);
      const schema = OPS.READDIRP.result.safeParse(raw);
      const fast = decodeListingFast(raw);
      if (!schema.success) {
        rejected++;
        assert.equal(fast, undefined, `fast decode accepted what the schema rejects: ${JSON.stringify(raw)}`);
        assert.throws(() => decodeResult('READDIRP', raw), { code: 'EPROTO' });
      } else if (fast !== undefined) assert.deepEqual(fast, schema.data);
      else assert.deepEqual(decodeResult('READDIRP', raw), schema.data);
    }
    assert.ok(rejected > 1000, `the fuzz produced bad pages (${rejected})`);
  });
});
