// The life of a `tessera mount-fs` process: clean unmount on SIGTERM and on an external umount,
// inode numbers that survive a remount, a live mount refused, and a stale mount left by a
// SIGKILL recovered by the next mount at the same place.
import assert from 'node:assert/strict';
import { statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  forceUnmount,
  fuseSkipReason,
  type FuseWorld,
  isMounted,
  mountFs,
  sh,
  shOk,
  startWorld,
  stopMount,
} from './fuse-harness.ts';

const skip = fuseSkipReason();

describe('FUSE mount: lifecycle', { skip }, () => {
  let world: FuseWorld;
  let mp: string;

  before(async () => {
    world = await startWorld();
    mp = join(world.root, 'mnt');
    await writeFile(join(world.docs, 'keep.txt'), 'kept\n');
  });

  after(async () => {
    await forceUnmount(mp);
    await world?.close();
  });

  it('SIGTERM unmounts cleanly; inode numbers are the same after a remount', async () => {
    const first = await mountFs({ home: world.home, mountpoint: mp });
    const inodes = async () => (await shOk(`stat -c %i ${mp}/docs ${mp}/docs/keep.txt`)).trim();
    const before = await inodes();
    assert.match(before, /^\d+\n\d+$/);
    assert.equal(await stopMount(first), 0, first.stderr());
    assert.match(first.stderr(), /SIGTERM: unmounting/);
    assert.equal(await isMounted(mp), false);

    const second = await mountFs({ home: world.home, mountpoint: mp });
    assert.equal(await inodes(), before);
    // A second mount at the same place is refused while the first one lives.
    const busy = await mountFs({ home: world.home, mountpoint: mp, noWait: true });
    assert.equal(await busy.exit, 16, busy.stderr());
    assert.match(busy.stderr(), /EBUSY: .*already mounted/);
    // Someone else unmounting ends the process cleanly too.
    await shOk(`umount ${mp}`);
    assert.equal(await second.exit, 0, second.stderr());
    assert.match(second.stderr(), /unmounted: unmounting/);
  });

  it('a mount left stale by SIGKILL is recovered by the next mount-fs', async () => {
    const killed = await mountFs({ home: world.home, mountpoint: mp });
    killed.child.kill('SIGKILL');
    await killed.exit;
    // statfs always asks the server (stat may be answered from the kernel's attribute cache).
    await assert.rejects(statfs(mp), { code: 'ENOTCONN' });
    assert.equal(await isMounted(mp), true);

    const next = await mountFs({ home: world.home, mountpoint: mp });
    assert.equal((await sh(`cat ${mp}/docs/keep.txt`)).out, 'kept\n');
    assert.equal(await stopMount(next), 0, next.stderr());
    assert.equal(await isMounted(mp), false);
  });
});
