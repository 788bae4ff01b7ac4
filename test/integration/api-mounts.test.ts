// REST API mounts: the owner mounts another node's export through the API, files flow through
// it, others may look but not change mounts, and the mount is removed again.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readOwnerCredential } from '../../src/node/credentials.ts';
import type { TesseraNode } from '../../src/node/node.ts';
import { ApiClient, errorOf, startApiNode } from './api-harness.ts';
import { credential, startNode } from './node-harness.ts';

describe('REST API mounts', () => {
  let other: TesseraNode;
  let otherHome: string;
  let stopOther: () => Promise<void>;
  let home: string;
  let base: string;
  let stop: () => Promise<void>;
  let owner: ApiClient;

  before(async () => {
    ({ node: other, home: otherHome, stop: stopOther } = await startNode({ insecure: true }));
    ({ home, base, stop } = await startApiNode({ exports: ['local'] }));
    owner = await ApiClient.login(base, await readOwnerCredential({ home }));
  });
  after(async () => {
    await stop();
    await stopOther();
  });

  it('mounts, serves, lists and removes a remote export (owner only)', async () => {
    const cred = await credential({ home: otherHome, name: 'from-api' });
    const body = {
      url: other.url.replace(/\/tessera$/, ''),
      export: '/alpha',
      alias: 'other',
      cache: false,
      credential: cred,
    };
    const { client: someone } = await ApiClient.forNew({ base, home, name: 'someone' });
    const refused = await someone.post('/api/v1/mounts', body);
    assert.equal(refused.status, 403);
    assert.match((await errorOf(refused)).message, /owner credential/);

    const res = await owner.post('/api/v1/mounts', body);
    assert.equal(res.status, 201, await res.clone().text());
    const { mount } = (await res.json()) as { mount: { path: string; state: string } };
    assert.equal(mount.path, '/other/alpha');
    assert.equal(mount.state, 'mounted');

    assert.equal((await owner.put('/other/alpha/hello.txt', 'across nodes')).status, 201);
    assert.equal(await (await someone.get('/other/alpha/hello.txt')).text(), 'across nodes');
    const onOther = await other.namespace.resolve({ path: '/alpha/hello.txt' });
    assert.equal(onOther.attr.size, 'across nodes'.length);

    const listed = await someone.json<{ mounts: { path: string; alias: string; state: string }[] }>(
      '/api/v1/mounts',
    );
    assert.deepEqual(
      listed.mounts.map((m) => [m.path, m.alias, m.state]),
      [['/other/alpha', 'other', 'mounted']],
    );
    assert.ok(!JSON.stringify(listed).includes(cred.secret), 'no secret in the listing');

    assert.equal((await someone.fetch('/api/v1/mounts?path=/other/alpha', { method: 'DELETE' })).status, 403);
    assert.equal((await owner.fetch('/api/v1/mounts?path=/other/alpha', { method: 'DELETE' })).status, 204);
    assert.equal((await owner.fetch('/api/v1/files/stat?path=/other/alpha/hello.txt')).status, 404);
    const again = await owner.fetch('/api/v1/mounts?path=/other/alpha', { method: 'DELETE' });
    assert.equal(again.status, 404);
  });

  it('validates a mount request', async () => {
    const res = await owner.post('/api/v1/mounts', { url: 'http://x', export: 'alpha', alias: 'a b' });
    assert.equal(res.status, 400);
    const { message } = await errorOf(res);
    assert.match(message, /body field 'url': must be wss:\/\/host:port/);
    assert.match(message, /body field 'export'/);
    assert.match(message, /body field 'alias'/);
    assert.match(message, /body field 'credential'/);
  });
});
