import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EventQueue } from '../../src/catalog/event-queue.ts';
import type { Invalidation } from '../../src/sources/source.ts';

function queue(opts: { stormRate?: number; stormSeconds?: number } = {}) {
  let now = 1_000_000;
  const batches: Invalidation[][] = [];
  let storms = 0;
  const q = new EventQueue({
    debounceMs: 500,
    ...opts,
    now: () => now,
    onFlush: (events) => batches.push(events),
    onStorm: () => storms++,
  });
  return {
    q,
    batches,
    storms: () => storms,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

const entry = (name: string, parent = 5n): Invalidation => ({ kind: 'entry', parent, name });

describe('catalog event queue', () => {
  it('debounces per path and hands over what is due together', () => {
    const t = queue();
    t.q.push(entry('a'));
    t.advance(300);
    t.q.push(entry('a')); // Again: its quiet time starts over.
    t.q.push(entry('b'));
    t.advance(300);
    t.q.flush();
    assert.deepEqual(t.batches, [], 'nothing quiet for 500 ms yet');
    t.advance(250);
    t.q.flush();
    assert.deepEqual(t.batches, [[entry('a'), entry('b')]], 'one event per path, in one batch');
    t.q.close();
  });

  it('hands over a key that keeps changing after the longest wait', () => {
    const t = queue();
    for (let i = 0; i < 10; i++) {
      t.q.push({ kind: 'data', id: 7n });
      t.advance(400);
      t.q.flush();
    }
    assert.equal(t.batches.length, 2, 'every 2 s despite never being quiet');
    t.q.close();
  });

  it('calls a storm after the rate is exceeded for the set number of seconds, then calms down', () => {
    const t = queue({ stormRate: 100, stormSeconds: 3 });
    const burst = (n: number) => {
      for (let i = 0; i < n; i++) {
        t.q.push(entry(`f${i}`));
        t.advance(1000 / n);
      }
    };
    burst(150);
    burst(150);
    assert.equal(t.storms(), 0, 'two hot seconds are not a storm');
    burst(50); // A quiet second ends the run.
    burst(150);
    burst(150);
    assert.equal(t.storms(), 0);
    burst(150);
    assert.equal(t.storms(), 1, 'three hot seconds in a row are');
    assert.ok(t.q.storming);
    assert.equal(t.q.size, 0, 'pending events were dropped: a crawl replaces them');
    burst(150);
    assert.equal(t.storms(), 1, 'one storm, one call');
    assert.equal(t.q.size, 0, 'events are only counted during a storm');
    burst(10);
    burst(10);
    assert.ok(!t.q.storming, 'a quiet second ends the storm');
    assert.ok(t.q.size > 0, 'events queue again');
    t.q.close();
  });
});
