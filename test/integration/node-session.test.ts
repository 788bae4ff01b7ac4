import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { FsError } from '../../src/core/fs-error.ts';
import { createLogger, MemoryLogSink } from '../../src/core/log.ts';
import { auditFile } from '../../src/node/audit.ts';
import { disableCredential, readOwnerCredential } from '../../src/node/credentials.ts';
import { nonce } from '../../src/protocol/scram.ts';
import { credential, RawClient, session, startNode } from './node-harness.ts';

type AuditLine = Record<string, unknown> & { event: string };

async function auditLines(home: string): Promise<AuditLine[]> {
  const text = await readFile(auditFile(home), 'utf8');
  return text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as AuditLine);
}

function hello(keyId: string, versions = { min: 1, max: 1 }) {
  return { versions, auth: { method: 'scram-argon2id', key_id: keyId, client_nonce: nonce() } };
}

describe('node sessions: handshake and authentication', () => {
  let ctx: Awaited<ReturnType<typeof startNode>>;
  const sink = new MemoryLogSink();
  before(async () => {
    ctx = await startNode({
      logger: createLogger({ sink, level: 'info' }),
      throttle: { baseDelayMs: 20, maxDelayMs: 200 },
    });
  });
  after(async () => {
    await ctx.stop();
  });

  it('authenticates with the owner credential and answers ops', async () => {
    const owner = await readOwnerCredential(ctx.home);
    const c = await RawClient.connect(ctx.node.url);
    const auth = await c.login(owner);
    assert.match(String(auth.session_id), /^s_/);
    assert.equal(auth.principal, 'owner');
    assert.deepEqual(auth.caps, { can_show: true, can_read: true, can_write: true, can_execute: true });
    const ping = (await c.call('PING', {})).r as { timeMs: number };
    assert.equal(typeof ping.timeMs, 'number');
    c.close();
    await c.closed;
    await ctx.node.audit.flush();
    const started = (await auditLines(ctx.home)).find(
      (l) => l.event === 'session-start' && l.session === auth.session_id,
    );
    assert.equal(started?.principal, 'owner');
    assert.equal(started?.credential, owner.id);
  });

  it('rejects a wrong secret with EKEYREJECTED, closes, and audits the failure', async () => {
    const cred = await credential({ home: ctx.home, name: 'mallory' });
    const c = await RawClient.connect(ctx.node.url);
    await assert.rejects(c.login({ id: cred.id, secret: 'not the secret at all, sorry!!' }), (e: unknown) =>
      FsError.is(e, 'EKEYREJECTED'),
    );
    const closed = await c.closed;
    assert.equal(closed.code, 1008);
    await ctx.node.audit.flush();
    const lines = await auditLines(ctx.home);
    const failure = lines.find((l) => l.event === 'auth-failure' && l.keyId === cred.id);
    assert.equal(failure?.reason, 'wrong secret');
    assert.equal(failure?.address, '127.0.0.1');
    const end = lines.find((l) => l.event === 'session-end' && l.session === failure?.session);
    assert.equal(end?.how, 'auth-failed');
  });

  it('answers an unknown key id like a real one, then rejects it', async () => {
    const c = await RawClient.connect(ctx.node.url);
    const first = (await c.call('HELLO', hello('tk_zzzzzzzzzzzzzzzzzzzz'))).r as { salt: string };
    c.terminate();
    const c2 = await RawClient.connect(ctx.node.url);
    const again = (await c2.call('HELLO', hello('tk_zzzzzzzzzzzzzzzzzzzz'))).r as { salt: string };
    assert.equal(first.salt, again.salt, 'the made-up salt is stable, like a real one');
    const err = await c2.fails('AUTH', { proof: Buffer.alloc(32, 7).toString('base64url') });
    assert.equal(err.code, 'EKEYREJECTED');
    await c2.closed;
    await ctx.node.audit.flush();
    const failure = (await auditLines(ctx.home)).find(
      (l) => l.event === 'auth-failure' && l.keyId === 'tk_zzzzzzzzzzzzzzzzzzzz',
    );
    assert.equal(failure?.reason, 'unknown access key id');
  });

  it('rejects a disabled credential like a wrong secret, and says why in the audit log', async () => {
    const cred = await credential({ home: ctx.home, name: 'former' });
    await disableCredential({ home: ctx.home, id: cred.id });
    const c = await RawClient.connect(ctx.node.url);
    await assert.rejects(c.login(cred), (e: unknown) => FsError.is(e, 'EKEYREJECTED'));
    await ctx.node.audit.flush();
    const failure = (await auditLines(ctx.home)).find(
      (l) => l.event === 'auth-failure' && l.keyId === cred.id,
    );
    assert.equal(failure?.reason, 'credential disabled');
  });

  it('answers an op before AUTH with EPROTO and closes', async () => {
    const c = await RawClient.connect(ctx.node.url);
    const err = await c.fails('PING', {});
    assert.equal(err.code, 'EPROTO');
    assert.match(err.message, /HELLO first/);
    assert.equal((await c.closed).code, 1002);

    const owner = await readOwnerCredential(ctx.home);
    const c2 = await RawClient.connect(ctx.node.url);
    await c2.call('HELLO', hello(owner.id));
    const err2 = await c2.fails('EXPORTS', {});
    assert.equal(err2.code, 'EPROTO');
    assert.match(err2.message, /AUTH/);
    assert.equal((await c2.closed).code, 1002);
  });

  it('refuses a version range it does not speak, naming both ranges', async () => {
    const owner = await readOwnerCredential(ctx.home);
    const c = await RawClient.connect(ctx.node.url);
    const err = await c.fails('HELLO', hello(owner.id, { min: 7, max: 9 }));
    assert.equal(err.code, 'EPROTO');
    assert.match(err.message, /client speaks 7–9, server 1–2/);
    await c.closed;
  });

  it('delays answers after 5 failed attempts a minute from one address', async () => {
    const cred = await credential({ home: ctx.home, name: 'target' });
    const throttledBefore = sink.lines.filter((l) => l.msg === 'authentication throttled').length;
    // Earlier tests already failed a few times from 127.0.0.1; fail until 6 in all.
    for (let i = 0; i < 6; i++) {
      const c = await RawClient.connect(ctx.node.url);
      await assert.rejects(
        c.login({ id: cred.id, secret: `wrong-${i}-xxxxxxxxxxxxxxxxxxxxxxxxxx` }),
        (e: unknown) => FsError.is(e, 'EKEYREJECTED'),
      );
      await c.closed;
    }
    const throttled = sink.lines.filter((l) => l.msg === 'authentication throttled').slice(throttledBefore);
    assert.ok(throttled.length >= 1, 'at least the 6th attempt was held back');
    const delays = throttled.map((l) => Number(l.delayMs));
    assert.ok(
      delays.every((d) => d >= 20 && d <= 200),
      `delays within base..max: ${delays.join(',')}`,
    );
    for (let i = 1; i < delays.length; i++) assert.ok(delays[i]! >= delays[i - 1]!, 'delays grow');
    // The right secret still works (answered after the delay).
    const ok = await session(ctx.node, cred);
    ok.close();
  });

  it('refuses a second HELLO in an authenticated session without ending it', async () => {
    const owner = await readOwnerCredential(ctx.home);
    const c = await session(ctx.node, owner);
    const err = await c.fails('HELLO', hello(owner.id));
    assert.equal(err.code, 'EPROTO');
    await c.call('PING', {});
    c.close();
  });
});
