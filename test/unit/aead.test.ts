import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AeadKey, type AeadMessage, aeadAvailable, aeadLoadError } from '../../src/protocol/aead.ts';

const linux = process.platform === 'linux';
const MiB = 1 << 20;

// node:crypto is the reference implementation the addon's output is checked against.
function nodeSeal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plain: Uint8Array) {
  const c = createCipheriv('aes-256-gcm', key, nonce);
  if (aad.length > 0) c.setAAD(aad);
  const ct = Buffer.concat([c.update(plain), c.final()]);
  return { ct, tag: c.getAuthTag() };
}

function nodeOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  ct: Uint8Array,
  tag: Uint8Array,
): Buffer {
  const d = createDecipheriv('aes-256-gcm', key, nonce);
  if (aad.length > 0) d.setAAD(aad);
  d.setAuthTag(tag);
  return Buffer.concat([d.update(ct), d.final()]);
}

function fresh() {
  const keyBytes = randomBytes(32);
  return { keyBytes, key: AeadKey.create({ key: keyBytes }), nonce: randomBytes(12) };
}

void describe('aead: loading', { skip: !linux }, () => {
  void it('loads the tessera_seal addon on Linux', () => {
    assert.equal(aeadAvailable, true, `addon did not load: ${aeadLoadError?.message}`);
    assert.equal(aeadLoadError, undefined);
  });
});

void describe('aead: interoperates with node:crypto aes-256-gcm', { skip: !linux }, () => {
  for (const size of [0, 1, 100, MiB]) {
    for (const aadLen of [0, 13]) {
      void it(`seal → node opens, and node seals → open, ${size} bytes, ${aadLen} bytes of AAD`, () => {
        const { keyBytes, key, nonce } = fresh();
        const aad = randomBytes(aadLen);
        const plain = randomBytes(size);

        // Out of place; dst longer than src keeps its tail.
        const dst = Buffer.alloc(size + 4, 0xee);
        const tag = Buffer.alloc(16);
        key.seal({ nonce, aad, src: plain, dst, tag });
        assert.deepEqual(dst.subarray(size), Buffer.alloc(4, 0xee));
        assert.deepEqual(nodeOpen(keyBytes, nonce, aad, dst.subarray(0, size), tag), plain);

        // In place, in a view that does not start at its buffer's beginning.
        const frame = Buffer.alloc(size + 7);
        plain.copy(frame, 7);
        const body = frame.subarray(7);
        const tag2 = Buffer.alloc(16);
        key.seal({ nonce, aad, src: body, dst: body, tag: tag2 });
        assert.deepEqual(body, dst.subarray(0, size));
        assert.deepEqual(tag2, tag);

        // node:crypto seals; the addon opens out of place and in place.
        const ref = nodeSeal(keyBytes, nonce, aad, plain);
        const out = Buffer.alloc(size, 0xaa);
        assert.equal(key.open({ nonce, aad, src: ref.ct, dst: out, tag: ref.tag }), true);
        assert.deepEqual(out, plain);
        assert.equal(key.open({ nonce, aad, src: ref.ct, dst: ref.ct, tag: ref.tag }), true);
        assert.deepEqual(ref.ct, plain);
        key.close();
      });
    }
  }

  void it('leaves aad out when omitted, as an empty AAD', () => {
    const { keyBytes, key, nonce } = fresh();
    const plain = randomBytes(50);
    const dst = Buffer.alloc(50);
    const tag = Buffer.alloc(16);
    key.seal({ nonce, src: plain, dst, tag });
    assert.deepEqual(nodeOpen(keyBytes, nonce, new Uint8Array(0), dst, tag), plain);
    assert.equal(key.open({ nonce, src: dst, dst, tag }), true);
    assert.deepEqual(dst, plain);
  });

  void it('reads a tag that lies inside dst before the plaintext overwrites it', () => {
    const { keyBytes, key, nonce } = fresh();
    const plain = randomBytes(64);
    const ref = nodeSeal(keyBytes, nonce, new Uint8Array(0), plain);
    const dst = Buffer.alloc(80);
    ref.tag.copy(dst, 40);
    assert.equal(key.open({ nonce, src: ref.ct, dst, tag: dst.subarray(40, 56) }), true);
    assert.deepEqual(dst.subarray(0, 64), plain);
  });
});

void describe('aead: a message that does not authenticate', { skip: !linux }, () => {
  const size = 1000;
  const setup = () => {
    const { keyBytes, key, nonce } = fresh();
    const aad = randomBytes(20);
    const plain = randomBytes(size);
    const { ct, tag } = nodeSeal(keyBytes, nonce, aad, plain);
    return { key, nonce, aad, ct, tag };
  };
  const flip = (b: Uint8Array, i: number): Buffer => {
    const copy = Buffer.from(b);
    copy[i]! ^= 0x01;
    return copy;
  };
  const cases: [string, (m: ReturnType<typeof setup>) => AeadMessage & { key?: AeadKey }][] = [
    [
      'a ciphertext byte',
      (m) => ({ nonce: m.nonce, aad: m.aad, src: flip(m.ct, 500), dst: m.ct, tag: m.tag }),
    ],
    [
      'the last ciphertext byte',
      (m) => ({ nonce: m.nonce, aad: m.aad, src: flip(m.ct, size - 1), dst: m.ct, tag: m.tag }),
    ],
    ['a tag byte', (m) => ({ nonce: m.nonce, aad: m.aad, src: m.ct, dst: m.ct, tag: flip(m.tag, 15) })],
    ['an AAD byte', (m) => ({ nonce: m.nonce, aad: flip(m.aad, 0), src: m.ct, dst: m.ct, tag: m.tag })],
    ['the AAD left out', (m) => ({ nonce: m.nonce, src: m.ct, dst: m.ct, tag: m.tag })],
    ['a nonce byte', (m) => ({ nonce: flip(m.nonce, 11), aad: m.aad, src: m.ct, dst: m.ct, tag: m.tag })],
    [
      'another key',
      (m) => ({ key: fresh().key, nonce: m.nonce, aad: m.aad, src: m.ct, dst: m.ct, tag: m.tag }),
    ],
  ];
  for (const [what, make] of cases) {
    void it(`changed ${what}: open returns false and zeroes dst, in place or not`, () => {
      const m = setup();
      const msg = make(m);
      const key = msg.key ?? m.key;
      // Out of place, into a dst with a tail that must stay as it was.
      const dst = Buffer.alloc(size + 3, 0x55);
      assert.equal(key.open({ ...msg, dst }), false);
      assert.deepEqual(dst, Buffer.concat([Buffer.alloc(size), Buffer.alloc(3, 0x55)]));
      // In place (src is dst).
      const inPlace = Buffer.from(msg.src);
      assert.equal(key.open({ ...msg, src: inPlace, dst: inPlace }), false);
      assert.deepEqual(inPlace, Buffer.alloc(size));
      // The untouched message still opens: the failure was the change, not the key's state.
      const out = Buffer.alloc(size);
      assert.equal(m.key.open({ nonce: m.nonce, aad: m.aad, src: m.ct, dst: out, tag: m.tag }), true);
    });
  }
});

void describe('aead: bad arguments throw, naming the argument', { skip: !linux }, () => {
  const nonce = randomBytes(12);
  const src = randomBytes(32);
  const dst = Buffer.alloc(32);
  const tag = Buffer.alloc(16);

  void it('refuses a key of the wrong length or type', () => {
    assert.throws(() => AeadKey.create({ key: randomBytes(31) }), {
      name: 'RangeError',
      message: /key must be 32 bytes, got 31/,
    });
    assert.throws(() => AeadKey.create({ key: 'k'.repeat(32) as unknown as Uint8Array }), {
      name: 'TypeError',
      message: /key must be a Uint8Array/,
    });
    assert.throws(() => AeadKey.create({ key: new Uint16Array(16) as unknown as Uint8Array }), {
      name: 'TypeError',
      message: /key must be a Uint8Array/,
    });
  });

  void it('refuses wrong lengths, types and overlaps in seal and open', () => {
    const { key } = fresh();
    for (const op of ['seal', 'open'] as const) {
      const call = (m: Partial<AeadMessage>) => () => key[op]({ nonce, src, dst, tag, ...m });
      const fn = op === 'seal' ? 'aeadSeal' : 'aeadOpen';
      assert.throws(call({ nonce: nonce.subarray(1) }), {
        name: 'RangeError',
        message: `${fn}: nonce must be 12 bytes, got 11`,
      });
      assert.throws(call({ nonce: Buffer.alloc(16) }), {
        name: 'RangeError',
        message: /nonce must be 12 bytes, got 16/,
      });
      assert.throws(call({ tag: Buffer.alloc(15) }), {
        name: 'RangeError',
        message: /tag must be 16 bytes, got 15/,
      });
      assert.throws(call({ dst: Buffer.alloc(31) }), {
        name: 'RangeError',
        message: /dst is 31 bytes, shorter than src \(32\)/,
      });
      assert.throws(call({ src: [1, 2] as unknown as Uint8Array }), {
        name: 'TypeError',
        message: /src must be a Uint8Array/,
      });
      assert.throws(call({ dst: new DataView(new ArrayBuffer(32)) as unknown as Uint8Array }), {
        name: 'TypeError',
        message: /dst must be a Uint8Array/,
      });
      assert.throws(call({ aad: 'header' as unknown as Uint8Array }), {
        name: 'TypeError',
        message: /aad must be a Uint8Array/,
      });
      const shared = Buffer.alloc(40);
      assert.throws(call({ src: shared.subarray(0, 32), dst: shared.subarray(4, 36) }), {
        name: 'RangeError',
        message: /src and dst partly overlap/,
      });
    }
    // The tag is written after the ciphertext: over it, it would corrupt the message.
    const frame = Buffer.alloc(48);
    assert.throws(() => key.seal({ nonce, src, dst: frame.subarray(0, 32), tag: frame.subarray(16, 32) }), {
      name: 'RangeError',
      message: /tag overlaps dst/,
    });
    // Right after the ciphertext is fine.
    key.seal({ nonce, src, dst: frame.subarray(0, 32), tag: frame.subarray(32, 48) });
    assert.equal(key.open({ nonce, src: frame.subarray(0, 32), dst, tag: frame.subarray(32, 48) }), true);
    assert.deepEqual(dst, src);
  });

  void it('refuses use after close; close is idempotent', () => {
    const { key } = fresh();
    key.seal({ nonce, src, dst, tag });
    assert.equal(key.closed, false);
    key.close();
    key.close();
    assert.equal(key.closed, true);
    assert.throws(() => key.seal({ nonce, src, dst, tag }), {
      code: 'ERR_INVALID_STATE',
      message: /key was destroyed/,
    });
    assert.throws(() => key.open({ nonce, src, dst, tag }), {
      code: 'ERR_INVALID_STATE',
      message: /key was destroyed/,
    });
  });
});

void describe('aead: the raw addon', { skip: !linux }, () => {
  void it('takes only a key made by aeadKey for a key', () => {
    const file = fileURLToPath(new URL('../../build/Release/tessera_seal.node', import.meta.url));
    const raw = createRequire(import.meta.url)(file) as Record<string, (...args: unknown[]) => unknown>;
    const args = [randomBytes(12), new Uint8Array(0), randomBytes(8), Buffer.alloc(8), Buffer.alloc(16)];
    for (const notAKey of [{}, null, randomBytes(32)]) {
      assert.throws(() => raw.aeadSeal!(notAKey, ...args), {
        name: 'TypeError',
        message: 'aeadSeal: key must be a key made by aeadKey',
      });
    }
    assert.throws(() => raw.aeadOpen!(), { name: 'TypeError', message: /key must be a key made by aeadKey/ });
  });
});
