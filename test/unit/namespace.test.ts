import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FsError } from '../../src/core/fs-error.ts';
import { MountTable } from '../../src/namespace/mount-table.ts';
import { Namespace } from '../../src/namespace/namespace.ts';
import { MemorySource } from '../../src/sources/memory/memory-source.ts';
import { listAll, readFile, writeFile } from '../conformance/helpers.ts';

async function mem(name: string, exportIndex: number): Promise<MemorySource> {
  const src = new MemorySource({ name, exportIndex });
  await src.open();
  return src;
}

async function rejectsWith(code: string, p: Promise<unknown>): Promise<void> {
  await assert.rejects(p, (err: unknown) => FsError.is(err) && err.code === code);
}

describe('mount table', () => {
  it('resolves the longest prefix on segment boundaries', async () => {
    const t = new MountTable();
    const src = await mem('x', 1);
    const [exp] = await src.listExports();
    const data = t.add({ path: '/data', source: src, exp: exp!, ro: false });
    const deep = t.add({ path: '/data/deep/er', source: src, exp: exp!, ro: false });
    assert.equal(t.locate('/data/x/y')?.mount, data);
    assert.deepEqual(t.locate('/data/x/y')?.rest, ['x', 'y']);
    assert.equal(t.locate('/data/deep/er/z')?.mount, deep);
    assert.equal(t.locate('/data/deep/era')?.mount, data, '/data/deep/era is not under /data/deep/er');
    assert.equal(t.locate('/database'), undefined, '/database is not under /data');
    assert.equal(t.locate('/'), undefined);
    assert.throws(
      () => t.add({ path: '/data/', source: src, exp: exp!, ro: false }),
      (e: unknown) => FsError.is(e, 'EBUSY'),
    );
    assert.throws(
      () => t.locate('/data/../etc'),
      (e: unknown) => FsError.is(e, 'EINVAL'),
    );
    t.remove('/data');
    assert.equal(t.locate('/data/x'), undefined);
    await src.close();
  });
});

describe('namespace', () => {
  it('composes exports under synthetic directories and resolves paths across mounts', async () => {
    const a = await mem('a', 1);
    const b = await mem('b', 1);
    await writeFile(a, (await a.listExports())[0]!.root, 'in-a.txt', 'A');
    const bRoot = (await b.listExports())[0]!.root;
    const sub = await b.mkdir({ parent: bRoot, name: 'sub', mode: 0o755 });
    await writeFile(b, sub.id, 'in-b.txt', 'B');
    await using ns = new Namespace();
    await ns.open();
    await ns.mount({ path: '/home/a', source: a, exportName: 'a' });
    await ns.mount({ path: '/b', source: b, exportName: 'b' });
    assert.deepEqual((await listAll(ns, 1n)).map((e) => e.name).sort(), ['b', 'home']);
    const home = await ns.resolve({ path: '/home' });
    assert.equal(home.attr.kind, 'dir');
    assert.deepEqual(
      (await listAll(ns, home.id)).map((e) => e.name),
      ['a'],
    );
    assert.equal((await readFile(ns, (await ns.resolve({ path: '/home/a/in-a.txt' })).id)).toString(), 'A');
    assert.equal((await readFile(ns, (await ns.resolve({ path: '/b/sub/in-b.txt' })).id)).toString(), 'B');
    await rejectsWith('ENOENT', ns.resolve({ path: '/nothing' }));
    await rejectsWith('EROFS', ns.mkdir({ parent: home.id, name: 'x', mode: 0o755 }));
    await assert.rejects(
      ns.rename({
        parent: (await ns.resolve({ path: '/home/a' })).id,
        name: 'in-a.txt',
        newParent: (await ns.resolve({ path: '/b' })).id,
        newName: 'moved',
      }),
      (err: unknown) =>
        FsError.is(err, 'EXDEV') &&
        /\/home\/a and \/b are different mounts.*rename = "copy"/.test(err.message),
      'the error names both mounts and the policy that would allow the move',
    );
    assert.deepEqual(
      ns.mounts().map((m) => m.path),
      ['/home/a', '/b'],
    );
    await ns.unmount({ path: '/home/a' });
    assert.deepEqual(
      (await listAll(ns, 1n)).map((e) => e.name),
      ['b'],
    );
    await rejectsWith('ENOENT', ns.resolve({ path: '/home/a' }));
    await a.close();
    await b.close();
  });

  it('a mount inside another mount shadows the directory and guards it', async () => {
    const outer = await mem('outer', 1);
    const inner = await mem('inner', 2);
    const oRoot = (await outer.listExports())[0]!.root;
    const mnt = await outer.mkdir({ parent: oRoot, name: 'mnt', mode: 0o755 });
    await writeFile(outer, mnt.id, 'hidden.txt', 'under the mount');
    await writeFile(inner, (await inner.listExports())[0]!.root, 'inner.txt', 'inner');
    await using ns = new Namespace();
    await ns.open();
    await ns.mount({ path: '/o', source: outer, exportName: 'outer' });
    const oDir = await ns.resolve({ path: '/o' });
    await ns.mount({ path: '/o/mnt', source: inner, exportName: 'inner' });
    const names = (await listAll(ns, oDir.id)).map((e) => e.name);
    assert.deepEqual(names, ['mnt']);
    assert.deepEqual(
      (await listAll(ns, (await ns.resolve({ path: '/o/mnt' })).id)).map((e) => e.name),
      ['inner.txt'],
    );
    await rejectsWith('EBUSY', ns.rmdir({ parent: oDir.id, name: 'mnt' }));
    await rejectsWith('EBUSY', ns.rename({ parent: oDir.id, name: 'mnt', newParent: oDir.id, newName: 'x' }));
    await ns.unmount({ path: '/o/mnt' });
    assert.deepEqual(
      (await listAll(ns, (await ns.resolve({ path: '/o/mnt' })).id)).map((e) => e.name),
      ['hidden.txt'],
    );
    await outer.close();
    await inner.close();
  });

  it('refuses to unmount while files under the mount are open, and forwards invalidations', async () => {
    const a = await mem('a', 1);
    await using ns = new Namespace();
    await ns.open();
    await ns.mount({ path: '/a', source: a, exportName: 'a' });
    const f = await writeFile(ns, (await ns.resolve({ path: '/a' })).id, 'f', 'x');
    const events: unknown[] = [];
    const stop = ns.watch((ev) => events.push(ev));
    await writeFile(a, (await a.listExports())[0]!.root, 'g', 'y');
    stop();
    assert.ok(events.some((ev) => (ev as { kind: string; name?: string }).name === 'g'));
    const { handle } = await ns.openFile({ id: f.id, flags: { read: true, write: false } });
    await rejectsWith('EBUSY', ns.unmount({ path: '/a' }));
    await ns.closeFile({ handle });
    await ns.unmount({ path: '/a' });
    await rejectsWith('ESTALE', ns.getattr({ id: f.id }));
    await a.close();
  });
});

describe('namespace slots', () => {
  it('pins a mount to a given slot so its ids are stable, and refuses a taken slot', async () => {
    const a = await mem('a', 1);
    const b = await mem('b', 1);
    await using ns = new Namespace();
    await ns.open();
    await ns.mount({ path: '/a', source: a, exportName: 'a', slot: 40 });
    assert.equal((await ns.resolve({ path: '/a' })).id, (40n << 48n) | 1n);
    await rejectsWith('EBUSY', ns.mount({ path: '/b', source: b, exportName: 'b', slot: 40 }));
    await rejectsWith('EINVAL', ns.mount({ path: '/b', source: b, exportName: 'b', slot: 0 }));
    await a.close();
    await b.close();
  });
});
