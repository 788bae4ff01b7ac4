/**
 * Reused 1 MiB buffers for the mount's read-ahead chunks and write-behind coalescing buffers.
 * A sequential reader or writer goes through a fresh megabyte every few milliseconds; as new
 * allocations each is a backing store the garbage collector has to find and free, which cost
 * as much CPU as the rest of the FUSE layer (measured: ~0.8 s of GC per GiB written).
 *
 * @module
 */

/** Buffers kept for reuse (at most this many MiB stay allocated while idle). */
const KEEP = 48;

/** A pool of equally sized buffers; `give` only what nothing reads or writes any more. */
export class ChunkPool {
  readonly #free: Buffer[] = [];
  readonly #mine = new WeakSet<ArrayBufferLike>();
  readonly size: number;

  constructor(opts: { size: number }) {
    this.size = opts.size;
  }

  /** A buffer of {@link size} bytes (contents undefined). */
  take(): Buffer {
    const reused = this.#free.pop();
    if (reused !== undefined) return reused;
    const buf = Buffer.allocUnsafeSlow(this.size);
    this.#mine.add(buf.buffer);
    return buf;
  }

  /** Return a buffer taken from this pool; others are ignored. */
  give(buf: Buffer): void {
    if (!this.#mine.has(buf.buffer) || this.#free.length >= KEEP) return;
    this.#free.push(Buffer.from(buf.buffer, 0, this.size));
  }
}
