// WebDAV at /dav/ on a real node, method by method, over HTTP: authentication, listings,
// ranges, atomic PUT, errors through the errno table, COPY/MOVE/DELETE, dead properties
// (xattrs, or 403 where the export has none) and locks with their tokens.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { addExport } from '../../src/core/home.ts';
import { defaultSurfaces } from '../../src/frontends/default-surfaces.ts';
import { createNode, type TesseraNode } from '../../src/node/node.ts';
import { ApiClient } from './api-harness.ts';
import { CHEAP_ARGON2, credential, makeHome, quietLogger } from './node-harness.ts';

type Cred = { id: string; secret: string };

describe('WebDAV surface', () => {
  let node: TesseraNode;
  let cleanup: () => Promise<void>;
  let plainDir: string;
  let base: string;
  let owner: Cred;
  let other: Cred;
  let reader: Cred;

  before(async () => {
    const made = await makeHome();
    plainDir = await mkdtemp(join(tmpdir(), 'tessera-dav-posix-'));
    // An export without xattrs (posix), for the 403 of dead properties.
    await addExport({
      root: made.home,
      entry: { name: 'plain', kind: 'posix', path: plainDir, ro: false, desc: '', options: {} },
    });
    node = await createNode({
      home: made.home,
      listen: '127.0.0.1:0',
      insecure: true,
      logger: quietLogger(),
      argon2: CHEAP_ARGON2,
      surfaces: defaultSurfaces,
    });
    cleanup = async () => {
      await node.close();
      await made.cleanup();
      await rm(plainDir, { recursive: true, force: true });
    };
    base = `http://127.0.0.1:${node.address.port}/dav`;
    owner = await credential({ home: made.home, name: 'dav-owner' });
    other = await credential({ home: made.home, name: 'dav-other' });
    reader = await credential({
      home: made.home,
      name: 'dav-reader',
      exports: ['alpha'],
      caps: { write: false },
    });
  });
  after(() => cleanup());

  const auth = (c: Cred) => `Basic ${Buffer.from(`${c.id}:${c.secret}`).toString('base64')}`;
  const dav = (
    method: string,
    path: string,
    opts: { cred?: Cred | null; headers?: Record<string, string>; body?: string | Buffer } = {},
  ) => {
    const cred = opts.cred === undefined ? owner : opts.cred;
    return fetch(`${base}${path}`, {
      method,
      headers: { ...(cred ? { authorization: auth(cred) } : {}), ...opts.headers },
      body: opts.body,
    });
  };
  const propfind = async (path: string, depth: string, body?: string, cred?: Cred) => {
    const res = await dav('PROPFIND', path, { headers: { depth }, body, cred });
    return { status: res.status, text: await res.text() };
  };

  it('asks for credentials and refuses wrong ones with 401', async () => {
    const none = await dav('PROPFIND', '/', { cred: null, headers: { depth: '0' } });
    assert.equal(none.status, 401);
    assert.match(none.headers.get('www-authenticate') ?? '', /^Basic realm=/);
    const wrong = await dav('PROPFIND', '/', {
      cred: { id: owner.id, secret: 'nope' },
      headers: { depth: '0' },
    });
    assert.equal(wrong.status, 401);
    const options = await dav('OPTIONS', '/');
    assert.equal(options.status, 200);
    assert.equal(options.headers.get('dav'), '1, 2');
  });

  it('lists collections with Depth 1 and only the exports a credential may see', async () => {
    await dav('MKCOL', '/alpha/list');
    assert.equal((await dav('PUT', '/alpha/list/a%20b.txt', { body: 'hello' })).status, 201);
    const listing = await propfind('/alpha/list/', '1');
    assert.equal(listing.status, 207);
    assert.match(listing.text, /<D:href>\/dav\/alpha\/list\/<\/D:href>/);
    assert.match(listing.text, /<D:href>\/dav\/alpha\/list\/a%20b\.txt<\/D:href>/);
    assert.match(listing.text, /<D:getcontentlength>5<\/D:getcontentlength>/);
    const root = await propfind('/', '1', undefined, reader);
    assert.match(root.text, /\/dav\/alpha\//);
    assert.doesNotMatch(root.text, /\/dav\/beta\//);
    assert.equal((await propfind('/beta/', '0', undefined, reader)).status, 404);
    const named = await propfind(
      '/alpha/list/a%20b.txt',
      '0',
      '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><x:nothing xmlns:x="urn:x"/></D:prop></D:propfind>',
    );
    assert.match(named.text, /<D:getetag>&quot;[0-9a-f-]+&quot;<\/D:getetag>/);
    assert.match(named.text, /<nothing xmlns="urn:x"\/><\/D:prop><D:status>HTTP\/1.1 404/);
    assert.equal((await propfind('/alpha/', 'infinity')).status, 403);
  });

  it('serves byte ranges and conditional GETs', async () => {
    const body = Buffer.from('0123456789abcdef');
    await dav('PUT', '/alpha/range.bin', { body });
    const part = await dav('GET', '/alpha/range.bin', { headers: { range: 'bytes=4-7' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), 'bytes 4-7/16');
    assert.equal(await part.text(), '4567');
    const tail = await dav('GET', '/alpha/range.bin', { headers: { range: 'bytes=-3' } });
    assert.equal(await tail.text(), 'def');
    const beyond = await dav('GET', '/alpha/range.bin', { headers: { range: 'bytes=99-' } });
    assert.equal(beyond.status, 416);
    await dav('PUT', '/alpha/empty.bin', { body: '' });
    const emptyTail = await dav('GET', '/alpha/empty.bin', { headers: { range: 'bytes=-3' } });
    assert.equal(emptyTail.status, 416);
    assert.equal(emptyTail.headers.get('content-range'), 'bytes */0');
    const whole = await dav('GET', '/alpha/range.bin');
    assert.deepEqual(Buffer.from(await whole.arrayBuffer()), body);
    const etag = whole.headers.get('etag') ?? '';
    assert.equal((await dav('GET', '/alpha/range.bin', { headers: { 'if-none-match': etag } })).status, 304);
    // One file version, one entity tag, whichever HTTP surface serves it.
    const api = await ApiClient.login(base.slice(0, -'/dav'.length), owner);
    const viaApi = await api.fetch('/api/v1/files/content?path=/alpha/range.bin', { method: 'HEAD' });
    assert.equal(viaApi.headers.get('etag'), etag);
    assert.equal((await dav('HEAD', '/alpha/range.bin')).headers.get('content-length'), '16');
  });

  it('makes an uploaded file visible only when complete; a cut-off upload leaves nothing', async () => {
    const size = 2 * 65536;
    const put = (path: string) => {
      const req = request(new URL(`${base}${path}`), {
        method: 'PUT',
        headers: { authorization: auth(owner), 'content-length': size },
      });
      const status = new Promise<number>((resolve, reject) => {
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
      });
      status.catch(() => undefined);
      return {
        send: (b: Buffer) => req.write(b),
        end: () => {
          req.end();
          return status;
        },
        cut: () => req.destroy(),
      };
    };
    const settle = () => new Promise((resolve) => setTimeout(resolve, 150));
    const bytesOf = async (path: string) => {
      const res = await dav('GET', path);
      return res.status === 200 ? Buffer.from(await res.arrayBuffer()) : res.status;
    };
    const half = Buffer.alloc(65536, 7);

    const upload = put('/alpha/atomic.bin');
    upload.send(half);
    await settle();
    assert.equal(await bytesOf('/alpha/atomic.bin'), 404, 'a half-uploaded new file is invisible');
    upload.send(half);
    assert.equal(await upload.end(), 201);
    assert.deepEqual(await bytesOf('/alpha/atomic.bin'), Buffer.concat([half, half]));

    const replace = put('/alpha/atomic.bin');
    replace.send(Buffer.alloc(65536, 9));
    await settle();
    assert.deepEqual(
      await bytesOf('/alpha/atomic.bin'),
      Buffer.concat([half, half]),
      'old content meanwhile',
    );
    replace.cut();
    await settle();
    assert.deepEqual(await bytesOf('/alpha/atomic.bin'), Buffer.concat([half, half]), 'old content kept');

    const cut = put('/alpha/cut.bin');
    cut.send(half);
    await settle();
    cut.cut();
    await settle();
    assert.equal(await bytesOf('/alpha/cut.bin'), 404, 'a cut-off upload never appears');
  });

  it('maps errors through the errno table and WebDAV rules', async () => {
    assert.equal((await dav('GET', '/alpha/missing')).status, 404);
    assert.equal((await dav('PUT', '/alpha/no/parent.txt', { body: 'x' })).status, 409);
    assert.equal((await dav('MKCOL', '/alpha/no/parent')).status, 409);
    await dav('MKCOL', '/alpha/twice');
    assert.equal((await dav('MKCOL', '/alpha/twice')).status, 405);
    assert.equal((await dav('PUT', '/alpha/ro.txt', { body: 'x', cred: reader })).status, 403);
    assert.equal((await dav('PUT', '/alpha/bad%00name', { body: 'x' })).status, 400);
    assert.equal((await dav('PUT', '/not-an-export.txt', { body: 'x' })).status, 403);
    assert.equal((await dav('PATCH', '/alpha/')).status, 405);
  });

  it('copies, moves and deletes files and collections', async () => {
    await dav('MKCOL', '/alpha/tree');
    await dav('MKCOL', '/alpha/tree/sub');
    await dav('PUT', '/alpha/tree/sub/f.txt', { body: 'deep' });
    const copy = await dav('COPY', '/alpha/tree/', { headers: { destination: `${base}/alpha/tree2/` } });
    assert.equal(copy.status, 201);
    assert.equal(await (await dav('GET', '/alpha/tree2/sub/f.txt')).text(), 'deep');
    const noOverwrite = await dav('COPY', '/alpha/tree/', {
      headers: { destination: `${base}/alpha/tree2/`, overwrite: 'F' },
    });
    assert.equal(noOverwrite.status, 412);
    const move = await dav('MOVE', '/alpha/tree2/', { headers: { destination: '/dav/alpha/tree3/' } });
    assert.equal(move.status, 201);
    assert.equal((await dav('GET', '/alpha/tree2/sub/f.txt')).status, 404);
    // Across exports: copy then delete.
    const across = await dav('MOVE', '/alpha/tree3/', { headers: { destination: `${base}/beta/tree3/` } });
    assert.equal(across.status, 201);
    assert.equal(await (await dav('GET', '/beta/tree3/sub/f.txt')).text(), 'deep');
    assert.equal((await dav('PROPFIND', '/alpha/tree3/', { headers: { depth: '0' } })).status, 404);
    // A file moved over another replaces it.
    await dav('PUT', '/beta/a.txt', { body: 'A' });
    await dav('PUT', '/beta/b.txt', { body: 'B' });
    assert.equal(
      (await dav('MOVE', '/beta/a.txt', { headers: { destination: `${base}/beta/b.txt` } })).status,
      204,
    );
    assert.equal(await (await dav('GET', '/beta/b.txt')).text(), 'A');
    assert.equal((await dav('DELETE', '/beta/tree3/')).status, 204);
    assert.equal((await dav('GET', '/beta/tree3/sub/f.txt')).status, 404);
    assert.equal(
      (await dav('COPY', '/alpha/tree/', { headers: { destination: `${base}/alpha/tree/sub/x/` } })).status,
      403,
    );
  });

  it('stores dead properties in xattrs, all or nothing, and refuses them without xattrs', async () => {
    await dav('PUT', '/alpha/props.txt', { body: 'p' });
    const set = await dav('PROPPATCH', '/alpha/props.txt', {
      body:
        '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop>' +
        '<Z:colour>blue &amp; <Z:b>bold</Z:b></Z:colour></D:prop></D:set></D:propertyupdate>',
    });
    assert.equal(set.status, 207);
    assert.match(await set.text(), /HTTP\/1.1 200 OK/);
    const got = await propfind(
      '/alpha/props.txt',
      '0',
      '<D:propfind xmlns:D="DAV:"><D:prop><colour xmlns="urn:z"/></D:prop></D:propfind>',
    );
    assert.match(got.text, /<colour xmlns="urn:z">blue &amp; <b xmlns="urn:z">bold<\/b><\/colour>/);
    const xattr = await node.namespace.getxattr({
      id: (await node.namespace.resolve({ path: '/alpha/props.txt' })).id,
      name: 'user.dav.{urn:z}colour',
    });
    assert.match(Buffer.from(xattr).toString(), /^blue &amp; <b/);
    // A protected property fails the whole request: the other one is not applied.
    const mixed = await dav('PROPPATCH', '/alpha/props.txt', {
      body:
        '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:getetag>x</D:getetag>' +
        '<size xmlns="urn:z">9</size></D:prop></D:set></D:propertyupdate>',
    });
    const text = await mixed.text();
    assert.match(text, /<D:getetag\/><\/D:prop><D:status>HTTP\/1.1 403/);
    assert.match(text, /<size xmlns="urn:z"\/><\/D:prop><D:status>HTTP\/1.1 424/);
    assert.match((await propfind('/alpha/props.txt', '0')).text, /colour/);
    assert.doesNotMatch((await propfind('/alpha/props.txt', '0')).text, /size xmlns/);

    await dav('PUT', '/plain/p.txt', { body: 'p' });
    const plain = await dav('PROPPATCH', '/plain/p.txt', {
      body: '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><c xmlns="urn:z">1</c></D:prop></D:set></D:propertyupdate>',
    });
    assert.match(await plain.text(), /HTTP\/1.1 403/);
  });

  it('honours lock tokens on PUT, DELETE and MOVE; refreshes and unlocks (expiry: unit test)', async () => {
    await dav('PUT', '/alpha/locked.txt', { body: 'v1' });
    const lockBody =
      '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>' +
      '<D:locktype><D:write/></D:locktype><D:owner>tester</D:owner></D:lockinfo>';
    const lock = await dav('LOCK', '/alpha/locked.txt', {
      headers: { timeout: 'Second-600' },
      body: lockBody,
    });
    assert.equal(lock.status, 200);
    const token = (lock.headers.get('lock-token') ?? '').replace(/[<>]/g, '');
    assert.match(token, /^urn:uuid:/);
    assert.match(await lock.text(), /<D:owner>tester<\/D:owner>/);
    assert.equal((await dav('PUT', '/alpha/locked.txt', { body: 'v2' })).status, 423);
    assert.equal((await dav('DELETE', '/alpha/locked.txt')).status, 423);
    const moveAway = await dav('MOVE', '/alpha/locked.txt', {
      headers: { destination: `${base}/alpha/m.txt` },
    });
    assert.equal(moveAway.status, 423);
    assert.equal((await dav('LOCK', '/alpha/locked.txt', { cred: other, body: lockBody })).status, 423);
    const withToken = { if: `(<${token}>)` };
    // The token is the lock owner's: another credential presenting it is still refused.
    assert.equal(
      (await dav('PUT', '/alpha/locked.txt', { cred: other, headers: withToken, body: 'x' })).status,
      423,
    );
    assert.equal((await dav('PUT', '/alpha/locked.txt', { headers: withToken, body: 'v2' })).status, 204);
    assert.equal(
      (await dav('PUT', '/alpha/locked.txt', { headers: { if: '(<urn:uuid:wrong>)' }, body: 'x' })).status,
      412,
    );
    // A LOCK without a body refreshes the lock the If header names.
    const refresh = await dav('LOCK', '/alpha/locked.txt', {
      headers: { ...withToken, timeout: 'Second-100' },
    });
    assert.equal(refresh.status, 200);
    assert.match(await refresh.text(), /<D:timeout>Second-100<\/D:timeout>/);
    const unlock = (cred: Cred, lockToken: string) =>
      dav('UNLOCK', '/alpha/locked.txt', { cred, headers: { 'lock-token': `<${lockToken}>` } });
    assert.equal((await unlock(other, token)).status, 403);
    assert.equal((await unlock(owner, 'urn:uuid:nope')).status, 409);
    assert.equal((await unlock(owner, token)).status, 204);
    assert.equal((await dav('PUT', '/alpha/locked.txt', { cred: other, body: 'v3' })).status, 204);
    assert.equal((await dav('DELETE', '/alpha/locked.txt', { cred: other })).status, 204);

    // A depth-infinity lock on a collection guards new members; locking an unmapped URL creates it.
    await dav('MKCOL', '/alpha/guarded');
    const coll = await dav('LOCK', '/alpha/guarded/', { body: lockBody });
    const collToken = (coll.headers.get('lock-token') ?? '').replace(/[<>]/g, '');
    assert.equal((await dav('PUT', '/alpha/guarded/new.txt', { body: 'n' })).status, 423);
    assert.equal(
      (await dav('PUT', '/alpha/guarded/new.txt', { headers: { if: `(<${collToken}>)` }, body: 'n' })).status,
      201,
    );
    const lockNull = await dav('LOCK', '/alpha/fresh.txt', { body: lockBody });
    assert.equal(lockNull.status, 201);
    assert.equal((await dav('GET', '/alpha/fresh.txt')).headers.get('content-length'), '0');
  });
});
