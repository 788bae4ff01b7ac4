import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/core/config.ts';
import { FsError } from '../../src/core/fs-error.ts';
import { homePaths, initHome } from '../../src/core/home.ts';
import { addMountEntry, removeMountEntry } from '../../src/node/mount-admin.ts';
import { mountCredential } from '../../src/node/mount-credentials.ts';

const first = { id: 'tk_aaaaaaaaaaaaaaaaaaaa', secret: 'first-secret-first-secret-first-secret' };
const second = { id: 'tk_bbbbbbbbbbbbbbbbbbbb', secret: 'second-secret-second-secret-second-s' };

describe('mount admin (tessera mount / the mounts API)', () => {
  let home: string;
  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'tessera-mount-admin-'));
    await initHome({ root: home, name: 'admin' });
  });
  after(async () => {
    await rm(home, { recursive: true, force: true });
  });

  const add = (opts: { exportName: string; path?: string; credential: typeof first }) =>
    addMountEntry({
      home,
      url: 'wss://peer.example:7443/tessera',
      alias: 'peer',
      ro: false,
      rename: 'exdev',
      cache: false,
      ...opts,
    });

  it('records a mount and its credential, and refuses another export at the same path untouched', async () => {
    assert.deepEqual(await add({ exportName: '/files', credential: first }), {
      added: 'mount',
      path: '/peer/files',
    });
    const handle = 'peer@peer.example:7443';
    assert.deepEqual(await mountCredential({ home, handle }), first);
    await assert.rejects(
      add({ exportName: '/other', path: '/peer/files', credential: second }),
      (e: unknown) => FsError.is(e, 'EEXIST'),
    );
    assert.deepEqual(
      await mountCredential({ home, handle }),
      first,
      'a refused request leaves the credential of the mount there as it was',
    );
    const { config } = await loadConfig({ file: homePaths(home).configFile });
    assert.deepEqual(
      config.mount.map((m) => [m.alias, m.export]),
      [['peer', '/files']],
    );
    assert.equal((await add({ exportName: '/files', credential: second })).added, 'again');
    assert.deepEqual(await mountCredential({ home, handle }), second, 'mounting again sets a new credential');
    await removeMountEntry({ home, path: '/peer/files' });
    await assert.rejects(mountCredential({ home, handle }), (e: unknown) => FsError.is(e, 'ENOENT'));
  });
});
