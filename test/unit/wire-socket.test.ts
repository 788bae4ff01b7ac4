import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WebSocketServer, type WebSocket } from 'ws';
import { loadServerTls } from '../../src/node/tls-ca.ts';
import { CLOSED, OPEN, WireSocket, WireSocketError } from '../../src/client/wire-socket.ts';
import { pattern, tesseraFrame } from '../helpers/ws-frames.ts';
import { until } from '../helpers/until.ts';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const MIB = 1024 * 1024;

/** Collect a socket's events. */
function watch(ws: WireSocket) {
  const messages: { data: Buffer | Buffer[]; binary: boolean }[] = [];
  const errors: Error[] = [];
  let pongs = 0;
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  ws.on('message', (data: Buffer | Buffer[], binary: boolean) => messages.push({ data, binary }));
  ws.on('error', (err: Error) => errors.push(err));
  ws.on('pong', () => pongs++);
  return { messages, errors, closed, pongs: () => pongs };
}

describe('WireSocket against the ws server', () => {
  let wss: WebSocketServer;
  let url: URL;
  const peers: WebSocket[] = [];

  before(async () => {
    wss = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      perMessageDeflate: false,
      maxPayload: 64 * MIB,
      handleProtocols: (p) => (p.has('tessera') ? 'tessera' : false),
    });
    wss.on('connection', (ws) => peers.push(ws));
    await once(wss, 'listening');
    url = new URL(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/tessera`);
  });
  after(async () => {
    for (const p of peers) p.terminate();
    await new Promise((r) => wss.close(r));
  });

  const open = async (
    opts: { payloadTarget?: Parameters<typeof WireSocket.connect>[0]['payloadTarget'] } = {},
  ) => {
    const ws = await WireSocket.connect({
      url,
      protocol: 'tessera',
      maxMessage: 32 * MIB,
      timeoutMs: 5000,
      ...opts,
    });
    await until(() => peers.length > 0, 'the server side');
    const peer = peers.shift()!;
    const seen = watch(ws);
    ws.start();
    return { ws, peer, seen };
  };

  it('upgrades, then carries text and binary both ways, masks every size right', async () => {
    const { ws, peer, seen } = await open();
    assert.equal(ws.readyState, OPEN);
    assert.equal(ws.fingerprint, undefined);
    const got: { data: Buffer; binary: boolean }[] = [];
    peer.on('message', (data: Buffer, binary: boolean) => got.push({ data, binary }));
    const sizes = [0, 1, 125, 126, 127, 65535, 65536, 65537, MIB + 13];
    for (const n of sizes) ws.send(pattern(n, n));
    ws.send('héllo ✓');
    // Several parts are one message; the mask continues across odd part lengths.
    ws.send([pattern(3, 1), pattern(70_001, 2), pattern(5, 3)]);
    await until(() => got.length === sizes.length + 2, 'the server to receive everything');
    for (const [i, n] of sizes.entries()) {
      assert.equal(got[i]!.binary, true);
      assert.ok(got[i]!.data.equals(pattern(n, n)), `binary message of ${n} bytes`);
    }
    assert.deepEqual(got[sizes.length], { data: Buffer.from('héllo ✓'), binary: false });
    assert.ok(
      got[sizes.length + 1]!.data.equals(Buffer.concat([pattern(3, 1), pattern(70_001, 2), pattern(5, 3)])),
    );

    peer.send('text ✓');
    peer.send(pattern(300_000, 9));
    await until(() => seen.messages.length === 2, 'the client to receive');
    assert.deepEqual(seen.messages[0], { data: Buffer.from('text ✓'), binary: false });
    assert.equal(seen.messages[1]!.binary, true);
    assert.ok((seen.messages[1]!.data as Buffer).equals(pattern(300_000, 9)));
    ws.terminate();
    await seen.closed;
  });

  it('reads a binary message payload straight into the buffer payloadTarget gives', async () => {
    const into = Buffer.alloc(2 * MIB);
    const asked: { header: string; length: number }[] = [];
    const { ws, peer, seen } = await open({
      payloadTarget: (header, length) => {
        asked.push({ header: header.toString(), length });
        return length > 100 ? into : undefined;
      },
    });
    const big = pattern(MIB + 77, 4);
    peer.send(tesseraFrame({ t: 'res', id: 1 }, big));
    peer.send(tesseraFrame({ t: 'res', id: 2 }, pattern(50, 5)));
    await until(() => seen.messages.length === 2, 'two messages');
    assert.deepEqual(asked, [
      { header: '{"t":"res","id":1}', length: MIB + 77 },
      { header: '{"t":"res","id":2}', length: 50 },
    ]);
    const [head, payload] = seen.messages[0]!.data as Buffer[];
    assert.equal(head!.readUInt32BE(0), head!.length - 4);
    assert.equal(payload!.buffer, into.buffer, 'the bytes landed in the given buffer');
    assert.equal(payload!.byteOffset, into.byteOffset);
    assert.ok(payload!.equals(big));
    const [, small] = seen.messages[1]!.data as Buffer[];
    assert.notEqual(small!.buffer, into.buffer);
    assert.ok(small!.equals(pattern(50, 5)));
    ws.terminate();
  });

  it('passes fragmented messages on as their fragments (binary) or joined (text)', async () => {
    const { ws, peer, seen } = await open({ payloadTarget: () => undefined });
    peer.send(Buffer.from('abc'), { binary: true, fin: false });
    peer.send(pattern(100_000, 6), { binary: true, fin: true });
    peer.send('frag', { fin: false });
    peer.ping(); // a control frame between fragments
    peer.send('ment ✓', { fin: true });
    await until(() => seen.messages.length === 2, 'two messages');
    const parts = seen.messages[0]!.data as Buffer[];
    assert.ok(Buffer.concat(parts).equals(Buffer.concat([Buffer.from('abc'), pattern(100_000, 6)])));
    assert.deepEqual(seen.messages[1], { data: Buffer.from('fragment ✓'), binary: false });
    ws.terminate();
  });

  it('answers pings, hears pongs, and closes with a handshake either way', async () => {
    const a = await open();
    let serverPongs = 0;
    a.peer.on('pong', () => serverPongs++);
    a.peer.ping();
    a.ws.ping();
    await until(() => serverPongs === 1 && a.seen.pongs() === 1, 'ping and pong');
    const serverClosed = once(a.peer, 'close') as Promise<[number, Buffer]>;
    a.ws.close(1000, 'bye');
    const [code, reason] = await serverClosed;
    assert.equal(code, 1000);
    assert.equal(reason.toString(), 'bye');
    await a.seen.closed;
    assert.equal(a.ws.readyState, CLOSED);
    let lateError: unknown;
    a.ws.send('too late', (err) => (lateError = err));
    await until(() => lateError !== undefined, 'a refused send');

    const b = await open();
    b.peer.close(4001, 'server says bye');
    await b.seen.closed;
    assert.equal(b.ws.readyState, CLOSED);
    assert.deepEqual(b.seen.errors, []);
  });

  it('refuses a message larger than maxMessage', async () => {
    const ws = await WireSocket.connect({ url, protocol: 'tessera', maxMessage: 1000, timeoutMs: 5000 });
    await until(() => peers.length > 0, 'the server side');
    const peer = peers.shift()!;
    const seen = watch(ws);
    ws.start();
    peer.send(Buffer.alloc(600), { fin: false, binary: true });
    peer.send(Buffer.alloc(600), { fin: true, binary: true });
    await seen.closed;
    assert.match(String(seen.errors[0]), /larger than 1000 bytes/);
    assert.equal(seen.messages.length, 0);
  });

  it('fails the handshake with the HTTP status when there is no WebSocket at the path', async () => {
    const server = createNetServer((sock) =>
      sock.once('data', () => sock.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n')),
    );
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    await assert.rejects(
      WireSocket.connect({
        url: new URL(`ws://127.0.0.1:${port}/x`),
        protocol: 'tessera',
        maxMessage: 100,
        timeoutMs: 5000,
      }),
      /HTTP 404 from ws:\/\/127\.0\.0\.1:\d+\/x/,
    );
    server.close();
  });

  it('gives the system error code when nothing listens', async () => {
    const server = createNetServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    server.close();
    await once(server, 'close');
    const err = await WireSocket.connect({
      url: new URL(`ws://127.0.0.1:${port}/`),
      protocol: 'tessera',
      maxMessage: 100,
      timeoutMs: 5000,
    }).catch((e: unknown) => e);
    assert.ok(err instanceof WireSocketError);
    assert.equal(err.code, 'ECONNREFUSED');
  });
});

describe('WireSocket against a misbehaving server', () => {
  let server: Server;
  let port: number;
  /** What the fake server does once it has read the upgrade request. */
  let behave: (sock: Socket, accept: string) => void = () => undefined;

  before(async () => {
    server = createNetServer((sock) => {
      let text = '';
      const onData = (chunk: Buffer) => {
        text += chunk.toString('latin1');
        if (!text.includes('\r\n\r\n')) return;
        sock.off('data', onData);
        const key = /sec-websocket-key: (\S+)/i.exec(text)?.[1] ?? '';
        behave(
          sock,
          createHash('sha1')
            .update(key + GUID)
            .digest('base64'),
        );
      };
      sock.on('data', onData);
      sock.on('error', () => undefined);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });
  after(() => server.close());

  const connect = (timeoutMs = 5000) =>
    WireSocket.connect({
      url: new URL(`ws://127.0.0.1:${port}/tessera`),
      protocol: 'tessera',
      maxMessage: MIB,
      timeoutMs,
    });
  const upgrade = (accept: string, extra = '') =>
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: tessera\r\n${extra}\r\n`;

  it('refuses a wrong accept key, a missing subprotocol and unasked-for extensions', async () => {
    behave = (sock) => sock.write(upgrade('d3JvbmcgYWNjZXB0IGtleSE='));
    await assert.rejects(connect(), /wrong accept key/);
    behave = (sock, accept) =>
      sock.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
      );
    await assert.rejects(connect(), /did not agree to the 'tessera' subprotocol/);
    behave = (sock, accept) =>
      sock.write(upgrade(accept, 'Sec-WebSocket-Extensions: permessage-deflate\r\n'));
    await assert.rejects(connect(), /extensions that were not asked for/);
  });

  it('times out a server that never answers the upgrade', async () => {
    behave = () => undefined;
    const err = await connect(200).catch((e: unknown) => e);
    assert.ok(err instanceof WireSocketError);
    assert.equal(err.code, 'ETIMEDOUT');
  });

  it('keeps frames sent with the upgrade answer, in pieces, until start()', async () => {
    const frames = Buffer.concat([
      Buffer.from([0x81, 5]),
      Buffer.from('first'),
      Buffer.from([0x82, 126, 0x01, 0x00]),
      pattern(256, 3),
    ]);
    behave = (sock, accept) => {
      const all = Buffer.concat([Buffer.from(upgrade(accept)), frames]);
      // One byte at a time: every parser state sees a boundary.
      let i = 0;
      const drip = () => {
        if (i < all.length) sock.write(all.subarray(i, ++i), () => setImmediate(drip));
      };
      drip();
    };
    const ws = await connect();
    const seen = watch(ws);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(seen.messages.length, 0, 'nothing before start()');
    ws.start();
    await until(() => seen.messages.length === 2, 'both messages');
    assert.deepEqual(seen.messages[0], { data: Buffer.from('first'), binary: false });
    assert.ok((seen.messages[1]!.data as Buffer).equals(pattern(256, 3)));
    ws.terminate();
  });

  const protocolErrors: [string, Buffer, RegExp][] = [
    ['a masked server frame', Buffer.from([0x82, 0x81, 1, 2, 3, 4, 5]), /must not mask/],
    ['reserved bits', Buffer.from([0xc2, 0x01, 0]), /reserved bits/],
    ['an unknown opcode', Buffer.from([0x83, 0x00]), /unknown opcode 3/],
    ['an unknown control opcode', Buffer.from([0x8b, 0x00]), /unknown control opcode/],
    ['a fragmented control frame', Buffer.from([0x09, 0x00]), /control frames/],
    [
      'a long control frame',
      Buffer.concat([Buffer.from([0x89, 126, 0, 126]), Buffer.alloc(126)]),
      /control frames/,
    ],
    ['a continuation out of a message', Buffer.from([0x80, 0x00]), /continuation frame outside/],
    [
      'a new message inside a fragmented one',
      Buffer.from([0x02, 0x01, 0, 0x82, 0x01, 0]),
      /before the last one ended/,
    ],
    ['text that is not UTF-8', Buffer.from([0x81, 0x02, 0xc3, 0x28]), /not valid UTF-8/],
    ['a message too large', Buffer.from([0x82, 127, 0, 0, 0, 0, 0, 0x20, 0, 0]), /larger than/],
    ['a frame beyond 4 GiB', Buffer.from([0x82, 127, 0, 0, 0, 1, 0, 0, 0, 0]), /beyond 4 GiB/],
  ];
  for (const [what, bytes, message] of protocolErrors) {
    it(`drops the connection on ${what}`, async () => {
      behave = (sock, accept) => sock.write(Buffer.concat([Buffer.from(upgrade(accept)), bytes]));
      const ws = await connect();
      const seen = watch(ws);
      ws.start();
      await seen.closed;
      assert.match(String(seen.errors[0]), message);
      assert.equal((seen.errors[0] as WireSocketError).code, 'EPROTO');
      assert.equal(seen.messages.length, 0);
    });
  }
});

describe('WireSocket over TLS', () => {
  let home: string;
  let wss: WebSocketServer;
  let url: URL;
  let fingerprint: string;
  const https = { server: undefined as ReturnType<typeof createHttpsServer> | undefined };

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'tessera-wire-tls-'));
    const tls = await loadServerTls({ home, nodeName: 'wire', hosts: ['127.0.0.1'] });
    fingerprint = tls.fingerprint;
    https.server = createHttpsServer({ key: tls.key, cert: tls.cert, minVersion: 'TLSv1.3' });
    wss = new WebSocketServer({
      server: https.server,
      perMessageDeflate: false,
      handleProtocols: () => 'tessera',
    });
    wss.on('connection', (ws) =>
      ws.on('message', (data: Buffer, binary: boolean) => ws.send(data, { binary })),
    );
    https.server.listen(0, '127.0.0.1');
    await once(https.server, 'listening');
    url = new URL(`wss://127.0.0.1:${(https.server.address() as AddressInfo).port}/tessera`);
  });
  after(async () => {
    await new Promise((r) => wss.close(r));
    https.server?.close();
    await rm(home, { recursive: true, force: true });
  });

  it('reports the certificate fingerprint and echoes big messages intact, straight into place', async () => {
    const into = Buffer.alloc(3 * MIB);
    const ws = await WireSocket.connect({
      url,
      protocol: 'tessera',
      maxMessage: 8 * MIB,
      timeoutMs: 5000,
      payloadTarget: () => into,
    });
    assert.equal(ws.fingerprint, fingerprint);
    const seen = watch(ws);
    ws.start();
    const payload = pattern(2 * MIB + 5, 8);
    ws.send([tesseraFrame({ t: 'res', id: 7 }, Buffer.alloc(0)), payload]);
    await until(() => seen.messages.length === 1, 'the echo');
    const [, got] = seen.messages[0]!.data as Buffer[];
    assert.equal(got!.buffer, into.buffer);
    assert.ok(got!.equals(payload));
    ws.close();
    await seen.closed;
  });
});
