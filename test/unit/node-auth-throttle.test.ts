import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuthThrottle, normalizeAddress } from '../../src/node/auth-throttle.ts';

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('auth throttle', () => {
  it('lets 5 failures a minute through, then delays 0.5 s doubling up to 30 s', () => {
    const c = clock();
    const th = new AuthThrottle({ now: c.now });
    for (let i = 0; i < 5; i++) {
      assert.equal(th.delayFor('10.0.0.1'), 0, `attempt ${i + 1} is not delayed`);
      th.recordFailure('10.0.0.1');
    }
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      const d = th.delayFor('10.0.0.1');
      delays.push(d);
      c.advance(d); // the answer goes out, then the next attempt comes
      th.recordFailure('10.0.0.1');
    }
    assert.deepEqual(delays, [500, 1000, 2000, 4000]);
    for (let i = 0; i < 20; i++) th.recordFailure('10.0.0.1');
    c.advance(60_000 - 7_500 - 1); // all 29 failures still inside the minute
    assert.equal(th.failures('10.0.0.1'), 29);
    assert.equal(th.delayFor('10.0.0.1'), 30_000, 'capped at 30 s');
    assert.equal(th.delayFor('10.0.0.2'), 0, 'another address is not affected');
  });

  it('forgets failures older than the window', () => {
    const c = clock();
    const th = new AuthThrottle({ now: c.now });
    for (let i = 0; i < 6; i++) th.recordFailure('a');
    assert.ok(th.delayFor('a') > 0);
    c.advance(61_000);
    assert.equal(th.failures('a'), 0);
    assert.equal(th.delayFor('a'), 0);
  });

  it('spaces out concurrent attempts from one address', () => {
    const c = clock();
    const th = new AuthThrottle({ now: c.now });
    for (let i = 0; i < 5; i++) th.recordFailure('a');
    // Three connections ask at the same instant: their answers are queued one after another.
    assert.deepEqual([th.delayFor('a'), th.delayFor('a'), th.delayFor('a')], [500, 1000, 1500]);
  });

  it('treats an IPv4-mapped IPv6 address as the IPv4 address', () => {
    const th = new AuthThrottle({ now: () => 0 });
    for (let i = 0; i < 5; i++) th.recordFailure('::ffff:127.0.0.1');
    assert.equal(th.failures('127.0.0.1'), 5);
    assert.equal(normalizeAddress('::1'), '::1');
  });

  it('bounds the addresses it remembers', () => {
    const c = clock();
    const th = new AuthThrottle({ now: c.now, maxAddresses: 3 });
    for (const a of ['a', 'b', 'c', 'd']) th.recordFailure(a);
    assert.equal(th.failures('a'), 0, 'the oldest address was forgotten');
    assert.equal(th.failures('d'), 1);
  });
});
