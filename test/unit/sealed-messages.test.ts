import assert from 'node:assert/strict';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { WireSocket } from '../../src/client/wire-socket.ts';
import { ServerWireSocket } from '../../src/node/wire-server-socket.ts';
import { AeadKey } from '../../src/protocol/aead.ts';
import {
  MessageOpener,
  MessageSealer,
  SEAL_ROOM,
  type SealKeys,
  sealKeys,
} from '../../src/protocol/sealed-messages.ts';
import { FrameReader } from '../../src/protocol/websocket-reader.ts';
import { writeFrameHead, OP } from '../../src/protocol/websocket.ts';
import { until } from '../helpers/until.ts';

const MIB = 1024 * 1024;

/** Keys from a copy of `material` (sealKeys wipes what it is given). */
function keysFor(material: Buffer, side: 'client' | 'server'): SealKeys {
  return sealKeys({ material: Buffer.from(material), side });
}

/** `u32 N · header · payload`, the plain binary message layout. */
function binaryMessage(header: object, payload: Buffer): Buffer[] {
  const h = Buffer.from(JSON.stringify(header));
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(h.length, 0);
  return [prefix, h, payload];
}

/** A reader of unmasked frames (server to client) that opens what it reads. */
function openingReader(opener: MessageOpener, into?: Buffer) {
  const got: { data: Buffer | Buffer[]; binary: boolean }[] = [];
  const problems: string[] = [];
  const reader = new FrameReader({
    masked: false,
    maxMessage: 4 * MIB,
    place: opener.wrapPlace(into && ((_h, length) => (length <= into.length ? { buf: into } : undefined))),
    on: {
      message: (data, binary) => {
        const opened = opener.open(data, binary);
        if ('problem' in opened) problems.push(opened.problem);
        else got.push(opened);
      },
      control: () => undefined,
      problem: (p) => problems.push(p.why),
    },
  });
  return { reader, got, problems };
}

function frameOf(body: Buffer): Buffer {
  const head = Buffer.alloc(10);
  const end = body.length < 126 ? 2 : body.length < 65536 ? 4 : 10;
  writeFrameHead({ buf: head, end, opcode: OP.binary, fin: true, length: body.length });
  return Buffer.concat([head.subarray(0, end), body]);
}

function sealed(sealer: MessageSealer, msg: Parameters<MessageSealer['sealedLength']>[0]): Buffer {
  const out = Buffer.alloc(sealer.sealedLength(msg));
  sealer.sealInto({ msg, out, at: 0 });
  return out;
}

describe('sealed messages', () => {
  const key = AeadKey.create({ key: randomBytes(32) });

  it('round-trips text and binary messages, the payload opened in the placed buffer', () => {
    const sealer = new MessageSealer({ key });
    const into = Buffer.alloc(2 * MIB);
    const { reader, got, problems } = openingReader(new MessageOpener({ key }), into);
    const payload = randomBytes(MIB + 3);
    const texts = sealed(sealer, { kind: 'text', parts: [Buffer.from('{"t":"res","id":1}')] });
    const bin = sealed(sealer, { kind: 'binary', parts: binaryMessage({ id: 2 }, payload) });
    // The payload is not in the clear on the wire.
    assert.equal(bin.includes(payload.subarray(0, 64)), false);
    const empty = sealed(sealer, { kind: 'binary', parts: binaryMessage({ id: 3 }, Buffer.alloc(0)) });
    reader.push(Buffer.concat([frameOf(texts), frameOf(bin), frameOf(empty)]));
    assert.deepEqual(problems, []);
    assert.equal(got.length, 3);
    assert.deepEqual(got[0], { data: Buffer.from('{"t":"res","id":1}'), binary: false });
    const [head, body] = got[1]!.data as Buffer[];
    assert.equal(head!.readUInt32BE(0), head!.length - 4);
    assert.deepEqual(JSON.parse(head!.subarray(4).toString()), { id: 2 });
    assert.equal(body!.buffer, into.buffer, 'the payload landed in the placed buffer');
    assert.ok(body!.equals(payload));
    assert.deepEqual(JSON.parse((got[2]!.data as Buffer[])[0]!.subarray(4).toString()), { id: 3 });
  });

  it("pairs the two sides' keys from one keying material, and wipes it", () => {
    const material = randomBytes(64);
    const copy = Buffer.from(material);
    const client = sealKeys({ material, side: 'client' });
    assert.ok(material.equals(Buffer.alloc(64)), 'the material was wiped');
    const server = sealKeys({ material: copy, side: 'server' });
    const { reader, got, problems } = openingReader(new MessageOpener({ key: server.recv }));
    reader.push(
      frameOf(sealed(new MessageSealer({ key: client.send }), { kind: 'text', parts: [Buffer.from('{}')] })),
    );
    assert.deepEqual(problems, []);
    assert.equal(got.length, 1);
    const back = openingReader(new MessageOpener({ key: client.recv }));
    back.reader.push(
      frameOf(sealed(new MessageSealer({ key: server.send }), { kind: 'text', parts: [Buffer.from('{}')] })),
    );
    assert.equal(back.got.length, 1);
    const crossed = openingReader(new MessageOpener({ key: client.recv }));
    crossed.reader.push(
      frameOf(sealed(new MessageSealer({ key: client.send }), { kind: 'text', parts: [Buffer.from('{}')] })),
    );
    assert.equal(crossed.got.length, 0, 'a side cannot open what it sealed itself');
  });

  it('seals the same bytes however the message is split into parts', () => {
    const whole = Buffer.concat(binaryMessage({ id: 4, a: 'x'.repeat(300) }, randomBytes(70_000)));
    const h = 4 + whole.readUInt32BE(0);
    const splits: Buffer[][] = [
      [whole],
      [whole.subarray(0, 4), whole.subarray(4, h), whole.subarray(h)], // the usual: payload from its part
      [whole.subarray(0, 2), whole.subarray(2, 9), whole.subarray(9, h + 5), whole.subarray(h + 5)],
      [
        whole.subarray(0, h),
        whole.subarray(h, h + 1000),
        whole.subarray(h + 1000, h + 1000),
        whole.subarray(h + 1000),
      ],
    ];
    const outs = splits.map((parts) => sealed(new MessageSealer({ key }), { kind: 'binary', parts }));
    for (const out of outs.slice(1)) assert.ok(out.equals(outs[0]!));
    const inPlace = Buffer.alloc(SEAL_ROOM + whole.length);
    whole.copy(inPlace, SEAL_ROOM);
    assert.ok(new MessageSealer({ key }).sealInPlace(inPlace.subarray(SEAL_ROOM)).equals(outs[0]!));
    const { reader, got, problems } = openingReader(new MessageOpener({ key }));
    reader.push(frameOf(outs[2]!));
    assert.deepEqual(problems, []);
    assert.ok(Buffer.concat(got[0]!.data as Buffer[]).equals(whole));
  });

  it('seals a frame in place in the room in front of it', () => {
    const sealer = new MessageSealer({ key });
    const payload = randomBytes(100_000);
    const plain = Buffer.concat(binaryMessage({ id: 9, r: { n: 100000 } }, payload));
    const buf = Buffer.alloc(SEAL_ROOM + plain.length);
    plain.copy(buf, SEAL_ROOM);
    const view = sealer.sealInPlace(buf.subarray(SEAL_ROOM));
    assert.equal(view.byteOffset, buf.byteOffset);
    const { reader, got, problems } = openingReader(new MessageOpener({ key }));
    reader.push(frameOf(view));
    assert.deepEqual(problems, []);
    const [head, body] = got[0]!.data as Buffer[];
    assert.deepEqual(JSON.parse(head!.subarray(4).toString()), { id: 9, r: { n: 100000 } });
    assert.ok(body!.equals(payload));
  });

  it('refuses a message altered anywhere, replayed, reordered or under another key', () => {
    const make = () => {
      const sealer = new MessageSealer({ key });
      return [
        sealed(sealer, { kind: 'binary', parts: binaryMessage({ id: 1 }, randomBytes(5000)) }),
        sealed(sealer, { kind: 'text', parts: [Buffer.from('{"id":2}')] }),
      ] as const;
    };
    const refused = (frames: Buffer[], opener = new MessageOpener({ key })) => {
      const { reader, got, problems } = openingReader(opener);
      // A socket ends the connection at the first refusal.
      for (const f of frames) if (problems.length === 0) reader.push(frameOf(f));
      return { got: got.length, problems };
    };
    assert.deepEqual(refused([...make()]), { got: 2, problems: [] });
    for (const at of [0, 3, 10, 25, 40, 60, 4000]) {
      const [a] = make();
      const bad = Buffer.from(a);
      bad[at] = bad[at]! ^ 1;
      const r = refused([bad]);
      assert.equal(r.got, 0, `a flipped byte at ${at} is refused`);
      assert.match(r.problems[0] ?? '', /integrity|head|truncated/);
    }
    const [a, b] = make();
    assert.equal(refused([a, a]).got, 1, 'a replayed message is refused');
    assert.equal(refused([b, a]).got, 0, 'messages out of order are refused');
    const other = new MessageOpener({ key: AeadKey.create({ key: randomBytes(32) }) });
    assert.equal(refused([a], other).got, 0, 'another key opens nothing');
  });
});

describe('a sealed WebSocket (client and node sockets)', () => {
  let server: Server;
  let port: number;
  const material = randomBytes(64);
  const accepted: ServerWireSocket[] = [];
  const received: { data: Buffer | Buffer[]; binary: boolean }[] = [];

  before(async () => {
    server = createServer();
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const ws = ServerWireSocket.accept({
        req,
        socket,
        head,
        protocol: 'tessera.sealed',
        maxMessage: 4 * MIB,
        payloadPlace: (length) => ({ buf: Buffer.alloc(length), release: () => undefined }),
        seal: keysFor(material, 'server'),
      });
      ws.on('message', (data: Buffer | Buffer[], binary: boolean) => {
        received.push({ data, binary });
        // Echo: text as text, binary as one buffer with room in front (the READ answer path).
        if (!binary) return ws.sendText(String(data));
        const [h, p] = data as Buffer[];
        const buf = Buffer.alloc(64 + h!.length + p!.length);
        h!.copy(buf, 64);
        p!.copy(buf, 64 + h!.length);
        ws.sendBinary(buf.subarray(64), { headroom: 64 });
      });
      ws.on('error', () => undefined);
      accepted.push(ws);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    for (const ws of accepted) ws.terminate();
    server.close();
    await once(server, 'close');
  });

  it('carries text and big binary messages both ways, sealed, the answer placed', async () => {
    const into = Buffer.alloc(2 * MIB);
    const ws = await WireSocket.connect({
      url: new URL(`ws://127.0.0.1:${port}/tessera`),
      protocol: 'tessera.sealed',
      maxMessage: 4 * MIB,
      timeoutMs: 5000,
      payloadTarget: () => into,
      seal: keysFor(material, 'client'),
    });
    const got: { data: Buffer | Buffer[]; binary: boolean }[] = [];
    ws.on('message', (data: Buffer | Buffer[], binary: boolean) => got.push({ data, binary }));
    ws.start();
    const payload = randomBytes(MIB);
    ws.send('{"hello":1}');
    ws.send(binaryMessage({ id: 7 }, payload));
    await until(() => got.length === 2, 'both echoes');
    assert.equal(received[0]!.binary, false);
    assert.equal(String(received[0]!.data), '{"hello":1}');
    assert.ok((received[1]!.data as Buffer[])[1]!.equals(payload));
    assert.deepEqual(got[0], { data: Buffer.from('{"hello":1}'), binary: false });
    const [h, p] = got[1]!.data as Buffer[];
    assert.deepEqual(JSON.parse(h!.subarray(4).toString()), { id: 7 });
    assert.equal(p!.buffer, into.buffer);
    assert.ok(p!.equals(payload));
    ws.terminate();
  });

  it('ends the connection when a client seals with the wrong keys', async () => {
    const ws = await WireSocket.connect({
      url: new URL(`ws://127.0.0.1:${port}/tessera`),
      protocol: 'tessera.sealed',
      maxMessage: 4 * MIB,
      timeoutMs: 5000,
      seal: keysFor(randomBytes(64), 'client'),
    });
    ws.start();
    const before = received.length;
    const closed = once(ws, 'close');
    ws.send('{"hello":2}');
    await closed;
    assert.equal(received.length, before, 'nothing reached the node');
  });
});
