// REST API authentication: login → bearer token, whoami, logout, expiry, revocation when the
// credential is disabled, the per-address login limit (429), and request validation.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { disableCredential } from '../../src/node/credentials.ts';
import type { TesseraNode } from '../../src/node/node.ts';
import { ApiClient, errorOf, startApiNode } from './api-harness.ts';
import { credential } from './node-harness.ts';

describe('REST API authentication', () => {
  let node: TesseraNode;
  let home: string;
  let base: string;
  let clock: { now: number };
  let stop: () => Promise<void>;

  before(async () => {
    ({ node, home, base, clock, stop } = await startApiNode());
  });
  after(() => stop());

  const login = (body: unknown) =>
    fetch(`${base}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('logs in, tells who the token belongs to, and logs out', async () => {
    const cred = await credential({ home, name: 'reader', exports: ['alpha'], caps: { write: false } });
    const res = await login(cred);
    assert.equal(res.status, 200);
    const answer = (await res.json()) as Record<string, unknown>;
    assert.equal(answer.principal, 'reader');
    assert.equal(answer.token_type, 'Bearer');
    assert.equal(answer.expires_in, 3600);
    const client = new ApiClient(base, answer.token as string);
    const who = await client.json('/api/v1/auth/whoami');
    assert.deepEqual(who.exports, ['alpha']);
    assert.deepEqual(who.caps, { show: true, read: true, write: false, execute: true });
    assert.equal(who.credential, cred.id);

    assert.equal((await client.post('/api/v1/auth/logout', {})).status, 204);
    const after = await client.fetch('/api/v1/auth/whoami');
    assert.equal(after.status, 401);
    assert.match(after.headers.get('www-authenticate') ?? '', /^Bearer/);
    assert.equal((await errorOf(after)).code, 'EKEYREJECTED');
  });

  it('refuses requests without a token or with a made-up one', async () => {
    const none = await fetch(`${base}/api/v1/exports`);
    assert.equal(none.status, 401);
    assert.match((await errorOf(none)).message, /no bearer token/);
    const forged = await new ApiClient(base, 'tst_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA').fetch(
      '/api/v1/exports',
    );
    assert.equal(forged.status, 401);
  });

  it('expires tokens after an hour', async () => {
    const { client } = await ApiClient.forNew({ base, home, name: 'short' });
    assert.equal((await client.fetch('/api/v1/auth/whoami')).status, 200);
    clock.now += 61 * 60_000;
    const res = await client.fetch('/api/v1/auth/whoami');
    assert.equal(res.status, 401);
    assert.match((await errorOf(res)).message, /expired/);
  });

  it('revokes the tokens of a credential that is disabled', async () => {
    const { client, cred } = await ApiClient.forNew({ base, home, name: 'doomed' });
    assert.equal((await client.fetch('/api/v1/exports')).status, 200);
    await disableCredential({ home, id: cred.id });
    const res = await client.fetch('/api/v1/exports');
    assert.equal(res.status, 401);
    assert.match((await errorOf(res)).message, /disabled or removed/);
    assert.equal((await login(cred)).status, 401, 'a disabled credential cannot log in again');
  });

  it('answers 429 after 5 failed logins in a minute from one address, and recovers', async () => {
    clock.now += 5 * 60_000; // Earlier failures of this file are out of the window.
    const cred = await credential({ home, name: 'guessed' });
    const failures = node.metrics.authFailures;
    for (let i = 0; i < 5; i++) {
      const res = await login({ id: cred.id, secret: `wrong-${i}` });
      assert.equal(res.status, 401);
    }
    assert.equal(node.metrics.authFailures, failures + 5);
    const limited = await login(cred);
    assert.equal(limited.status, 429, 'even the right secret waits');
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    assert.equal((await errorOf(limited)).code, 'EAGAIN');
    clock.now += 61_000;
    assert.equal((await login(cred)).status, 200);
  });

  it('validates the login body and names the problem', async () => {
    clock.now += 5 * 60_000;
    const missing = await login({ id: 'tk_x' });
    assert.equal(missing.status, 400);
    const err = await errorOf(missing);
    assert.equal(err.code, 'EINVAL');
    assert.match(err.message, /body field 'secret'/);
    const extra = await login({ id: 'a', secret: 'b', admin: true });
    assert.match((await errorOf(extra)).message, /Unrecognized key: "admin"/);
    const junk = await fetch(`${base}/api/v1/auth/login`, { method: 'POST', body: '{not json' });
    assert.equal(junk.status, 400);
    assert.match((await errorOf(junk)).message, /not valid JSON/);
  });
});
