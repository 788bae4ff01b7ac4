// A real davfs2 mount of the node's WebDAV: a tree copied in through the kernel mount lands
// byte-identical in the namespace, and copied back out (through a fresh mount) matches the
// original. Needs root, mount.davfs and FUSE/coda in the kernel; skipped otherwise.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TesseraNode } from '../../src/node/node.ts';
import {
  assertSameTree,
  have,
  makeTree,
  readDiskTree,
  readNamespaceTree,
  run,
  startDavNode,
} from './webdav-harness.ts';

const DAVFS_CACHE = '/var/cache/davfs2';

const skip =
  process.getuid?.() !== 0
    ? 'davfs2 mounts need root'
    : !(await have('mount.davfs'))
      ? 'mount.davfs is not installed (scripts/install-system-deps.sh)'
      : false;

describe('WebDAV through a davfs2 mount', { skip }, () => {
  let node: TesseraNode;
  let stop: () => Promise<void>;
  let url: string;
  let dir: string;
  let mnt: string;
  let conf: string;

  before(async () => {
    let cred;
    ({ node, stop, url, cred, dir } = await startDavNode({ scratch: 'davfs2' }));
    mnt = join(dir, 'mnt');
    await mkdir(mnt);
    const secrets = join(dir, 'secrets');
    await writeFile(secrets, `${url}/alpha/ ${cred.id} ${cred.secret}\n`);
    await chmod(secrets, 0o600);
    conf = join(dir, 'davfs2.conf');
    // buf_size 64: without it every directory listing fails on this kernel (NOTES.md).
    await writeFile(conf, `secrets ${secrets}\nask_auth 0\nuse_locks 0\nbuf_size 64\ndelay_upload 0\n`);
  });

  after(async () => {
    await run('umount', [mnt]).catch(() => undefined);
    // davfs2 keeps a cache directory per mount, named after host, URL path and mount point
    // (`127.0.0.1-dav-alpha+tmp-…-mnt+root`).
    const tag = `+${mnt.slice(1).replaceAll('/', '-')}+`;
    for (const name of await readdir(DAVFS_CACHE).catch(() => [] as string[]))
      if (name.includes(tag)) await rm(join(DAVFS_CACHE, name), { recursive: true, force: true });
    await stop();
  });

  /** Mount, run `fn`, unmount (umount.davfs waits until every upload is done). */
  async function mounted(fn: () => Promise<unknown>): Promise<void> {
    await run('mount', ['-t', 'davfs', `${url}/alpha/`, mnt, '-o', `conf=${conf},uid=0,gid=0`], {
      timeout: 30_000,
    });
    try {
      await fn();
    } finally {
      await run('umount', [mnt], { timeout: 120_000 });
    }
  }

  it('copies a tree in and out through the mount, bytes unchanged', async () => {
    const src = join(dir, 'src');
    const out = join(dir, 'out');
    const original = await makeTree(src);

    await mounted(() => run('cp', ['-r', src, join(mnt, 'tree')]));
    assertSameTree(await readNamespaceTree(node.namespace, '/alpha/tree'), original, 'the namespace');

    // A file only the node has (written through the namespace): the copy out must fetch it.
    const extra = randomBytes(200_000);
    const ns = node.namespace;
    const made = await ns.create({
      parent: (await ns.resolve({ path: '/alpha/tree' })).id,
      name: 'extra.bin',
      mode: 0o644,
    });
    await ns.write({ handle: made.handle, offset: 0, data: extra });
    await ns.closeFile({ handle: made.handle });
    original.files.set('extra.bin', extra);

    await mounted(() => run('cp', ['-r', join(mnt, 'tree'), out]));
    assertSameTree(await readDiskTree(out), original, 'the copy out');
  });
});
