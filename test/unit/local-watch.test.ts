import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Invalidation } from '../../src/sources/source.ts';
import { TEMP_PREFIX } from '../../src/sources/local/temp-files.ts';
import type { LocalSource } from '../../src/sources/local/local-source.ts';
import { localDirs, openLocal, put, ROOT } from './local-helpers.ts';

async function until(
  events: Invalidation[],
  what: string,
  match: (ev: Invalidation) => boolean,
  ms = 3000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (events.some(match)) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(
    `${what}: not seen in ${ms} ms; got ${JSON.stringify(events, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`,
  );
}

function recorder(src: LocalSource): { events: Invalidation[]; stop: () => void } {
  const events: Invalidation[] = [];
  return { events, stop: src.watch((ev) => events.push(ev)) };
}

describe('linux change events (inotify)', () => {
  it('maps host changes to entry, data and attr events with the right ids', async () => {
    using dirs = localDirs();
    const src = await openLocal({ root: dirs.root });
    const { events, stop } = recorder(src);
    try {
      assert.equal(src.watching, true);
      const f = await put(src, ROOT, 'f', 'v1');
      writeFileSync(join(dirs.root, 'f'), 'v2 longer');
      await until(events, 'data', (e) => e.kind === 'data' && e.id === f);
      chmodSync(join(dirs.root, 'f'), 0o600);
      await until(events, 'attr', (e) => e.kind === 'attr' && e.id === f);
      // A directory made behind the back is watched once a client has looked it up.
      mkdirSync(join(dirs.root, 'sub'));
      await until(events, 'entry sub', (e) => e.kind === 'entry' && e.parent === ROOT && e.name === 'sub');
      const sub = await src.lookup({ parent: ROOT, name: 'sub' });
      await new Promise((r) => setTimeout(r, 20));
      writeFileSync(join(dirs.root, 'sub', 'inner'), 'x');
      await until(
        events,
        'entry inner',
        (e) => e.kind === 'entry' && e.parent === sub.id && e.name === 'inner',
      );
    } finally {
      stop();
      await src.close();
    }
  });

  it("ignores the adapter's own temp-file churn", async () => {
    using dirs = localDirs();
    const src = await openLocal({ root: dirs.root });
    const { events, stop } = recorder(src);
    try {
      const f = await put(src, ROOT, 'f', 'one');
      const w = await src.openFile({ id: f, flags: { read: false, write: true } });
      await src.write({ handle: w.handle, offset: 0, data: Buffer.from('two') });
      await src.closeFile({ handle: w.handle });
      await until(events, 'the committed name', (e) => e.kind === 'entry' && e.name === 'f');
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(
        events.filter((e) => e.kind === 'entry' && e.name.startsWith(TEMP_PREFIX)),
        [],
      );
    } finally {
      stop();
      await src.close();
    }
  });

  it('follows a rename made behind the back: the id resolves at its new name', async () => {
    using dirs = localDirs();
    const src = await openLocal({ root: dirs.root });
    const { events, stop } = recorder(src);
    try {
      const d = await src.mkdir({ parent: ROOT, name: 'd', mode: 0o755 });
      const f = await put(src, ROOT, 'f', 'content');
      renameSync(join(dirs.root, 'f'), join(dirs.root, 'd', 'moved'));
      await until(events, 'moved in', (e) => e.kind === 'entry' && e.parent === d.id && e.name === 'moved');
      await new Promise((r) => setTimeout(r, 100)); // the relearn happens after the debounce
      assert.equal((await src.getattr({ id: f })).size, 7);
    } finally {
      stop();
      await src.close();
    }
    assert.equal(src.watching, false);
  });
});

describe('posix change events (scanner)', () => {
  it('polls only while someone watches, and reports entry, data and attr changes', async () => {
    using dirs = localDirs();
    const src = await openLocal({ root: dirs.root, kind: 'posix', options: { scan_interval_ms: 50 } });
    try {
      const f = await put(src, ROOT, 'f', 'v1');
      assert.equal(src.watching, false, 'no scanning without a watcher');
      const { events, stop } = recorder(src);
      assert.equal(src.watching, true);
      await src.scanNow();
      writeFileSync(join(dirs.root, 'g'), 'new');
      await until(events, 'entry g', (e) => e.kind === 'entry' && e.parent === ROOT && e.name === 'g');
      writeFileSync(join(dirs.root, 'f'), 'v2 is longer');
      await until(events, 'data f', (e) => e.kind === 'data' && e.id === f);
      chmodSync(join(dirs.root, 'f'), 0o600);
      await until(events, 'attr f', (e) => e.kind === 'attr' && e.id === f);
      stop();
      assert.equal(src.watching, false);
    } finally {
      await src.close();
    }
  });
});
