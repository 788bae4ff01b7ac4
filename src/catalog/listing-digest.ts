import { nsToMs } from '../core/attr.ts';

/**
 * Scratch views to take a 64-bit integer's bits as two 32-bit words: storing a bigint into a
 * `BigInt64Array` allocates nothing, where `id & mask` or `ns / 1_000_000n` allocates a
 * bigint per entry.
 */
const I64 = new BigInt64Array(1);
const U32 = new Uint32Array(I64.buffer);
const I32 = new Int32Array(I64.buffer);
/** Scratch for an entry's numeric fields (no array per entry). */
const W = new Uint32Array(8);

/** `Number(localPartOf(id))` without allocating: the low 48 bits of a namespace id. */
export function localOfId(id: bigint): number {
  I64[0] = id;
  return (U32[1]! & 0xffff) * 0x1_0000_0000 + U32[0]!;
}

/** `nsToMs(ns)` (the same double) without allocating, for times from 1970 on. */
export function msOfNs(ns: bigint): number {
  I64[0] = ns;
  const hi = I32[1]!;
  if (hi < 0) return nsToMs(ns);
  // ns = hi·2^32 + lo and 2^32 = 4294·10^6 + 967296; every step below is exact in a double.
  const rest = hi * 967296 + U32[0]!;
  const sub = rest % 1_000_000;
  return hi * 4294 + (rest - sub) / 1_000_000 + sub / 1e6;
}

/** Murmur3's finalizer: every input bit reaches every output bit. */
function fmix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * A digest of a directory listing as the crawler compares it with the documents: every
 * entry's name, Source id, kind, size and mtime (to the nanosecond: stricter than the
 * documents' milliseconds, so a digest that matches means every document matches). Order-independent (a sum of per-entry
 * hashes: four 32-bit lanes of different multipliers, ~2^-100 odds that a changed listing
 * keeps its digest), so pages can be folded in as they come; no allocation per entry.
 */
export class ListingDigest {
  #n = 0;
  #a = 0;
  #b = 0;
  #c = 0;
  #d = 0;

  /**
   * Fold in one entry: its name, the local part of its namespace id, kind, size and mtime in
   * nanoseconds (positional arguments: called per entry, it allocates nothing).
   */
  add(name: string, id: bigint, kind: string, size: number, mtimeNs: bigint): void {
    I64[0] = id;
    W[0] = U32[0]!;
    W[1] = U32[1]! & 0xffff;
    I64[0] = mtimeNs;
    W[4] = U32[0]!;
    W[5] = U32[1]!;
    W[2] = size >>> 0;
    W[3] = Math.floor(size / 0x1_0000_0000);
    W[6] = kind.charCodeAt(0) | (kind.charCodeAt(2) << 8) | (kind.length << 16); // distinct for every FileKind
    W[7] = name.length;
    let a = 0x811c9dc5;
    let b = 0x9e3779b9;
    let c = 0x7f4a7c15;
    let d = 0x165667b1;
    for (let i = 0; i < name.length; i++) {
      const ch = name.charCodeAt(i);
      a = Math.imul(a ^ ch, 0x01000193);
      b = Math.imul(b ^ ch, 0x5bd1e995);
      c = Math.imul(c ^ ch, 0x27d4eb2f);
      d = Math.imul(d ^ ch, 0x85ebca77);
    }
    for (let i = 0; i < 8; i++) {
      const w = W[i]!;
      a = Math.imul(a ^ w, 0x01000193);
      b = Math.imul(b ^ w, 0x5bd1e995);
      c = Math.imul(c ^ w, 0x27d4eb2f);
      d = Math.imul(d ^ w, 0x85ebca77);
    }
    this.#n++;
    this.#a = (this.#a + fmix(a)) >>> 0;
    this.#b = (this.#b + fmix(b)) >>> 0;
    this.#c = (this.#c + fmix(c)) >>> 0;
    this.#d = (this.#d + fmix(d)) >>> 0;
  }

  /** Entries folded in so far. */
  get size(): number {
    return this.#n;
  }

  /** The digest as stored (`dir_digests.digest`). */
  value(): string {
    const hex = (x: number) => x.toString(16).padStart(8, '0');
    return `${this.#n}:${hex(this.#a)}${hex(this.#b)}${hex(this.#c)}${hex(this.#d)}`;
  }
}
