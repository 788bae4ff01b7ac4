import type { FileHandle } from 'node:fs/promises';

/** Writes joined into one `pwritev` at most. */
const MAX_JOINED = 16;
/** Bytes joined into one `pwritev` at most. */
const MAX_JOINED_BYTES = 16 * 1024 * 1024;

interface Pending {
  offset: number;
  data: Uint8Array;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * The positioned writes of one open file, one system call at a time and in the order they
 * came: writes that arrive while one runs wait, and those at the head of the queue that
 * continue each other (a client's pipelined sequential writes) go out as one `pwritev`. Several thread-pool jobs writing one file at
 * once only queue on its inode lock, each a context switch, so nothing is lost by waiting;
 * and a batch is one thread-pool job and one system call instead of several.
 */
export class WriteQueue {
  readonly #fh: () => FileHandle;
  #pending: Pending[] = [];
  #running = false;

  /** `fh`: the file written, looked up when a batch starts (it may be swapped meanwhile). */
  constructor(fh: () => FileHandle) {
    this.#fh = fh;
  }

  /** Write all of `data` at `offset`; resolves once it is in the file. */
  write(offset: number, data: Uint8Array): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ offset, data, resolve, reject });
      if (!this.#running) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      for (let first = this.#pending.shift(); first !== undefined; first = this.#pending.shift()) {
        const batch = [first];
        let end = first.offset + first.data.byteLength;
        let bytes = first.data.byteLength;
        // Only from the head of the queue: writes land in the order they came, as if one by one.
        for (let next = this.#pending[0]; next !== undefined; next = this.#pending[0]) {
          if (batch.length >= MAX_JOINED || next.offset !== end) break;
          if (bytes + next.data.byteLength > MAX_JOINED_BYTES) break;
          this.#pending.shift();
          batch.push(next);
          end += next.data.byteLength;
          bytes += next.data.byteLength;
        }
        try {
          await writeAll(
            this.#fh(),
            batch.map((w) => w.data),
            first.offset,
          );
          for (const w of batch) w.resolve();
        } catch (err) {
          for (const w of batch) w.reject(err);
        }
      }
    } finally {
      this.#running = false;
    }
  }
}

/** `pwritev` of `parts` at `offset`, again for what a short write left. */
async function writeAll(fh: FileHandle, parts: Uint8Array[], offset: number): Promise<void> {
  let left = parts;
  let at = offset;
  while (left.length > 0) {
    const { bytesWritten } =
      left.length === 1 ? await fh.write(left[0]!, 0, left[0]!.byteLength, at) : await fh.writev(left, at);
    at += bytesWritten;
    let skip = bytesWritten;
    const rest: Uint8Array[] = [];
    for (const p of left) {
      if (skip >= p.byteLength) skip -= p.byteLength;
      else {
        rest.push(skip > 0 ? p.subarray(skip) : p);
        skip = 0;
      }
    }
    if (bytesWritten === 0 && rest.length > 0)
      throw Object.assign(new Error('write wrote nothing'), { code: 'EIO' });
    left = rest;
  }
}
