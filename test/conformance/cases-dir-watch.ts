import assert from 'node:assert/strict';
import type { NodeId } from '../../src/core/ids.ts';
import type { Invalidation } from '../../src/sources/source.ts';
import { pool, sleep, writeFile } from './helpers.ts';
import type { Ctx } from './suite.ts';

/** readdirp paging over a big directory that changes while it is listed. */
export function bigDirCases(ctx: Ctx): void {
  ctx.test(
    'readdirp pages a big directory with cookies: nothing lost or repeated while entries are added',
    async () => {
      const count = ctx.opts.bigDirEntries ?? 10_000;
      const dir = await ctx.fresh();
      const original = Array.from({ length: count }, (_, i) => `entry-${String(i).padStart(6, '0')}`);
      await pool(original, 32, async (name) => {
        await writeFile(ctx.src, dir, name, '');
      });
      const seen = new Map<string, number>();
      let cookie = '';
      let page = 0;
      let added = 0;
      const max = Math.max(50, Math.floor(count / 20));
      for (;;) {
        const res = await ctx.src.readdirp({ dir, cookie, max });
        assert.ok(res.entries.length <= max);
        for (const e of res.entries) seen.set(e.name, (seen.get(e.name) ?? 0) + 1);
        if (res.eof) break;
        cookie = res.cookie;
        // Add entries on both sides of the cursor between pages.
        const batch = [
          `aaa-new-${page}`,
          `entry-${String(page * 7).padStart(6, '0')}-new`,
          `zzz-new-${page}`,
        ];
        for (const name of batch) await writeFile(ctx.src, dir, name, 'n');
        added += batch.length;
        page++;
      }
      assert.ok(page >= 10, `expected at least 10 pages, got ${page + 1}`);
      const repeated = [...seen].filter(([, n]) => n > 1).map(([name]) => name);
      assert.deepEqual(repeated.slice(0, 10), [], `${repeated.length} entries were returned more than once`);
      const lost = original.filter((name) => !seen.has(name));
      assert.deepEqual(lost.slice(0, 10), [], `${lost.length} entries were lost`);
      assert.ok(added > 0);
    },
  );

  ctx.test('a listing restarted from an old cookie still returns each entry at most once', async () => {
    const dir = await ctx.fresh();
    const all = Array.from({ length: 120 }, (_, i) => `n${String(i).padStart(3, '0')}`);
    await pool(all, 16, async (name) => {
      await ctx.src.mkdir({ parent: dir, name, mode: 0o755 });
    });
    const first = await ctx.src.readdirp({ dir, cookie: '', max: 40 });
    const a = await ctx.src.readdirp({ dir, cookie: first.cookie, max: 40 });
    const b = await ctx.src.readdirp({ dir, cookie: first.cookie, max: 40 });
    assert.deepEqual(
      a.entries.map((e) => e.name),
      b.entries.map((e) => e.name),
      'the same cookie gives the same page',
    );
    const names = [...first.entries, ...a.entries].map((e) => e.name);
    assert.equal(new Set(names).size, names.length);
  });
}

/** Changes made behind the Source's back are pushed as invalidations. */
export function watchCases(ctx: Ctx): void {
  ctx.test('changes behind the back arrive as invalidations in time', async (t) => {
    if (!ctx.need(t, ctx.fx.behind !== undefined, 'no way to change the storage behind the Source')) return;
    const behind = ctx.fx.behind!;
    const within = ctx.opts.invalidationWithinMs ?? (ctx.caps.native_watch ? 1000 : 10_000);
    const dir = await ctx.fresh();
    const dirName = (await ctx.src.readdirp({ dir: ctx.root, cookie: '', max: 10_000 })).entries.find(
      (e) => e.id === dir,
    )?.name;
    assert.ok(dirName);
    const f = await writeFile(ctx.src, dir, 'watched.txt', 'v1');
    const events: Invalidation[] = [];
    const stop = ctx.src.watch((ev) => events.push(ev));
    try {
      // Let the Source see the directory (adapters watch what clients have looked at).
      await ctx.src.readdirp({ dir, cookie: '', max: 100 });
      await ctx.src.getattr({ id: f.id });
      await sleep(50);

      await expectEvent(
        events,
        within,
        'a file created behind the back',
        (ev) => touches(ev, dir, 'new.txt'),
        () => behind.writeFile(`${dirName}/new.txt`, 'hello'),
      );
      await expectEvent(
        events,
        within,
        'a file changed behind the back',
        (ev) => touches(ev, dir, 'watched.txt', f.id),
        () => behind.writeFile(`${dirName}/watched.txt`, 'version 2, longer'),
      );
      await expectEvent(
        events,
        within,
        'a file removed behind the back',
        (ev) => touches(ev, dir, 'new.txt'),
        () => behind.remove(`${dirName}/new.txt`),
      );
      await expectEvent(
        events,
        within,
        'a rename behind the back',
        (ev) => touches(ev, dir, 'renamed.txt', f.id),
        () => behind.rename(`${dirName}/watched.txt`, `${dirName}/renamed.txt`),
      );
    } finally {
      stop();
    }
  });
}

function touches(ev: Invalidation, dir: NodeId, name: string, id?: NodeId): boolean {
  switch (ev.kind) {
    case 'entry':
      return ev.parent === dir && ev.name === name;
    case 'tree':
      return ev.id === dir;
    default:
      return ev.id === id || ev.id === dir;
  }
}

async function expectEvent(
  events: Invalidation[],
  withinMs: number,
  what: string,
  match: (ev: Invalidation) => boolean,
  act: () => Promise<void>,
): Promise<void> {
  events.length = 0;
  await act();
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    if (events.some(match)) return;
    await sleep(20);
  }
  assert.fail(`${what}: no invalidation within ${withinMs} ms (got ${events.length} other events)`);
}
