// REST API files: stat, paged listing, content with ranges, ETag, conditional requests and a
// digest, streamed uploads that appear only when complete, mkdir/move/delete, and the
// credential's rights applied to all of it.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { resolvePath } from '../../src/frontends/http/paths.ts';
import type { TesseraNode } from '../../src/node/node.ts';
import { ApiClient, errorOf, startApiWithOwner } from './api-harness.ts';

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('base64');

describe('REST API files', () => {
  let node: TesseraNode;
  let home: string;
  let base: string;
  let stop: () => Promise<void>;
  let api: ApiClient;

  before(async () => {
    ({ node, home, base, stop, api } = await startApiWithOwner());
  });
  after(() => stop());

  it('uploads, stats and downloads a file, whole and by ranges', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const put = await api.put('/alpha/big.bin', data);
    assert.equal(put.status, 201);
    const info = (await put.json()) as Record<string, unknown>;
    assert.equal(info.size, data.byteLength);
    assert.equal(put.headers.get('repr-digest'), `sha-256=:${sha256(data)}:`);

    const stat = await api.json(`/api/v1/files/stat?path=/alpha/big.bin`);
    assert.equal(stat.kind, 'file');
    assert.equal(stat.etag, info.etag);

    const whole = await api.get('/alpha/big.bin');
    assert.equal(whole.status, 200);
    assert.equal(whole.headers.get('etag'), info.etag);
    assert.ok(whole.headers.get('last-modified'));
    assert.equal(whole.headers.get('repr-digest'), `sha-256=:${sha256(data)}:`);
    assert.ok(Buffer.from(await whole.arrayBuffer()).equals(data));

    const mid = await api.get('/alpha/big.bin', { range: 'bytes=1048570-2097160' });
    assert.equal(mid.status, 206);
    assert.equal(mid.headers.get('content-range'), `bytes 1048570-2097160/${data.byteLength}`);
    assert.ok(Buffer.from(await mid.arrayBuffer()).equals(data.subarray(1048570, 2097161)));
    const tail = await api.get('/alpha/big.bin', { range: 'bytes=-10' });
    assert.ok(Buffer.from(await tail.arrayBuffer()).equals(data.subarray(-10)));
    const beyond = await api.get('/alpha/big.bin', { range: `bytes=${data.byteLength}-` });
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers.get('content-range'), `bytes */${data.byteLength}`);

    const cached = await api.get('/alpha/big.bin', { 'if-none-match': info.etag as string });
    assert.equal(cached.status, 304);
    const head = await api.fetch('/api/v1/files/content?path=/alpha/big.bin', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(data.byteLength));
  });

  it('computes a digest on request, and verifies one sent with an upload', async () => {
    const data = Buffer.from('digest me');
    assert.equal((await api.put('/alpha/d.txt', data)).status, 201);
    // A new version (the digest of the old one does not carry over).
    const v2 = Buffer.from('digest me, again');
    assert.equal((await api.put('/alpha/d.txt', v2)).status, 200);
    const asked = await api.get('/alpha/d.txt', { 'want-repr-digest': 'sha-256=1' });
    assert.equal(asked.headers.get('repr-digest'), `sha-256=:${sha256(v2)}:`);
    assert.equal(await asked.text(), v2.toString());

    const wrong = await api.put('/alpha/d.txt', 'tampered', { 'content-digest': `sha-256=:${sha256(v2)}:` });
    assert.equal(wrong.status, 400);
    assert.match((await errorOf(wrong)).message, /digest mismatch/);
    assert.equal(await (await api.get('/alpha/d.txt')).text(), v2.toString(), 'old content kept');
    const right = await api.put('/alpha/d.txt', 'verified', {
      'content-digest': `sha-256=:${sha256(Buffer.from('verified'))}:`,
    });
    assert.equal(right.status, 200);
  });

  it('does not take a HEAD of a non-empty file for a digest of no bytes', async () => {
    const data = Buffer.from('headed, not read');
    assert.equal((await api.put('/alpha/h.txt', data)).status, 201);
    // A new version (new ETag) whose digest nobody has computed yet.
    const ns = node.namespace;
    const file = await resolvePath({ source: ns, path: '/alpha/h.txt', op: 'test' });
    await ns.setattr({ id: file.id, mtimeNs: file.attr.mtimeNs + 1_000_000_000n });
    const head = await api.fetch('/api/v1/files/content?path=/alpha/h.txt', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('repr-digest'), null);
    const asked = await api.get('/alpha/h.txt', { 'want-repr-digest': 'sha-256=1' });
    assert.equal(asked.headers.get('repr-digest'), `sha-256=:${sha256(data)}:`);
    assert.equal(await asked.text(), data.toString());
  });

  it('makes an upload visible only when it is complete; an interrupted one leaves nothing', async () => {
    const { port } = new URL(base);
    const first = Buffer.alloc(256 * 1024, 1);
    const req = request({
      host: '127.0.0.1',
      port,
      method: 'PUT',
      path: '/api/v1/files/content?path=/alpha/slow.bin',
      headers: { authorization: `Bearer ${api.token}`, 'content-length': String(first.byteLength * 2) },
    });
    req.on('error', () => undefined);
    const answered = new Promise<number>((resolve) => {
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('close', () => resolve(-1));
    });
    req.write(first);
    // Look a few times while the node holds the first half in the file being written.
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 20));
      const list = await api.json<{ entries: { name: string }[] }>('/api/v1/files/list?path=/alpha');
      assert.ok(!list.entries.some((e) => e.name === 'slow.bin'), 'invisible while uploading');
    }
    req.destroy();
    assert.equal(await answered, -1);
    // The abandoned upload is discarded; a stat never sees a partial file.
    for (let i = 0; i < 50; i++) {
      const res = await api.fetch('/api/v1/files/stat?path=/alpha/slow.bin');
      assert.equal(res.status, 404);
      await res.arrayBuffer();
    }

    const short = await api.put('/alpha/short.bin', 'abc', { 'content-length': '3' });
    assert.equal(short.status, 201);
  });

  it('keeps If-None-Match: * to its word when another upload makes the file meanwhile', async () => {
    const { port } = new URL(base);
    // The memory export allocates a created file's node at once, while the file stays
    // invisible until its close: its free-node count shows when the upload has made it.
    const ns = node.namespace;
    const alpha = await resolvePath({ source: ns, path: '/alpha', op: 'test' });
    const freeNodes = async () => (await ns.statfs({ id: alpha.id })).ffree;
    const freeBefore = await freeNodes();
    const half = Buffer.from('mine ');
    const req = request({
      host: '127.0.0.1',
      port,
      method: 'PUT',
      path: '/api/v1/files/content?path=/alpha/race.txt',
      headers: {
        authorization: `Bearer ${api.token}`,
        'content-length': String(half.byteLength * 2),
        'if-none-match': '*',
      },
    });
    const answered = new Promise<number>((resolve, reject) => {
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
    });
    req.write(half);
    // The create-only upload is under way (it found no file); another writer makes one now.
    for (let i = 0; i < 2000 && (await freeNodes()) >= freeBefore; i++)
      await new Promise((r) => setTimeout(r, 5));
    assert.ok((await freeNodes()) < freeBefore, 'the upload created its file');
    assert.equal((await api.put('/alpha/race.txt', 'theirs')).status, 201);
    req.end(half);
    assert.equal(await answered, 409, 'EEXIST: the other writer made the file first');
    assert.equal(await (await api.get('/alpha/race.txt')).text(), 'theirs');
  });

  it('replaces the content of an existing file but keeps its mode', async () => {
    assert.equal((await api.put('/alpha/private.txt', 'secret one')).status, 201);
    const ns = node.namespace;
    const file = await resolvePath({ source: ns, path: '/alpha/private.txt', op: 'test' });
    await ns.setattr({ id: file.id, mode: 0o600 });
    const put = await api.put('/alpha/private.txt', 'secret two');
    assert.equal(put.status, 200);
    assert.equal(((await put.json()) as { mode: string }).mode, '0600');
    assert.equal(await (await api.get('/alpha/private.txt')).text(), 'secret two');
  });

  it('honours If-Match, If-None-Match: * and overwrite=false', async () => {
    const put = await api.put('/alpha/c.txt', 'one');
    const etag = ((await put.json()) as { etag: string }).etag;
    assert.equal((await api.put('/alpha/c.txt', 'x', { 'if-none-match': '*' })).status, 412);
    const stale = await api.put('/alpha/c.txt', 'x', { 'if-match': '"nope"' });
    assert.equal(stale.status, 412);
    assert.match((await errorOf(stale)).message, /If-Match/);
    const staleRead = await api.get('/alpha/c.txt', { 'if-match': '"nope"' });
    assert.equal(staleRead.status, 412, 'a GET honours If-Match too');
    assert.equal((await errorOf(staleRead)).code, 'EINVAL');
    assert.equal((await api.put('/alpha/c.txt', 'two', { 'if-match': etag })).status, 200);
    const noOverwrite = await api.fetch('/api/v1/files/content?path=/alpha/c.txt&overwrite=false', {
      method: 'PUT',
      body: 'three',
    });
    assert.equal(noOverwrite.status, 409);
    assert.equal((await errorOf(noOverwrite)).code, 'EEXIST');
    assert.equal(await (await api.get('/alpha/c.txt')).text(), 'two');
  });

  it('lists a directory a page at a time', async () => {
    assert.equal((await api.post('/api/v1/files/mkdir', { path: '/beta/many' })).status, 201);
    const names = Array.from({ length: 25 }, (_, i) => `f${String(i).padStart(2, '0')}`);
    for (const n of names) assert.equal((await api.put(`/beta/many/${n}`, n)).status, 201);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
      const page: { entries: { name: string; size: number }[]; cursor: string | null } = await api.json(
        `/api/v1/files/list?path=/beta/many&limit=10${q}`,
      );
      seen.push(...page.entries.map((e) => e.name));
      cursor = page.cursor;
      pages++;
    } while (cursor !== null);
    assert.deepEqual(seen, names);
    assert.equal(pages, 3);
    const bad = await api.fetch('/api/v1/files/list?path=/beta/many&limit=5000');
    assert.equal(bad.status, 400);
    assert.match((await errorOf(bad)).message, /query parameter 'limit': Too big/);
  });

  it('makes directories, moves and deletes', async () => {
    const deep = await api.post('/api/v1/files/mkdir', { path: '/alpha/x/y/z', parents: true });
    assert.equal(deep.status, 201);
    const again = await api.post('/api/v1/files/mkdir', { path: '/alpha/x/y/z', parents: true });
    assert.equal(again.status, 200);
    const exists = await api.post('/api/v1/files/mkdir', { path: '/alpha/x' });
    assert.equal(exists.status, 409);
    await api.put('/alpha/x/y/z/f.txt', 'f');

    const moved = await api.post('/api/v1/files/move', { from: '/alpha/x/y', to: '/alpha/moved' });
    assert.equal(moved.status, 200);
    assert.equal(((await moved.json()) as { path: string }).path, '/alpha/moved');
    assert.equal(await (await api.get('/alpha/moved/z/f.txt')).text(), 'f');
    const across = await api.post('/api/v1/files/move', { from: '/alpha/moved', to: '/beta/moved' });
    assert.equal(across.status, 409);
    assert.equal((await errorOf(across)).code, 'EXDEV');

    const notEmpty = await api.fetch('/api/v1/files?path=/alpha/moved', { method: 'DELETE' });
    assert.equal(notEmpty.status, 409);
    assert.equal((await errorOf(notEmpty)).code, 'ENOTEMPTY');
    const gone = await api.fetch('/api/v1/files?path=/alpha/moved&recursive=true', { method: 'DELETE' });
    assert.equal(gone.status, 204);
    assert.equal((await api.fetch('/api/v1/files/stat?path=/alpha/moved')).status, 404);
    const dotdot = await api.fetch('/api/v1/files/stat?path=/alpha/../beta');
    assert.equal(dotdot.status, 400);
  });

  it("applies the credential's exports and capabilities", async () => {
    await api.put('/beta/secret.txt', 'beta only');
    const { client: ro } = await ApiClient.forNew({
      base,
      home,
      name: 'alpha-reader',
      exports: ['alpha'],
      caps: { write: false },
    });
    const exports = await ro.json<{ exports: { path: string; ro: boolean }[] }>('/api/v1/exports');
    assert.deepEqual(
      exports.exports.map((e) => [e.path, e.ro]),
      [['/alpha', true]],
    );
    assert.equal((await ro.fetch('/api/v1/files/stat?path=/beta/secret.txt')).status, 404);
    const denied = await ro.put('/alpha/new.txt', 'no');
    assert.equal(denied.status, 403);
    assert.equal((await errorOf(denied)).code, 'EACCES');
    assert.equal((await ro.get('/alpha/c.txt')).status, 200);
    assert.equal((await api.fetch('/api/v1/files/stat?path=/alpha/new.txt')).status, 404);
  });

  it('answers unknown routes 404 and wrong methods 405', async () => {
    const none = await api.fetch('/api/v1/nothing');
    assert.equal(none.status, 404);
    const method = await api.fetch('/api/v1/files/stat?path=/', { method: 'DELETE' });
    assert.equal(method.status, 405);
    assert.equal(method.headers.get('allow'), 'GET');
  });
});
