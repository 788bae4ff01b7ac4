import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FsError } from '../../src/core/fs-error.ts';
import { rootId } from '../../src/core/ids.ts';
import { MemorySource } from '../../src/sources/memory/memory-source.ts';
import { readdirAll } from '../../src/sources/readdir-pages.ts';
import { REMOVE_CONCURRENCY, type RemoveFailure, removeTree } from '../../src/sources/remove-tree.ts';
import type { Source } from '../../src/sources/source.ts';
import { writeFile } from '../conformance/helpers.ts';
import { overriding } from '../helpers/overriding.ts';

describe('removeTree', () => {
  const root = rootId(1);

  /** /d with files a and b, and sub/c; a Source whose unlink of `b` fails with EBUSY. */
  async function world() {
    const mem = new MemorySource({ name: 'm', exportIndex: 1 });
    await mem.open();
    const d = await mem.mkdir({ parent: root, name: 'd', mode: 0o755 });
    await writeFile(mem, d.id, 'a', 'a');
    await writeFile(mem, d.id, 'b', 'b');
    const sub = await mem.mkdir({ parent: d.id, name: 'sub', mode: 0o755 });
    await writeFile(mem, sub.id, 'c', 'c');
    const failing = overriding<Source>(mem, {
      unlink: async (req) => {
        if (req.name === 'b') throw FsError.EBUSY('unlink', undefined, 'held');
        return mem.unlink(req);
      },
    });
    return { mem, d, failing };
  }
  const names = async (src: Source, dir: bigint) =>
    (await readdirAll({ source: src, dir: dir, max: 100 })).map((e) => e.name).sort();

  it('removes a directory with everything below it', async () => {
    const { mem, d } = await world();
    await using _ = mem;
    assert.equal(
      await removeTree({ source: mem, parent: root, name: 'd', entry: d, path: '/d', concurrency: 4 }),
      true,
    );
    assert.deepEqual(await names(mem, root), []);
  });

  it('reports each failing member and removes the rest; the directories above it stay', async () => {
    const { mem, d, failing } = await world();
    await using _ = mem;
    const failures: RemoveFailure[] = [];
    const done = await removeTree({
      source: failing,
      parent: root,
      name: 'd',
      entry: d,
      path: '/d',
      onFailure: (f) => failures.push(f),
    });
    assert.equal(done, false);
    assert.deepEqual(
      failures.map((f) => [f.path, f.dir, f.error.code]),
      [['/d/b', false, 'EBUSY']],
    );
    assert.deepEqual(await names(mem, d.id), ['b']);
  });

  it('without onFailure throws the first failure, named by its op and path', async () => {
    const { mem, d, failing } = await world();
    await using _ = mem;
    await assert.rejects(
      removeTree({
        source: failing,
        parent: root,
        name: 'd',
        entry: d,
        path: '/d',
        relabel: (err, op, path) => new FsError({ code: FsError.from(err, op).code, op, path }),
      }),
      (e: unknown) => FsError.is(e, 'EBUSY') && e.op === 'unlink' && e.path === '/d/b',
    );
  });

  it('removes the files of a directory several at once by default', async () => {
    const mem = new MemorySource({ name: 'm', exportIndex: 1 });
    await mem.open();
    await using _ = mem;
    const d = await mem.mkdir({ parent: root, name: 'd', mode: 0o755 });
    for (let i = 0; i < 40; i++) await writeFile(mem, d.id, `f${i}`, 'x');
    let running = 0;
    let most = 0;
    const counting = overriding<Source>(mem, {
      unlink: async (req) => {
        most = Math.max(most, ++running);
        await new Promise((r) => setTimeout(r, 2));
        running--;
        return mem.unlink(req);
      },
    });
    assert.equal(await removeTree({ source: counting, parent: root, name: 'd', entry: d, path: '/d' }), true);
    assert.equal(most, REMOVE_CONCURRENCY);
    assert.deepEqual(await names(mem, root), []);
  });
});
