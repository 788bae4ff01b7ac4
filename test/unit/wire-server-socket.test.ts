import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AddressInfo, connect as netConnect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { WireSocket } from '../../src/client/wire-socket.ts';
import { loadServerTls } from '../../src/node/tls-ca.ts';
import {
  CLOSED,
  type PayloadLease,
  ServerWireSocket,
  UpgradeRefused,
  WireProtocolError,
} from '../../src/node/wire-server-socket.ts';
import { pattern, tesseraFrame } from '../helpers/ws-frames.ts';
import { until } from '../helpers/until.ts';

const MIB = 1024 * 1024;

interface Accepted {
  ws: ServerWireSocket;
  messages: { data: Buffer | Buffer[]; binary: boolean; released?: () => boolean }[];
  errors: Error[];
  pongs: number;
  closed: Promise<void>;
}

describe('ServerWireSocket', () => {
  let server: Server;
  let port: number;
  let maxMessage = 4 * MIB;
  const accepted: Accepted[] = [];
  const refused: UpgradeRefused[] = [];
  /** Leases handed out, and how many came back. */
  const lent: { lease: PayloadLease; back: boolean }[] = [];

  before(async () => {
    server = createServer();
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      try {
        const ws = ServerWireSocket.accept({
          req,
          socket,
          head,
          protocol: 'tessera',
          maxMessage,
          payloadPlace: (length) => {
            if (length < 1000) return undefined;
            const entry = { lease: undefined as unknown as PayloadLease, back: false };
            entry.lease = { buf: Buffer.alloc(2 * MIB), release: () => (entry.back = true) };
            lent.push(entry);
            return entry.lease;
          },
        });
        const a: Accepted = {
          ws,
          messages: [],
          errors: [],
          pongs: 0,
          closed: new Promise((resolve) => ws.once('close', () => resolve())),
        };
        ws.on('message', (data: Buffer | Buffer[], binary: boolean, release?: () => void) => {
          const entry = lent.find((l) => l.lease.release === release);
          a.messages.push({ data, binary, ...(entry ? { released: () => entry.back } : {}) });
        });
        ws.on('error', (err: Error) => a.errors.push(err));
        ws.on('pong', () => a.pongs++);
        accepted.push(a);
      } catch (err) {
        if (!(err instanceof UpgradeRefused)) throw err;
        refused.push(err);
        socket.end(`HTTP/1.1 ${err.status} Bad Request\r\nConnection: close\r\n\r\n`);
      }
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    for (const a of accepted) a.ws.terminate();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  /** A `ws` client (an independent implementation) connected to a fresh server socket. */
  const open = async (): Promise<{ client: WebSocket; side: Accepted }> => {
    const before = accepted.length;
    const client = new WebSocket(`ws://127.0.0.1:${port}/x`, ['tessera']);
    client.on('error', () => undefined);
    await once(client, 'open');
    await until(() => accepted.length > before, 'the server side');
    assert.equal(client.protocol, 'tessera');
    return { client, side: accepted[accepted.length - 1]! };
  };

  it('carries text and binary both ways at every length, and fragmented messages', async () => {
    const { client, side } = await open();
    const sizes = [0, 1, 125, 126, 65535, 65536, MIB + 13];
    for (const n of sizes) client.send(pattern(n, n));
    client.send('héllo ✓');
    client.send('frag', { fin: false });
    client.ping();
    client.send('ment', { fin: true });
    client.send(Buffer.from('ab'), { binary: true, fin: false });
    client.send(pattern(70_000, 3), { binary: true, fin: true });
    await until(() => side.messages.length === sizes.length + 3, 'every message');
    for (const [i, n] of sizes.entries()) {
      const m = side.messages[i]!;
      assert.equal(m.binary, true);
      const data = Array.isArray(m.data) ? Buffer.concat(m.data) : m.data;
      assert.ok(data.equals(pattern(n, n)), `binary message of ${n} bytes`);
    }
    assert.deepEqual(side.messages[sizes.length], { data: Buffer.from('héllo ✓'), binary: false });
    assert.deepEqual(side.messages[sizes.length + 1], { data: Buffer.from('fragment'), binary: false });
    const frags = side.messages[sizes.length + 2]!.data as Buffer[];
    assert.ok(Buffer.concat(frags).equals(Buffer.concat([Buffer.from('ab'), pattern(70_000, 3)])));

    const got: { data: Buffer; binary: boolean }[] = [];
    client.on('message', (data: Buffer, binary: boolean) => got.push({ data, binary }));
    side.ws.sendText('text ✓');
    side.ws.sendBinary(pattern(300_000, 9));
    // A payload with free room in front: the header goes there, the bytes are not copied.
    const room = Buffer.alloc(64 + 70_000);
    pattern(70_000, 4).copy(room, 64);
    side.ws.sendBinary(room.subarray(64), { headroom: 64 });
    // Parts are joined into one message.
    side.ws.sendBinary([Buffer.from('ab'), pattern(70_000, 5), Buffer.from('z')]);
    await until(() => got.length === 4, 'the client to receive');
    assert.deepEqual(got[0], { data: Buffer.from('text ✓'), binary: false });
    assert.ok(got[1]!.data.equals(pattern(300_000, 9)));
    assert.ok(got[2]!.data.equals(pattern(70_000, 4)));
    assert.ok(got[3]!.data.equals(Buffer.concat([Buffer.from('ab'), pattern(70_000, 5), Buffer.from('z')])));
    client.terminate();
    await side.closed;
  });

  it("puts a big binary message's payload in the lent buffer, split from its header", async () => {
    const { client, side } = await open();
    const big = pattern(MIB, 5);
    client.send(tesseraFrame({ id: 1, op: 'WRITE' }, big));
    client.send(tesseraFrame({ id: 2, op: 'WRITE' }, pattern(10, 6)));
    // A header length past the end: read whole, for the decoder to reject.
    const bad = Buffer.alloc(5000, 1);
    bad.writeUInt32BE(9999, 0);
    client.send(bad);
    await until(() => side.messages.length === 3, 'three messages');
    const [head, payload] = side.messages[0]!.data as Buffer[];
    assert.equal(head!.toString('utf8', 4), '{"id":1,"op":"WRITE"}');
    assert.ok(payload!.equals(big));
    const lease = lent[lent.length - 1]!;
    assert.equal(payload!.buffer, (lease.lease.buf as Buffer).buffer, 'the bytes are in the lent buffer');
    assert.equal(side.messages[0]!.released?.(), false, 'the receiver hands the lease on, unreleased');
    const small = side.messages[1]!.data as Buffer[];
    assert.ok(small[1]!.equals(pattern(10, 6)));
    assert.equal(side.messages[1]!.released, undefined, 'a small payload gets a buffer of its own');
    const whole = side.messages[2]!.data as Buffer;
    assert.ok(Buffer.isBuffer(whole) && whole.equals(bad));
    assert.equal(side.ws.readsInPlace, true, "the socket reads into the reader's buffers");
    client.terminate();
    await side.closed;
  });

  it('answers pings, hears pongs, and closes with a handshake either way', async () => {
    const a = await open();
    let clientPongs = 0;
    a.client.on('pong', () => clientPongs++);
    a.client.ping();
    a.side.ws.ping();
    await until(() => clientPongs === 1 && a.side.pongs === 1, 'ping and pong');
    const clientClosed = once(a.client, 'close') as Promise<[number, Buffer]>;
    a.side.ws.close(4001, 'server says bye');
    const [code, reason] = await clientClosed;
    assert.equal(code, 4001);
    assert.equal(reason.toString(), 'server says bye');
    await a.side.closed;
    assert.equal(a.side.ws.readyState, CLOSED);

    const b = await open();
    const bClosed = once(b.client, 'close') as Promise<[number, Buffer]>;
    b.client.close(1000, 'client bye');
    assert.equal((await bClosed)[0], 1000, 'the close is echoed');
    await b.side.closed;
    assert.deepEqual(b.side.errors, []);
    let refusedSend: unknown;
    b.side.ws.sendText('too late', (err) => (refusedSend = err));
    await until(() => refusedSend !== undefined, 'a refused send');
  });

  it('cuts a long close reason at a character boundary, both ways', async () => {
    // 2 bytes of code + 100 two-byte characters: only 61 of them fit in a 125-byte close frame.
    const reason = 'é'.repeat(100);
    const a = await open();
    const clientClosed = once(a.client, 'close') as Promise<[number, Buffer]>;
    a.side.ws.close(4001, reason);
    const [code, got] = await clientClosed;
    assert.equal(code, 4001, 'the ws client accepted the close frame');
    assert.equal(got.toString(), 'é'.repeat(61));
    await a.side.closed;

    const before = accepted.length;
    const ws = await WireSocket.connect({
      url: new URL(`ws://127.0.0.1:${port}/tessera`),
      protocol: 'tessera',
      maxMessage: MIB,
      timeoutMs: 5000,
    });
    ws.start();
    await until(() => accepted.length > before, 'the server side');
    const side = accepted[accepted.length - 1]!;
    ws.close(4002, reason);
    await side.closed;
    assert.deepEqual(side.errors, [], 'the server found the close frame valid');
  });

  it('works with the Tessera client socket, over plain TCP', async () => {
    const before = accepted.length;
    const ws = await WireSocket.connect({
      url: new URL(`ws://127.0.0.1:${port}/tessera`),
      protocol: 'tessera',
      maxMessage: 4 * MIB,
      timeoutMs: 5000,
    });
    const got: Buffer[] = [];
    ws.on('message', (data: Buffer) => got.push(data));
    ws.start();
    await until(() => accepted.length > before, 'the server side');
    const side = accepted[accepted.length - 1]!;
    ws.send(tesseraFrame({ id: 7 }, pattern(MIB, 7)));
    ws.send('{"ok":true}');
    await until(() => side.messages.length === 2, 'two messages');
    assert.ok((side.messages[0]!.data as Buffer[])[1]!.equals(pattern(MIB, 7)));
    side.ws.sendBinary(pattern(MIB + 1, 8));
    await until(() => got.length === 1, 'the answer');
    assert.ok(got[0]!.equals(pattern(MIB + 1, 8)));
    ws.close();
    await side.closed;
  });

  it('parses frames sent along with the upgrade request, in order, before later ones', async () => {
    const before = accepted.length;
    const sock: Socket = netConnect({ host: '127.0.0.1', port });
    sock.on('error', () => undefined);
    await once(sock, 'connect');
    const key = Buffer.from([9, 8, 7, 6]);
    const masked = (text: string) => {
      const body = Buffer.from(text);
      return Buffer.concat([
        Buffer.from([0x81, 0x80 | body.length]),
        key,
        body.map((b, i) => b ^ key[i & 3]!),
      ]);
    };
    sock.write(
      Buffer.concat([
        Buffer.from(
          'GET /x HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
            'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' +
            'Sec-WebSocket-Protocol: tessera\r\n\r\n',
        ),
        masked('one'),
        masked('two'),
      ]),
    );
    await until(() => accepted.length > before, 'the server side');
    const side = accepted[accepted.length - 1]!;
    sock.write(masked('three'));
    await until(() => side.messages.length === 3, 'three messages');
    assert.deepEqual(
      side.messages.map((m) => String(m.data)),
      ['one', 'two', 'three'],
    );
    sock.destroy();
    await side.closed;
  });

  /** Raw bytes after a valid upgrade; resolves with what the server did. */
  const raw = async (frames: Buffer[]): Promise<{ side: Accepted; closeCode: number | undefined }> => {
    const before = accepted.length;
    const sock: Socket = netConnect({ host: '127.0.0.1', port });
    await once(sock, 'connect');
    sock.write(
      'GET /x HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' +
        'Sec-WebSocket-Protocol: tessera\r\n\r\n',
    );
    let answer = Buffer.alloc(0);
    sock.on('data', (c: Buffer) => (answer = Buffer.concat([answer, c])));
    sock.on('error', () => undefined);
    await until(() => accepted.length > before, 'the server side');
    const side = accepted[accepted.length - 1]!;
    for (const f of frames) sock.write(f);
    await side.closed;
    sock.destroy();
    const end = answer.indexOf('\r\n\r\n') + 4;
    assert.match(answer.toString('latin1', 0, end), /^HTTP\/1\.1 101 /);
    assert.match(answer.toString('latin1', 0, end), /Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/);
    const rest = answer.subarray(end);
    // The server's close frame, if it sent one: 0x88, length, code.
    const closeCode = rest[0] === 0x88 && rest.length >= 4 ? rest.readUInt16BE(2) : undefined;
    return { side, closeCode };
  };
  /** A masked client frame (mask key 1 2 3 4). */
  const frame = (opts: { first: number; payload: Buffer; masked?: boolean }): Buffer => {
    const key = Buffer.from([1, 2, 3, 4]);
    const masked = opts.masked ?? true;
    const n = opts.payload.length;
    const len =
      n > 125
        ? Buffer.from([(masked ? 0x80 : 0) | 126, n >> 8, n & 0xff])
        : Buffer.from([(masked ? 0x80 : 0) | n]);
    const body = Buffer.from(opts.payload.map((b, i) => (masked ? b ^ key[i & 3]! : b)));
    return Buffer.concat([Buffer.from([opts.first]), len, masked ? key : Buffer.alloc(0), body]);
  };

  for (const [what, frames, code] of [
    ['an unmasked frame', [frame({ first: 0x82, payload: Buffer.from('hi'), masked: false })], 1002],
    ['reserved bits', [frame({ first: 0xc2, payload: Buffer.from('hi') })], 1002],
    ['an unknown opcode', [frame({ first: 0x83, payload: Buffer.from('hi') })], 1002],
    ['a fragmented control frame', [frame({ first: 0x09, payload: Buffer.from('hi') })], 1002],
    ['a continuation outside a message', [frame({ first: 0x80, payload: Buffer.from('hi') })], 1002],
    [
      'a new message inside a fragmented one',
      [frame({ first: 0x02, payload: Buffer.from('a') }), frame({ first: 0x82, payload: Buffer.from('b') })],
      1002,
    ],
    ['text that is not UTF-8', [frame({ first: 0x81, payload: Buffer.from([0xc3, 0x28]) })], 1007],
    [
      'a close frame with an invalid code',
      [frame({ first: 0x88, payload: Buffer.from([0x03, 0xed]) })],
      1002,
    ],
    ['a close frame of one byte', [frame({ first: 0x88, payload: Buffer.from([0x03]) })], 1002],
  ] as const) {
    it(`ends the connection on ${what} (close ${code})`, async () => {
      const { side, closeCode } = await raw([...frames]);
      assert.equal(closeCode, code);
      assert.ok(side.errors[0] instanceof WireProtocolError, String(side.errors[0]));
      assert.equal(side.errors[0].closeCode, code);
      assert.equal(side.messages.length, 0);
    });
  }

  it('ends the connection on a message above maxMessage, before reading it (1009)', async () => {
    maxMessage = 1000;
    try {
      const { side, closeCode } = await raw([
        frame({ first: 0x02, payload: Buffer.alloc(600) }),
        frame({ first: 0x80, payload: Buffer.alloc(600) }),
      ]);
      assert.equal(closeCode, 1009);
      assert.match(String(side.errors[0]), /larger than 1000 bytes/);
    } finally {
      maxMessage = 4 * MIB;
    }
  });

  it('refuses an upgrade without a valid key or version', async () => {
    for (const headers of [
      'Sec-WebSocket-Version: 13\r\n',
      'Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n',
    ]) {
      const sock = netConnect({ host: '127.0.0.1', port });
      let answer = '';
      sock.on('data', (c: Buffer) => (answer += c.toString('latin1')));
      sock.write(`GET /x HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${headers}\r\n`);
      await once(sock, 'close');
      assert.match(answer, /^HTTP\/1\.1 400 /);
    }
    assert.equal(refused.length, 3);
  });
});

describe('ServerWireSocket over TLS', () => {
  let home: string;
  let server: HttpsServer;
  let url: URL;
  const sides: { ws: ServerWireSocket; got: { data: Buffer | Buffer[]; release?: () => void }[] }[] = [];

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'tessera-wire-server-tls-'));
    const tls = await loadServerTls({ home, nodeName: 'wire', hosts: ['127.0.0.1'] });
    server = createHttpsServer({ key: tls.key, cert: tls.cert, minVersion: 'TLSv1.3' });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const ws = ServerWireSocket.accept({
        req,
        socket,
        head,
        protocol: 'tessera',
        maxMessage: 4 * MIB,
        payloadPlace: (length) =>
          length >= 1000 ? { buf: Buffer.alloc(MIB), release: () => undefined } : undefined,
      });
      const side = { ws, got: [] as { data: Buffer | Buffer[]; release?: () => void }[] };
      ws.on('message', (data: Buffer | Buffer[], _binary: boolean, release?: () => void) =>
        side.got.push({ data, ...(release ? { release } : {}) }),
      );
      sides.push(side);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = new URL(`wss://127.0.0.1:${(server.address() as AddressInfo).port}/tessera`);
  });
  after(async () => {
    for (const s of sides) s.ws.terminate();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await rm(home, { recursive: true, force: true });
  });

  it('decrypts big messages into place and unmasks them there, small ones alongside', async () => {
    const ws = await WireSocket.connect({ url, protocol: 'tessera', maxMessage: 4 * MIB, timeoutMs: 5000 });
    const got: Buffer[] = [];
    ws.on('message', (data: Buffer) => got.push(data));
    ws.start();
    await until(() => sides.length === 1, 'the server side');
    const side = sides[0]!;
    assert.equal(side.ws.readsInPlace, true, "the TLS socket reads into the reader's buffers");
    for (let i = 0; i < 8; i++) {
      ws.send(tesseraFrame({ id: i }, pattern(MIB - i, i)));
      ws.send(`{"n":${i}}`);
    }
    await until(() => side.got.length === 16, 'every message');
    for (let i = 0; i < 8; i++) {
      const [head, payload] = side.got[2 * i]!.data as Buffer[];
      assert.equal(head!.toString('utf8', 4), `{"id":${i}}`);
      assert.ok(payload!.equals(pattern(MIB - i, i)), `message ${i} intact`);
      assert.equal(typeof side.got[2 * i]!.release, 'function', 'in a lent buffer');
      assert.equal(String(side.got[2 * i + 1]!.data), `{"n":${i}}`);
    }
    side.ws.sendBinary(pattern(2 * MIB, 3));
    await until(() => got.length === 1, 'the answer');
    assert.ok(got[0]!.equals(pattern(2 * MIB, 3)));
    const closed = once(side.ws, 'close');
    ws.close();
    await closed;
  });
});
