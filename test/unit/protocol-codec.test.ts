import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FsError } from '../../src/core/fs-error.ts';
import { decodeFrame, joinFrame, MAX_HEADER_BYTES, MAX_TEXT_BYTES } from '../../src/protocol/frames.ts';
import {
  BadRequest,
  decodeClientMessage,
  decodeResult,
  decodeServerMessage,
  encodeFailure,
  encodeRequest,
  encodeResult,
} from '../../src/protocol/messages.ts';
import type { OPS } from '../../src/protocol/ops.ts';
import { negotiateVersion } from '../../src/protocol/version.ts';
import { rng } from '../helpers/rng.ts';

const attr = {
  kind: 'file',
  mode: 0o644,
  nlink: 1,
  uid: 0,
  gid: 0,
  size: 5,
  atimeNs: 1n,
  mtimeNs: 2n,
  ctimeNs: 3n,
  gen: 1,
};
const samples: { op: keyof typeof OPS; args: unknown; payload?: Buffer }[] = [
  { op: 'LOOKUP', args: { parent: (3n << 48n) | 1n, name: 'file.txt' } },
  { op: 'GETATTR', args: { id: 18446744073709551615n } },
  { op: 'SETATTR', args: { id: 5n, size: 10, mtimeNs: -5n } },
  { op: 'READDIRP', args: { dir: 1n, cookie: '', max: 100 } },
  { op: 'OPEN', args: { id: 9n, flags: { read: true, write: false } } },
  { op: 'READ', args: { handle: 1, offset: 0, length: 65536 } },
  { op: 'WRITE', args: { handle: 1, offset: 4096 }, payload: Buffer.from([0, 1, 2, 255]) },
  { op: 'CLOSE', args: { handle: 1 } },
  { op: 'CLOSE', args: { handle: 1, offset: 7 }, payload: Buffer.from('last bytes') },
  { op: 'RENAME', args: { parent: 1n, name: 'a', newParent: 2n, newName: 'b', noreplace: true } },
  { op: 'SETXATTR', args: { id: 1n, name: 'user.x' }, payload: Buffer.alloc(0) },
  { op: 'LOCK', args: { handle: 3, cmd: 'wait', type: 'write', start: 0, length: 0 } },
  { op: 'WAIT', args: { id: 1n, timeoutMs: 1000 } },
  { op: 'PING', args: {} },
];

/** Decoding any input either yields a message or throws a protocol error; nothing else. */
function decodeSafely(data: Buffer | string, binary: boolean): void {
  try {
    decodeClientMessage(data, binary);
  } catch (err) {
    if (err instanceof BadRequest) {
      assert.equal(err.error.code, 'EPROTO');
      return;
    }
    assert.ok(FsError.is(err, 'EPROTO'), `unexpected ${String(err)}`);
  }
}

describe('protocol codec', () => {
  it('round-trips every sample request with bigint ids and binary payloads', () => {
    samples.forEach(({ op, args, payload }, i) => {
      const frame = joinFrame(encodeRequest({ id: i + 1, op, args, payload }));
      const msg = decodeClientMessage(frame, typeof frame !== 'string');
      assert.equal(msg.t, 'req');
      if (msg.t !== 'req') return;
      assert.equal(msg.req.op, op);
      assert.equal(msg.req.id, i + 1);
      assert.deepEqual(msg.req.args, args);
      assert.deepEqual(msg.req.payload, payload);
    });
  });

  it('round-trips results and errors', () => {
    const res = joinFrame(encodeResult({ id: 7, result: { id: 42n, attr } }));
    const m = decodeServerMessage(res, typeof res !== 'string');
    assert.ok(m.t === 'res' && m.ok);
    assert.deepEqual(decodeResult('LOOKUP', m.r), { id: 42n, attr });
    const fail = decodeServerMessage(encodeFailure({ id: 8, error: FsError.ENOENT('lookup', '/x') }), false);
    assert.ok(fail.t === 'res' && !fail.ok);
    assert.equal(fail.err.code, 'ENOENT');
    assert.equal(fail.err.path, '/x');
  });

  it('carries a READDIRP page of 10,000 entries with long names in one text frame', () => {
    const entries = Array.from({ length: 10_000 }, (_, i) => ({
      name: `${'n'.repeat(200)}-${i}`,
      id: BigInt(i + 2),
      attr,
    }));
    const frame = joinFrame(encodeResult({ id: 9, result: { entries, cookie: 'c', eof: false } }));
    assert.equal(typeof frame, 'string');
    const m = decodeServerMessage(frame, false);
    assert.ok(m.t === 'res' && m.ok);
    assert.equal(decodeResult('READDIRP', m.r).entries.length, 10_000);
  });

  it('rejects wrong payload use, unknown ops and bad arguments with the request id', () => {
    const cases: [string | Buffer, boolean, RegExp][] = [
      [
        joinFrame(encodeRequest({ id: 1, op: 'WRITE', args: { handle: 1, offset: 0 } })),
        false,
        /needs a binary payload/,
      ],
      [
        joinFrame(encodeRequest({ id: 2, op: 'GETATTR', args: { id: 1n }, payload: Buffer.from('x') })),
        true,
        /carries no payload/,
      ],
      [JSON.stringify({ t: 'req', id: 3, op: 'FORMAT_DISK', a: {} }), false, /unknown op/],
      [
        JSON.stringify({ t: 'req', id: 4, op: 'GETATTR', a: { id: '-1' } }),
        false,
        /bad GETATTR arguments: id/,
      ],
      [
        JSON.stringify({ t: 'req', id: 5, op: 'LOOKUP', a: { parent: '1', name: 'x', extra: 1 } }),
        false,
        /bad LOOKUP arguments/,
      ],
      [
        joinFrame(encodeRequest({ id: 6, op: 'CLOSE', args: { handle: 1, offset: 0 } })),
        false,
        /CLOSE has an offset but no bytes to write there/,
      ],
      [
        joinFrame(encodeRequest({ id: 7, op: 'CLOSE', args: { handle: 1 }, payload: Buffer.from('x') })),
        true,
        /CLOSE carries bytes but no offset for them/,
      ],
      [
        joinFrame(
          encodeRequest({ id: 8, op: 'CLOSE', args: { handle: 1, offset: -1 }, payload: Buffer.from('x') }),
        ),
        true,
        /bad CLOSE arguments: offset/,
      ],
    ];
    cases.forEach(([frame, binary, re], i) => {
      assert.throws(
        () => decodeClientMessage(frame, binary),
        (err: unknown) => err instanceof BadRequest && err.id === i + 1 && re.test(err.error.message),
      );
    });
  });

  it('rejects truncated, oversized and malformed frames with EPROTO', () => {
    const good = joinFrame(
      encodeRequest({ id: 1, op: 'WRITE', args: { handle: 1, offset: 0 }, payload: Buffer.alloc(100, 7) }),
    ) as Buffer;
    for (let len = 0; len < 60; len++) decodeSafely(good.subarray(0, len), true);
    const huge = Buffer.alloc(8);
    huge.writeUInt32BE(MAX_HEADER_BYTES + 1, 0);
    assert.throws(
      () => decodeFrame(huge, true),
      (e: unknown) => FsError.is(e, 'EPROTO') && /header length/.test(e.message),
    );
    assert.throws(
      () => decodeFrame('x'.repeat(MAX_TEXT_BYTES + 1), false),
      (e: unknown) => FsError.is(e, 'EPROTO'),
    );
    assert.throws(
      () => decodeFrame('{"t":', false),
      (e: unknown) => FsError.is(e, 'EPROTO') && /not valid JSON/.test(e.message),
    );
    assert.throws(
      () => decodeClientMessage('[1,2,3]', false),
      (e: unknown) => FsError.is(e, 'EPROTO'),
    );
    assert.throws(
      () => decodeClientMessage('null', false),
      (e: unknown) => FsError.is(e, 'EPROTO'),
    );
  });

  it('fuzz: random and mutated frames never throw anything but a protocol error', () => {
    const seed = Number(process.env.TESSERA_FUZZ_SEED ?? 20261121);
    const rand = rng(seed);
    const valid = samples.map(({ op, args, payload }, i) =>
      joinFrame(encodeRequest({ id: i + 1, op, args, payload })),
    );
    for (let n = 0; n < 20_000; n++) {
      const base = valid[Math.floor(rand() * valid.length)]!;
      let buf = Buffer.from(typeof base === 'string' ? Buffer.from(base) : base);
      const mode = rand();
      if (mode < 0.3) {
        buf = Buffer.from(Array.from({ length: Math.floor(rand() * 200) }, () => Math.floor(rand() * 256)));
      } else if (mode < 0.6) {
        for (let k = 0; k < 1 + rand() * 4; k++)
          buf[Math.floor(rand() * buf.length)] = Math.floor(rand() * 256);
      } else if (mode < 0.8) {
        buf = buf.subarray(0, Math.floor(rand() * buf.length));
      } else {
        const s = buf.toString('latin1');
        const at = Math.floor(rand() * s.length);
        const junk = [
          '"',
          '{',
          '}',
          '[',
          ',',
          ':',
          '"id":',
          '-1',
          '1e309',
          'null',
          '\\u0000',
          '"__proto__":{}',
        ][Math.floor(rand() * 12)]!;
        buf = Buffer.from(s.slice(0, at) + junk + s.slice(at), 'latin1');
      }
      decodeSafely(buf, rand() < 0.5);
      decodeSafely(buf.toString('utf8'), false);
    }
  });

  it('negotiates the highest common version and explains a mismatch', () => {
    assert.equal(negotiateVersion({ client: { min: 1, max: 5 }, server: { min: 1, max: 3 } }), 3);
    assert.equal(negotiateVersion({ client: { min: 2, max: 2 }, server: { min: 1, max: 3 } }), 2);
    assert.throws(
      () => negotiateVersion({ client: { min: 4, max: 6 }, server: { min: 2, max: 3 } }),
      (e: unknown) => FsError.is(e, 'EPROTO') && /client speaks 4–6, server 2–3/.test(e.message),
    );
  });
});
