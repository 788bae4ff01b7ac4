import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { rootId } from '../../src/core/ids.ts';
import { readOwnerCredential } from '../../src/node/credentials.ts';
import { encodeRequest } from '../../src/protocol/messages.ts';
import { OPS } from '../../src/protocol/ops.ts';
import { credential, RawClient, session, startNode } from './node-harness.ts';
import { rng } from '../helpers/rng.ts';

const ALPHA = rootId(1).toString();
const BETA = rootId(2).toString();

const OP_NAMES = Object.keys(OPS);
const SAMPLES: [string, unknown, boolean][] = [
  ['LOOKUP', { parent: ALPHA, name: 'f0' }, false],
  ['GETATTR', { id: ALPHA }, false],
  ['READDIRP', { dir: ALPHA, cookie: '', max: 5 }, false],
  ['CREATE', { parent: ALPHA, name: 'fz', mode: 420 }, false],
  ['WRITE', { handle: 1, offset: 0 }, true],
  ['READ', { handle: 1, offset: 0, length: 10 }, false],
  ['SETXATTR', { id: ALPHA, name: 'user.a' }, true],
  ['WAIT', { id: ALPHA, timeoutMs: 5 }, false],
  ['TAKE', { dir: ALPHA }, false],
  ['LOCK', { handle: 1, cmd: 'test', type: 'read', start: 0, length: 0 }, false],
];

/** One hostile frame: random bytes, random text, or a valid request mutated. */
function hostileFrame(rand: () => number, id: number): { data: string | Buffer; binary: boolean } {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const kind = Math.floor(rand() * 8);
  if (kind === 0) {
    const bytes = Buffer.alloc(Math.floor(rand() * 64));
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(rand() * 256);
    return { data: bytes, binary: rand() < 0.5 };
  }
  if (kind === 1) {
    return {
      data: pick([
        '',
        '{',
        '[]',
        'null',
        '{"t":"req"}',
        '{"t":"cancel","id":-1}',
        '{"t":"bye"}',
        '"x"',
        '{"t":"res","id":1,"ok":true}',
      ]),
      binary: false,
    };
  }
  const [op, args, withPayload] = pick(SAMPLES);
  const payload = withPayload ? Buffer.from('payload') : undefined;
  let frame = encodeRequest({ id, op: op as 'LOOKUP', args, payload });
  if (kind === 2) {
    // Valid envelope, wrong op or wrong argument types.
    const bad = pick([
      { t: 'req', id, op: pick(OP_NAMES), a: { nonsense: true } },
      { t: 'req', id, op: 'NOPE', a: {} },
      { t: 'req', id, op, a: { ...(args as object), extra: 1 } },
      { t: 'req', id: 0, op, a: args },
      { t: 'req', id: 2 ** 40, op, a: args },
      { t: 'req', id, op: 'LOOKUP', a: { parent: '-1', name: 'x' } },
      { t: 'req', id, op: 'READDIRP', a: { dir: ALPHA, cookie: '', max: 1e9 } },
      { t: 'req', id, op: 'AUTH', a: { proof: 'x' } },
      { t: 'cancel', id, extra: 1 },
    ]);
    frame = JSON.stringify(bad);
    return { data: frame, binary: false };
  }
  if (kind === 3 && typeof frame !== 'string') {
    // Payload on an op without one, or a binary frame with a lying header length.
    const joined = Buffer.concat(frame);
    joined.writeUInt32BE(Math.floor(rand() * 2 ** 32), 0);
    return { data: joined, binary: true };
  }
  const text = typeof frame === 'string' ? frame : Buffer.concat(frame).toString('latin1');
  const chars = [...text];
  const edits = 1 + Math.floor(rand() * 4);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(rand() * chars.length);
    const how = Math.floor(rand() * 3);
    if (how === 0) chars.splice(at, 1);
    else if (how === 1) chars.splice(at, 0, pick(['"', '{', '}', ',', ':', '9', '-', 'null', '\\']));
    else chars.splice(at, chars.length - at); // truncate
  }
  const mutated = chars.join('');
  return typeof frame === 'string'
    ? { data: mutated, binary: false }
    : { data: Buffer.from(mutated, 'latin1'), binary: true };
}

describe('node under hostile input', () => {
  let ctx: Awaited<ReturnType<typeof startNode>>;
  before(async () => {
    ctx = await startNode();
  });
  after(async () => {
    await ctx.stop();
  });

  it('survives thousands of bad frames while another session keeps working correctly', async () => {
    const owner = await readOwnerCredential(ctx.home);
    const fuzzCred = await credential({ home: ctx.home, name: 'fuzzer', exports: ['alpha'] });
    const good = await session(ctx.node, owner);

    // The well-behaved session: write, read back and verify files in beta, again and again.
    let stop = false;
    let rounds = 0;
    const worker = (async () => {
      while (!stop || rounds < 5) {
        const data = createHash('sha256').update(String(rounds)).digest();
        const name = `good-${rounds}`;
        const created = (await good.call('CREATE', { parent: BETA, name, mode: 0o644 })).r as {
          id: string;
          handle: number;
        };
        await good.call('WRITE', { handle: created.handle, offset: 0 }, data);
        await good.call('CLOSE', { handle: created.handle });
        const { handle } = (await good.call('OPEN', { id: created.id, flags: { read: true, write: false } }))
          .r as {
          handle: number;
        };
        const back = await good.call('READ', { handle, offset: 0, length: 64 });
        await good.call('CLOSE', { handle });
        assert.ok(back.payload?.equals(data), `round ${rounds} reads back what it wrote`);
        const hash = (await good.call('HASH', { id: created.id })).r as { hex: string };
        assert.equal(hash.hex, createHash('sha256').update(data).digest('hex'));
        rounds++;
      }
    })();

    const rand = rng(0x7e55e7a);
    let sent = 0;
    let sessions = 0;
    let answered = 0;
    while (sent < 3000) {
      const c = await RawClient.connect(ctx.node.url);
      sessions++;
      // Every third connection is hostile before authenticating, the rest after.
      if (sessions % 3 !== 0) await c.login(fuzzCred);
      for (let i = 0; i < 100 && c.ws.readyState === WebSocket.OPEN; i++) {
        const { data, binary } = hostileFrame(rand, 1000 + i);
        c.sendRaw(data, binary);
        sent++;
        if (i % 10 === 9) await new Promise((r) => setImmediate(r));
      }
      // Let the node answer what it read (or close the session), then hang up.
      if (c.ws.readyState === WebSocket.OPEN) {
        const probe = c.send('PING', {}, undefined, 999_999);
        await c.waitFor((m) => m.t === 'res' && m.id === probe);
      }
      c.terminate();
      await c.closed;
      for (const m of c.messages) {
        if (m.t === 'res' && !m.ok) {
          answered++;
          assert.ok(m.err.code.length > 0);
        }
        if (m.t === 'error') {
          answered++;
          assert.equal(m.err.code, 'EPROTO');
        }
      }
    }
    // WebSocket-level garbage: a valid upgrade followed by bytes that are not WebSocket frames,
    // and a message above the size limit.
    for (let i = 0; i < 5; i++) {
      const c = await RawClient.connect(ctx.node.url);
      (c.ws as unknown as { _socket: { write(b: Buffer): void } })._socket.write(
        Buffer.from([0xff, 0xff, 1, 2, 3, 4]),
      );
      assert.ok([1002, 1006].includes((await c.closed).code));
    }
    const big = await RawClient.connect(ctx.node.url);
    await big.login(fuzzCred);
    big.sendRaw(Buffer.alloc(17 * 1024 * 1024 + 300 * 1024), true);
    assert.ok([1009, 1006].includes((await big.closed).code), 'an oversized message ends only that session');
    // TLS garbage on the listening port.
    await new Promise<void>((resolve) => {
      const sock = tlsConnect(
        { host: '127.0.0.1', port: ctx.node.address.port, rejectUnauthorized: false },
        () => {
          sock.write(
            'GET /tessera HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x00\x01',
          );
          sock.end();
        },
      );
      sock.resume(); // read the node's answer, so its end (and then our close) arrives
      sock.on('error', () => resolve());
      sock.on('close', () => resolve());
    });

    stop = true;
    await worker;
    assert.ok(rounds >= 5);
    assert.ok(answered > 500, `bad frames were answered with errors (${answered})`);
    assert.ok(ctx.node.metrics.protocolErrors > 100);
    assert.ok(ctx.node.metrics.ended['protocol-error'] > 10, 'repeat offenders were disconnected');
    // The node is still fine for everyone.
    const fresh = await session(ctx.node, owner);
    const list = (await fresh.call('READDIRP', { dir: BETA, cookie: '', max: 1000 })).r as {
      entries: unknown[];
    };
    assert.equal(list.entries.length, rounds);
    fresh.close();
    good.close();
  });
});
