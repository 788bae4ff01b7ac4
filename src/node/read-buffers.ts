/**
 * Reusable buffers for READ answers. A READ reads the file straight into a pooled buffer
 * behind room for the frame header, and the answer goes out as that one buffer: no fresh
 * megabyte per read (page faults, GC pressure), no copy to join header and bytes, and the
 * client receives one unfragmented message (no copy there either). A buffer comes back
 * once the socket has taken it.
 */

/** Bytes kept free in front of the payload for the frame prefix and JSON header. */
export const READ_HEADROOM = 256;

/** One pooled buffer lent to a READ. */
export interface ReadLease {
  /** The whole buffer: headroom, then room for `length` bytes. */
  readonly buf: Buffer;
  /** Where the file bytes go (`buf` after the headroom, `length` bytes). */
  readonly into: Buffer;
  /** Give the buffer back (idempotent); only once nothing refers to it any more. */
  readonly release: () => void;
}

/** A bounded free list of equally sized buffers; a cache, not a limit: an empty pool allocates. */
export class ReadBufferPool {
  readonly #size: number;
  readonly #keep: number;
  readonly #free: Buffer[] = [];

  /** `chunk`: the largest payload pooled; `keep`: buffers kept when idle. */
  constructor(opts: { chunk: number; keep: number }) {
    this.#size = READ_HEADROOM + opts.chunk;
    this.#keep = opts.keep;
  }

  /** A lease for a read of `length` bytes, or undefined when it is larger than the pool's chunk. */
  lease(length: number): ReadLease | undefined {
    if (length > this.#size - READ_HEADROOM) return undefined;
    const buf = this.#free.pop() ?? Buffer.allocUnsafeSlow(this.#size);
    let released = false;
    return {
      buf,
      into: buf.subarray(READ_HEADROOM, READ_HEADROOM + length),
      release: () => {
        if (released) return;
        released = true;
        if (this.#free.length < this.#keep) this.#free.push(buf);
      },
    };
  }
}
