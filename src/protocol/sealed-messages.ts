import { AeadKey } from './aead.ts';
import type { PayloadLease, PayloadPlace } from './websocket-reader.ts';

/**
 * Sealed messages: the record layer of a sealed connection (docs/protocol.md, "Sealed
 * connections"). After a TLS session authenticated, its bulk traffic may move to a plain
 * TCP WebSocket whose every data message is sealed with AES-256-GCM under keys exported from
 * that TLS session — one key per direction, nonces from a per-direction message counter — so
 * the bytes are as private and as tamper-evident as under TLS, but sealed once per message
 * in place (file bytes included) instead of once per 16 KiB record with copies.
 *
 * Every data message is a binary WebSocket message laid out as
 *
 *     u32 L · tagH(16) · seal₀(kind(1) · tagP(16) · body) · seal₁(payload)
 *
 * with L = 33 + body length. `seal₀` is sealed under nonce (0, k) with the four bytes of L as
 * associated data, `seal₁` under nonce (1, k), where k counts the direction's messages from
 * 0; tagP, the payload's tag, travels inside the sealed head. kind 0 is a text message (body =
 * its UTF-8, no payload); kind 1 a binary one (body = the JSON header of `u32 N · header ·
 * payload`). A receiver opens the head as soon as it has it, so the payload can be placed
 * (a READ's bytes straight into the caller's buffer) and opened there, in place.
 *
 * Any message that fails to open ends the connection: a reordered, replayed, dropped or
 * altered message changes the counter or the bytes, and GCM refuses it.
 */

/** Bytes a sealed message adds in front of its `u32 N · header`: tagH, kind, tagP. */
export const SEAL_ROOM = 33;
/** The WebSocket subprotocol of a sealed connection. */
export const SEALED_SUBPROTOCOL = 'tessera.sealed';
/** The upgrade request header that carries the ticket (lower case, as Node reports it). */
export const SEAL_TICKET_HEADER = 'tessera-seal-ticket';
/** The TLS exporter label (RFC 8446 §7.5) the keys are derived under; the ticket is the context. */
export const SEAL_EXPORTER_LABEL = 'EXPORTER-tessera-sealed-v1';
/** Bytes of keying material exported: the client-to-server key, then the server-to-client key. */
export const SEAL_KEYING_BYTES = 64;
/** A ticket: 16 random bytes, as 32 lower-case hex digits. */
export const SEAL_TICKET_PATTERN = /^[0-9a-f]{32}$/;

const TAG = 16;
const KIND_AT = 16; // within the sealed head (after the u32 L)
const TAG_P_AT = 17;
const BODY_AT = 33;
const KIND_TEXT = 0;
const KIND_BINARY = 1;
const EMPTY = Buffer.alloc(0);

/** The two keys of a sealed connection, as one side uses them. */
export interface SealKeys {
  send: AeadKey;
  recv: AeadKey;
}

/**
 * One side's keys, from the keying material exported for the connection (which is wiped):
 * the client sends with the first half and receives with the second, the server the other
 * way round.
 */
export function sealKeys(opts: { material: Buffer; side: 'client' | 'server' }): SealKeys {
  const c2s = opts.material.subarray(0, 32);
  const s2c = opts.material.subarray(32, 64);
  const [send, recv] = opts.side === 'client' ? [c2s, s2c] : [s2c, c2s];
  try {
    return { send: AeadKey.create({ key: send }), recv: AeadKey.create({ key: recv }) };
  } finally {
    opts.material.fill(0);
  }
}

/** Nonces of one direction: (part, k) as u32 · u64, k the message counter. */
class Counter {
  #k = 0;
  readonly #nonce = Buffer.alloc(12);

  nonce(part: 0 | 1): Buffer {
    this.#nonce.writeUInt32BE(part, 0);
    this.#nonce.writeUInt32BE(Math.floor(this.#k / 0x1_0000_0000), 4);
    this.#nonce.writeUInt32BE(this.#k >>> 0, 8);
    return this.#nonce;
  }

  next(): void {
    this.#k++;
  }
}

/** A message to seal: text (its UTF-8 bytes) or binary (`u32 N · header · payload`, in parts). */
export interface PlainMessage {
  kind: 'text' | 'binary';
  parts: readonly Uint8Array[];
}

/** Seals the outgoing messages of one connection, in the order they are sent. */
export class MessageSealer {
  readonly #key: AeadKey;
  readonly #counter = new Counter();
  readonly #aad = Buffer.alloc(4);

  constructor(opts: { key: AeadKey }) {
    this.#key = opts.key;
  }

  /** The sealed size of a message. */
  sealedLength(msg: PlainMessage): number {
    let n = 0;
    for (const p of msg.parts) n += p.byteLength;
    // Text gains u32 L and the room; binary already has its u32 N, which L replaces.
    return msg.kind === 'text' ? 4 + SEAL_ROOM + n : SEAL_ROOM + n;
  }

  /** Write the sealed form of `msg` into `out` at `at` ({@link sealedLength} bytes). */
  sealInto(opts: { msg: PlainMessage; out: Buffer; at: number }): void {
    const { msg, out, at } = opts;
    // The plain bytes go where they end up (text behind the room, binary's u32 N under tagP's
    // last bytes) and are sealed there — but a last part that is exactly the payload (the
    // usual `[prefix, header, bytes]`) is sealed from where it is (one pass over the bytes).
    const { parts } = msg;
    const end = at + this.sealedLength(msg);
    let to = msg.kind === 'text' ? at + 4 + SEAL_ROOM : at + SEAL_ROOM;
    for (let i = 0; i < parts.length - 1; i++) {
      out.set(parts[i]!, to);
      to += parts[i]!.byteLength;
    }
    const last = parts.at(-1);
    // Where a binary message's payload starts, once its u32 N is in.
    const prefixEnd = at + SEAL_ROOM + 4;
    const payloadAt = (): number => prefixEnd + out.readUInt32BE(at + SEAL_ROOM);
    let from: Uint8Array | undefined;
    if (msg.kind === 'binary' && last !== undefined && to >= prefixEnd && to === payloadAt()) from = last;
    else if (last !== undefined) out.set(last, to);
    if (msg.kind === 'binary' && payloadAt() > end)
      throw new RangeError('a binary message whose header runs past its end');
    const bodyLength = msg.kind === 'text' ? end - at - 4 - SEAL_ROOM : out.readUInt32BE(at + SEAL_ROOM);
    this.#finish(out.subarray(at, end), msg.kind, bodyLength, from);
  }

  /**
   * Seal, in place, a binary message `u32 N · header · payload` that sits in one buffer with
   * {@link SEAL_ROOM} free bytes in front of it (in its memory); returns the sealed view.
   */
  sealInPlace(frame: Buffer): Buffer {
    const sealed = Buffer.from(frame.buffer, frame.byteOffset - SEAL_ROOM, frame.length + SEAL_ROOM);
    this.#finish(sealed, 'binary', frame.readUInt32BE(0));
    return sealed;
  }

  /**
   * `s` = u32 L · room · body · payload with the body plain, and the payload plain in place
   * or in `from`: seal both, fill in the rest.
   */
  #finish(s: Buffer, kind: PlainMessage['kind'], bodyLength: number, from?: Uint8Array): void {
    const headEnd = 4 + BODY_AT + bodyLength;
    const payload = s.subarray(headEnd);
    const head = s.subarray(4 + KIND_AT, headEnd);
    const tagP = s.subarray(4 + TAG_P_AT, 4 + BODY_AT);
    if (payload.length > 0) {
      const src = from ?? payload;
      this.#key.seal({ nonce: this.#counter.nonce(1), aad: EMPTY, src, dst: payload, tag: tagP });
    } else tagP.fill(0);
    s[4 + KIND_AT] = kind === 'text' ? KIND_TEXT : KIND_BINARY;
    s.writeUInt32BE(BODY_AT + bodyLength, 0);
    this.#aad.set(s.subarray(0, 4));
    this.#key.seal({
      nonce: this.#counter.nonce(0),
      aad: this.#aad,
      src: head,
      dst: head,
      tag: s.subarray(4, 4 + TAG),
    });
    this.#counter.next();
  }
}

/** A received head, opened: what kind of message, its body and the payload's tag. */
interface OpenHead {
  kind: number;
  tagP: Buffer;
  /** `u32 N · body` (a view of the received bytes, N written over tagP's last bytes). */
  plain: Buffer;
}

/** The result of opening a message: the plain message, or why it was refused. */
export type Opened = { data: Buffer | Buffer[]; binary: boolean } | { problem: string };

/**
 * Opens the incoming messages of one connection, in order. Wraps the frame reader's `place`
 * (so a payload's destination is chosen from its opened header) and turns every received
 * message back into the plain one.
 */
export class MessageOpener {
  readonly #key: AeadKey;
  readonly #counter = new Counter();
  readonly #aad = Buffer.alloc(4);
  /** The head of the message being received, opened when `place` was asked about it. */
  #opened: OpenHead | string | undefined;

  constructor(opts: { key: AeadKey }) {
    this.#key = opts.key;
  }

  /** A `place` for the frame reader: opens the head, then asks `inner` with the plain header. */
  wrapPlace(inner: PayloadPlace | undefined): PayloadPlace {
    return (sealedHead: Buffer, length: number): PayloadLease | undefined => {
      const head = this.#openHead(sealedHead);
      this.#opened = head;
      if (typeof head === 'string' || head.kind !== KIND_BINARY) return undefined;
      return inner?.(head.plain.subarray(4), length);
    };
  }

  /** Open a received message (`binary`: its WebSocket opcode). */
  open(data: Buffer | Buffer[], binary: boolean): Opened {
    const early = this.#opened;
    this.#opened = undefined;
    if (!binary) return { problem: 'a text message on a sealed connection (all are sealed binary)' };
    let payload: Buffer;
    let head: OpenHead | string;
    if (early !== undefined && Array.isArray(data) && data.length === 2) {
      // Split by the reader, head opened by `place` (in data[0]).
      payload = data[1]!;
      head = early;
    } else {
      // Split with nothing after the head (a text message, a binary one without bytes): the
      // head as it is, not a copy joined with an empty part.
      const whole = !Array.isArray(data)
        ? data
        : data.length === 2 && data[1]!.length === 0
          ? data[0]!
          : Buffer.concat(data);
      if (whole.length < 4) return { problem: 'a sealed message shorter than its length prefix' };
      const length = whole.readUInt32BE(0);
      if (4 + length > whole.length)
        return { problem: `a sealed message truncated inside its ${length}-byte head` };
      payload = whole.subarray(4 + length);
      head = this.#openHead(whole.subarray(4, 4 + length));
    }
    if (typeof head === 'string') return { problem: head };
    if (head.kind === KIND_TEXT) {
      if (payload.length > 0) return { problem: 'a sealed text message with a payload' };
      this.#counter.next();
      return { data: head.plain.subarray(4), binary: false };
    }
    if (payload.length > 0) {
      const ok = this.#key.open({
        nonce: this.#counter.nonce(1),
        aad: EMPTY,
        src: payload,
        dst: payload,
        tag: head.tagP,
      });
      if (!ok) return { problem: 'a sealed message whose payload failed its integrity check' };
    }
    this.#counter.next();
    return { data: [head.plain, payload], binary: true };
  }

  /** Open `tagH · sealed(kind · tagP · body)` in place. */
  #openHead(sealedHead: Buffer): OpenHead | string {
    const length = sealedHead.length;
    if (length < BODY_AT) return `a sealed message head of ${length} bytes (at least ${BODY_AT})`;
    this.#aad.writeUInt32BE(length, 0);
    const head = sealedHead.subarray(KIND_AT);
    const ok = this.#key.open({
      nonce: this.#counter.nonce(0),
      aad: this.#aad,
      src: head,
      dst: head,
      tag: sealedHead.subarray(0, TAG),
    });
    if (!ok) return 'a sealed message that failed its integrity check';
    const kind = sealedHead[KIND_AT]!;
    if (kind !== KIND_TEXT && kind !== KIND_BINARY) return `a sealed message of unknown kind ${kind}`;
    const tagP = Buffer.from(sealedHead.subarray(TAG_P_AT, BODY_AT));
    const plain = sealedHead.subarray(BODY_AT - 4);
    plain.writeUInt32BE(length - BODY_AT, 0);
    return { kind, tagP, plain };
  }
}

/** What a sealed message may add to its plain size (a text message: u32 L and the room). */
const SEAL_GROWTH = 4 + SEAL_ROOM;

/**
 * A socket's record layer on a sealed connection: it seals what the socket sends and opens
 * what it reads, in order, and wipes both keys when the connection is over.
 */
export class SealedChannel {
  readonly sealer: MessageSealer;
  readonly #opener: MessageOpener;
  readonly #keys: SealKeys;

  constructor(keys: SealKeys) {
    this.#keys = keys;
    this.sealer = new MessageSealer({ key: keys.send });
    this.#opener = new MessageOpener({ key: keys.recv });
  }

  /** The largest sealed message to accept for plain messages of up to `max` bytes. */
  static maxMessage(max: number): number {
    return max + SEAL_GROWTH;
  }

  /** See {@link MessageOpener.wrapPlace}. */
  wrapPlace(inner: PayloadPlace | undefined): PayloadPlace {
    return this.#opener.wrapPlace(inner);
  }

  /** See {@link MessageOpener.open}. */
  open(data: Buffer | Buffer[], binary: boolean): Opened {
    return this.#opener.open(data, binary);
  }

  /** Wipe the keys (nothing is sealed or opened after this). Idempotent. */
  close(): void {
    this.#keys.send.close();
    this.#keys.recv.close();
  }
}
