// rclone's webdav backend as a real client of the node's WebDAV: `rclone copy` in and out,
// `rclone check --download` (byte comparison) against the source, and modification times
// kept through the ownCloud dialect's X-OC-Mtime.
import assert from 'node:assert/strict';
import { mkdir, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { nsToMs } from '../../src/core/attr.ts';
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

const skip = (await have('rclone')) ? false : 'rclone is not installed (scripts/install-system-deps.sh)';

describe('WebDAV with rclone', { skip }, () => {
  let node: TesseraNode;
  let stop: () => Promise<void>;
  let url: string;
  let cred: { id: string; secret: string };
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let obscured: string;

  before(async () => {
    ({ node, stop, url, cred, dir } = await startDavNode({ scratch: 'rclone' }));
    // An empty config and a private cache: never the user's rclone setup.
    await mkdir(join(dir, 'cache'));
    await writeFile(join(dir, 'rclone.conf'), '');
    env = { ...process.env, RCLONE_CONFIG: join(dir, 'rclone.conf'), RCLONE_CACHE_DIR: join(dir, 'cache') };
    obscured = (await run('rclone', ['obscure', '--', cred.secret], { env })).stdout.trim();
  });
  after(() => stop());

  const remote = (path: string, vendor = 'other') =>
    `:webdav,url='${url}/',vendor=${vendor},user=${cred.id},pass=${obscured}:${path}`;
  const rclone = (...args: string[]) => run('rclone', [...args, '--retries', '1'], { env, timeout: 120_000 });

  it('copies a tree in and out; rclone check finds no difference', async () => {
    const src = join(dir, 'src');
    const out = join(dir, 'out');
    const original = await makeTree(src);

    await rclone('copy', '--create-empty-src-dirs', src, remote('alpha/tree'));
    assertSameTree(await readNamespaceTree(node.namespace, '/alpha/tree'), original, 'the namespace');
    const check = await rclone('check', '--download', src, remote('alpha/tree'));
    assert.match(check.stderr, /0 differences found/);

    await rclone('copy', '--create-empty-src-dirs', remote('alpha/tree'), out);
    assertSameTree(await readDiskTree(out), original, 'the copy out');
    const checkOut = await rclone('check', '--download', out, remote('alpha/tree'));
    assert.match(checkOut.stderr, /0 differences found/);

    // A changed file is a difference rclone sees.
    await writeFile(join(src, 'hello.txt'), 'changed\n');
    await assert.rejects(rclone('check', '--download', src, remote('alpha/tree')), /1 differences found/);
  });

  it('keeps modification times with the ownCloud dialect (X-OC-Mtime)', async () => {
    const src = join(dir, 'timed');
    await makeTree(src);
    // A time long past, so an upload stamped "now" cannot match it by chance.
    const leaf = join(src, 'deep/a/b/c/leaf.bin');
    await utimes(leaf, new Date('2001-02-03T04:05:06Z'), new Date('2001-02-03T04:05:06Z'));
    await rclone('copy', src, remote('beta/timed', 'owncloud'));
    const local = await stat(leaf);
    const served = await node.namespace.resolve({ path: '/beta/timed/deep/a/b/c/leaf.bin' });
    assert.equal(nsToMs(served.attr.mtimeNs), local.mtimeMs);
    assert.equal(local.mtimeMs, Date.parse('2001-02-03T04:05:06Z'));
    const check = await rclone('check', src, remote('beta/timed', 'owncloud'));
    assert.match(check.stderr, /0 differences found/);
  });
});
