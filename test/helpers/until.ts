import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';

/** Wait until `cond()` holds, checking every 10 ms; fails naming `what` after 10 s. */
export async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await sleep(10);
  assert.ok(cond(), `timed out waiting for ${what}`);
}
