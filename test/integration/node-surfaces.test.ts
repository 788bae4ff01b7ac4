// HTTP surfaces on the node's address: routing, authentication through the node's
// credentials, and per-grant views of the namespace (AuthorizedSource).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FsError } from '../../src/core/fs-error.ts';
import type { HttpSurface } from '../../src/core/http-surface.ts';
import type { SurfaceHost, TesseraNode } from '../../src/node/node.ts';
import { createNode } from '../../src/node/node.ts';
import { readRuntime } from '../../src/node/runtime.ts';
import { CHEAP_ARGON2, credential, makeHome, quietLogger, startNode } from './node-harness.ts';

/** A surface at /probe/ that authenticates Basic credentials and lists the namespace root. */
function probeSurface(host: SurfaceHost, closed: string[]): HttpSurface {
  return {
    name: 'probe',
    matches: (path) => path.startsWith('/probe/'),
    async handle(req, res) {
      if (req.url === '/probe/throw') throw new Error('surface bug');
      const auth = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
      const [id = '', secret = ''] = Buffer.from(auth?.[1] ?? '', 'base64')
        .toString()
        .split(':');
      try {
        const grant = await host.authenticate({ id, secret, address: '203.0.113.9', surface: 'probe' });
        const view = host.view(grant);
        if (req.url === '/probe/mkdir') {
          const beta = (await view.listExports()).find((e) => e.name === '/beta');
          await view.mkdir({ parent: beta!.root, name: 'made', mode: 0o755 });
        }
        const names = (await view.listExports()).map((e) => `${e.name}:${e.ro ? 'ro' : 'rw'}`);
        res.end(JSON.stringify({ principal: grant.principal, names }));
      } catch (err) {
        const e = FsError.from(err, 'probe');
        res.statusCode = e.code === 'EKEYREJECTED' ? 401 : 403;
        res.end(e.code);
      }
    },
    close() {
      closed.push('probe');
      return Promise.resolve();
    },
  };
}

describe('node HTTP surfaces', () => {
  let node: TesseraNode;
  let stop: () => Promise<void>;
  let base: string;
  let home: string;
  const closed: string[] = [];

  before(async () => {
    const started = await startNode({ insecure: true, surfaces: (host) => [probeSurface(host, closed)] });
    ({ node, stop, home } = started);
    base = `http://127.0.0.1:${node.address.port}`;
  });
  after(async () => {
    await stop();
    assert.deepEqual(closed, ['probe'], 'the surface is closed with the node');
  });

  const get = (path: string, cred?: { id: string; secret: string }) =>
    fetch(`${base}${path}`, {
      headers: cred
        ? { authorization: `Basic ${Buffer.from(`${cred.id}:${cred.secret}`).toString('base64')}` }
        : {},
    });

  it('routes matching paths to the surface, others to 404, and keeps /health', async () => {
    assert.equal((await get('/elsewhere')).status, 404);
    assert.equal((await get('/health')).status, 200);
    assert.equal((await get('/probe/x')).status, 401);
  });

  it('authenticates with node credentials and scopes the view to the grant', async () => {
    const all = await credential({ home, name: 'all' });
    const res = await get('/probe/list', all);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {
      principal: 'all',
      names: ['/:ro', '/alpha:rw', '/beta:rw', '/vfs:ro', '/.tessera:ro'],
    });

    const betaRo = await credential({ home, name: 'beta-ro', exports: ['beta'], caps: { write: false } });
    const scoped = await get('/probe/list', betaRo);
    assert.deepEqual(await scoped.json(), { principal: 'beta-ro', names: ['/:ro', '/beta:ro'] });
    const denied = await get('/probe/mkdir', betaRo);
    assert.equal(denied.status, 403);
    assert.equal(await denied.text(), 'EACCES');

    const failures = node.metrics.authFailures;
    const wrong = await get('/probe/list', { id: all.id, secret: `${all.secret}x` });
    assert.equal(wrong.status, 401);
    assert.equal(await wrong.text(), 'EKEYREJECTED');
    assert.equal(node.metrics.authFailures, failures + 1);

    const writer = await get('/probe/mkdir', all);
    assert.equal(writer.status, 200);
  });

  it('answers 500 when a surface throws, and the node keeps serving', async () => {
    const res = await get('/probe/throw');
    assert.equal(res.status, 500);
    assert.equal((await get('/health')).status, 200);
  });

  it('a node that cannot listen closes the surfaces it built and leaves nothing behind', async () => {
    const { home: other, cleanup } = await makeHome();
    const otherClosed: string[] = [];
    try {
      await assert.rejects(
        createNode({
          home: other,
          listen: `127.0.0.1:${node.address.port}`,
          insecure: true,
          logger: quietLogger(),
          argon2: CHEAP_ARGON2,
          surfaces: (host) => [probeSurface(host, otherClosed)],
        }),
        (e: unknown) => FsError.is(e, 'EADDRINUSE'),
      );
      assert.deepEqual(otherClosed, ['probe']);
      assert.equal(await readRuntime({ home: other }), undefined);
      assert.equal((await get('/health')).status, 200, 'the node on that address keeps serving');
    } finally {
      await cleanup();
    }
  });
});
