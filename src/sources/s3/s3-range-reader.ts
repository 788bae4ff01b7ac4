import type { Readable } from 'node:stream';
import type { S3Bucket } from './s3-bucket.ts';

const MiB = 1024 * 1024;
const FIRST_WINDOW = MiB;
const MAX_WINDOW = 64 * MiB;

interface OpenRange {
  body: Readable;
  iter: AsyncIterator<Buffer>;
  /** Offset of the next byte the stream (after `leftover`) yields. */
  pos: number;
  /** End (exclusive) of the requested range. */
  end: number;
  /** Object size, when S3 reported it. */
  total: number | undefined;
  /** Bytes already pulled from the stream, starting at `pos`. */
  leftover: Buffer;
}

/**
 * Ranged reads of one object through one handle. A random read fetches just its range; a
 * read that continues where the last one ended keeps one GET streaming ahead, in windows
 * that double up to 64 MiB, so sequential reading costs few requests.
 */
export class RangeReader {
  readonly #bucket: S3Bucket;
  readonly #key: string;
  #open: OpenRange | undefined;
  #lastEnd = -1;
  #window = FIRST_WINDOW;
  #turn: Promise<void> = Promise.resolve();

  constructor(bucket: S3Bucket, key: string) {
    this.#bucket = bucket;
    this.#key = key;
  }

  /**
   * Read up to `length` bytes at `offset`; fewer only at the end of the object. Reads on
   * one handle take turns (they share the stream), which also keeps them in order.
   */
  read(offset: number, length: number): Promise<Uint8Array> {
    if (length === 0) return Promise.resolve(new Uint8Array(0));
    const run = this.#turn.then(async () => {
      const out = await this.#readAt(offset, length, offset === this.#lastEnd, true);
      this.#lastEnd = offset + out.length;
      return out;
    });
    this.#turn = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  async #readAt(offset: number, length: number, sequential: boolean, retry: boolean): Promise<Uint8Array> {
    if (!this.#open || this.#open.pos !== offset) {
      this.close();
      let span = length;
      if (sequential) {
        span = Math.max(length, this.#window);
        this.#window = Math.min(MAX_WINDOW, this.#window * 2);
      } else {
        this.#window = FIRST_WINDOW;
      }
      const got = await this.#bucket.getRange(this.#key, offset, offset + span);
      if (!got) return new Uint8Array(0);
      const body = got.body;
      this.#open = {
        body,
        iter: (body as AsyncIterable<Buffer>)[Symbol.asyncIterator](),
        pos: offset,
        end: offset + span,
        total: got.total,
        leftover: Buffer.alloc(0),
      };
    }
    const range = this.#open;
    const want = Math.min(
      length,
      range.end - offset,
      range.total === undefined ? Infinity : Math.max(0, range.total - offset),
    );
    const chunks: Buffer[] = [range.leftover];
    let have = range.leftover.length;
    try {
      while (have < want) {
        const next = await range.iter.next();
        if (next.done) break;
        chunks.push(next.value);
        have += next.value.length;
      }
    } catch (err) {
      this.close();
      // A connection dropped mid-stream: one fresh request from the same offset.
      if (retry) return this.#readAt(offset, length, false, false);
      throw this.#bucket.error(err, 'GetObject', this.#key);
    }
    const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, have);
    const out = all.subarray(0, Math.min(want, all.length));
    range.leftover = all.subarray(out.length);
    range.pos = offset + out.length;
    const finished = range.pos >= range.end || (range.total !== undefined && range.pos >= range.total);
    if (finished || (out.length < want && range.leftover.length === 0)) this.close();
    // A window that ended before the requested length: continue in a new request.
    if (
      out.length < length &&
      finished &&
      (range.total === undefined || range.pos < range.total) &&
      out.length > 0
    ) {
      const rest = await this.#readAt(offset + out.length, length - out.length, true, retry);
      return Buffer.concat([out, rest]);
    }
    return out;
  }

  /** Drop the open stream, if any. */
  close(): void {
    this.#open?.body.destroy();
    this.#open = undefined;
  }
}
