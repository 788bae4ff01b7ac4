import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FsError } from '../../src/core/fs-error.ts';
import {
  decodeFrame,
  decodeFrameParts,
  encodeFrame,
  encodeFrameInPlace,
  joinFrame,
  MAX_PAYLOAD_BYTES,
} from '../../src/protocol/frames.ts';
import { decodeClientMessage, encodeRequest, encodeResultInPlace } from '../../src/protocol/messages.ts';
import { stringifyWire } from '../../src/protocol/schemas.ts';

describe('protocol frames written in place and read from fragments', () => {
  it('encodeFrameInPlace writes prefix and header just before the payload, as encodeFrame would', () => {
    const payload = Buffer.from('file bytes here');
    const buf = Buffer.alloc(256 + payload.length, 0xee);
    payload.copy(buf, 256);
    const frame = encodeFrameInPlace({ t: 'res', id: 7, ok: true, r: {} }, buf, 256, payload.length)!;
    assert.ok(frame);
    assert.equal(frame.buffer, buf.buffer, 'a view of the same memory, not a copy');
    assert.equal(frame.byteOffset + frame.length, buf.byteOffset + 256 + payload.length);
    assert.deepEqual(frame, joinFrame(encodeFrame({ t: 'res', id: 7, ok: true, r: {} }, payload)));
    const decoded = decodeFrame(frame, true);
    assert.deepEqual(decoded.message, { t: 'res', id: 7, ok: true, r: {} });
    assert.deepEqual(decoded.payload, payload);
  });

  it('encodeFrameInPlace gives up (undefined) when the header does not fit before the payload', () => {
    const buf = Buffer.alloc(40);
    assert.equal(
      encodeFrameInPlace({ t: 'res', id: 1, ok: true, r: { long: 'x'.repeat(64) } }, buf, 20, 20),
      undefined,
    );
    // Nothing before the payload was touched.
    assert.deepEqual(buf, Buffer.alloc(40));
  });

  it('encodeResultInPlace encodes bigints as strings like every other frame', () => {
    const buf = Buffer.alloc(300);
    const frame = encodeResultInPlace({
      id: 3,
      result: { n: 5n },
      buf,
      payloadStart: 256,
      payloadLength: 44,
    })!;
    assert.deepEqual(decodeFrame(frame, true).message, { t: 'res', id: 3, ok: true, r: { n: '5' } });
  });

  it('decodeFrameParts takes a payload fragment as is after a header fragment', () => {
    const [prefix, header, payload] = encodeRequest({
      id: 9,
      op: 'WRITE',
      args: { handle: 1, offset: 0 },
      payload: Buffer.from('abc'),
    }) as Buffer[];
    const head = Buffer.concat([prefix!, header!]);
    const decoded = decodeFrameParts([head, payload!]);
    assert.equal(decoded.payload, payload, 'the very fragment, not a copy');
    assert.deepEqual(decoded.message, { t: 'req', id: 9, op: 'WRITE', a: { handle: 1, offset: 0 } });
  });

  it('decodeFrameParts joins any other split (and a single part) before decoding', () => {
    const whole = joinFrame(
      encodeRequest({
        id: 2,
        op: 'WRITE',
        args: { handle: 1, offset: 8 },
        payload: Buffer.from('0123456789'),
      }),
    ) as Buffer;
    for (const cut of [1, 3, 4, 10, whole.length - 3]) {
      const parts = [whole.subarray(0, cut), whole.subarray(cut)];
      assert.deepEqual(decodeFrameParts(parts), decodeFrame(whole, true), `cut at ${cut}`);
    }
    const three = [whole.subarray(0, 2), whole.subarray(2, 9), whole.subarray(9)];
    assert.deepEqual(decodeFrameParts(three), decodeFrame(whole, true));
    assert.deepEqual(decodeFrameParts([whole]), decodeFrame(whole, true));
  });

  it('decodeFrameParts refuses oversized and malformed frames with EPROTO', () => {
    const head = Buffer.concat(
      (
        encodeRequest({
          id: 1,
          op: 'WRITE',
          args: { handle: 1, offset: 0 },
          payload: Buffer.alloc(1),
        }) as Buffer[]
      ).slice(0, 2),
    );
    assert.throws(
      () => decodeFrameParts([head, Buffer.alloc(MAX_PAYLOAD_BYTES + 1)]),
      (err: unknown) => FsError.is(err, 'EPROTO'),
    );
    const bad = Buffer.from([0, 0, 0, 3, 0x7b, 0x7b, 0x7b]);
    assert.throws(
      () => decodeFrameParts([bad, Buffer.from('x')]),
      (err: unknown) => FsError.is(err, 'EPROTO'),
    );
  });

  it('decodeClientMessage accepts fragments: binary ones decoded in parts, text ones joined', () => {
    const [prefix, header, payload] = encodeRequest({
      id: 4,
      op: 'WRITE',
      args: { handle: 2, offset: 16 },
      payload: Buffer.from('data'),
    }) as Buffer[];
    const msg = decodeClientMessage([Buffer.concat([prefix!, header!]), payload!], true);
    assert.equal(msg.t, 'req');
    if (msg.t === 'req') {
      assert.equal(msg.req.op, 'WRITE');
      assert.equal(msg.req.payload, payload);
    }
    const text = Buffer.from(JSON.stringify({ t: 'req', id: 5, op: 'PING', a: {} }));
    const ping = decodeClientMessage([text.subarray(0, 5), text.subarray(5)], false);
    assert.equal(ping.t === 'req' && ping.req.op, 'PING');
  });
});

describe('stringifyWire', () => {
  const reference = (v: unknown) =>
    JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));

  it('writes exactly what JSON.stringify with a bigint replacer writes', () => {
    class Holder {
      big = 5n;
      name = 'h';
    }
    const nullProto = Object.assign(Object.create(null) as object, { n: 7n, s: 'x' });
    const shared = { id: 1n };
    const values: unknown[] = [
      1n,
      'text',
      null,
      [1n, 2, '3', [4n], { a: 5n }],
      {
        t: 'res',
        id: 3,
        ok: true,
        r: { entries: [{ name: 'a', id: 281474976710657n, attr: { mtimeNs: -5n, size: 1 } }] },
      },
      { skipped: undefined, fn: () => 1, nested: { deeper: { big: 12345678901234567890n } } },
      { when: new Date(0), bytes: Buffer.from('ab'), holder: new Holder() },
      nullProto,
      { a: shared, b: shared },
      [undefined, () => 1],
    ];
    for (const v of values) assert.equal(stringifyWire(v), reference(v));
  });

  it('handles bigints nested deeper than it converts eagerly', () => {
    let deep: unknown = { bottom: 42n };
    for (let i = 0; i < 100; i++) deep = { next: deep, list: [i] };
    assert.equal(stringifyWire(deep), reference(deep));
  });

  it('leaves its input untouched', () => {
    const input = { list: [{ id: 9n }], n: 1n };
    stringifyWire(input);
    assert.equal(input.n, 1n);
    assert.equal(input.list[0]!.id, 9n);
  });

  it('fails on a cycle like JSON.stringify does', () => {
    const cyc: Record<string, unknown> = { n: 1n };
    cyc.self = cyc;
    assert.throws(() => stringifyWire(cyc), TypeError);
  });
});
