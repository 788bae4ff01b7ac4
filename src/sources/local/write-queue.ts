import type { LocalFd } from './local-fd.ts';
import type { DirectWriter } from './local-platform.ts';

/** Writes joined into one `pwritev` at most. */
const MAX_JOINED = 16;
/** Bytes joined into one `pwritev` at most. */
const MAX_JOINED_BYTES = 16 * 1024 * 1024;
/**
 * A batch goes to the {@link DirectWriter} only at or past this offset: a file this big is a
 * stream that gains from skipping the page cache; smaller files stay in it, where their next
 * read finds them.
 */
export const DIRECT_FROM = 8 * 1024 * 1024;
/** Nor a batch of fewer bytes than this (a client's stray small writes). */
const DIRECT_MIN = 256 * 1024;

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
 *
 * With a {@link DirectWriter}, the big aligned batches of a long sequential write skip the
 * page cache. Writing a new file's pages into the cache costs more than the copy: every page
 * is freshly allocated, and on a VM that hands freed memory back to its host, each first
 * touch faults in the host too (a buffered 1 GiB write took 0.65–2.3 s of system time on the
 * benchmark machine, a direct one 0.06 s). A file that refuses direct writes is written the
 * plain way from then on.
 */
export class WriteQueue {
  readonly #fh: () => LocalFd;
  #direct: DirectWriter | undefined;
  #pending: Pending[] = [];
  #running = false;
  #settled: (() => void)[] = [];

  /**
   * `fh`: the file written, looked up when a batch starts (it may be swapped meanwhile);
   * `direct`: the platform's page-cache-bypassing writer, if it has one.
   */
  constructor(opts: { fh: () => LocalFd; direct?: DirectWriter | undefined }) {
    this.#fh = opts.fh;
    this.#direct = opts.direct;
  }

  /** Write all of `data` at `offset`; resolves once it is in the file. */
  write(offset: number, data: Uint8Array): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ offset, data, resolve, reject });
      if (!this.#running) void this.#drain();
    });
  }

  /** Whether no write is queued or running. */
  get idle(): boolean {
    return !this.#running;
  }

  /**
   * Resolves once every write queued so far has finished (well or not), so the file can be
   * closed under none of them; never rejects.
   */
  settled(): Promise<void> {
    if (!this.#running) return Promise.resolve();
    return new Promise<void>((resolve) => this.#settled.push(resolve));
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
          await this.#write(
            batch.map((w) => w.data),
            first.offset,
            bytes,
          );
          for (const w of batch) w.resolve();
        } catch (err) {
          for (const w of batch) w.reject(err);
        }
      }
    } finally {
      this.#running = false;
      const settled = this.#settled;
      this.#settled = [];
      for (const resolve of settled) resolve();
    }
  }

  async #write(parts: Uint8Array[], offset: number, bytes: number): Promise<void> {
    const fh = this.#fh();
    const direct = this.#direct;
    if (direct !== undefined && offset >= DIRECT_FROM && bytes >= DIRECT_MIN && offset % direct.align === 0) {
      try {
        await direct.write(fh.fd, parts, offset);
        return;
      } catch (err) {
        const { code, syscall } = err as NodeJS.ErrnoException;
        if (syscall !== 'open' && code !== 'EINVAL') throw err;
        // This file (its filesystem, or its permissions) takes no direct writes: the plain
        // way, for this batch again and from now on.
        this.#direct = undefined;
      }
    }
    await writeAll(fh, parts, offset);
  }
}

/** `pwritev` of `parts` at `offset`, again for what a short write left. */
async function writeAll(fh: LocalFd, parts: Uint8Array[], offset: number): Promise<void> {
  let left = parts;
  let at = offset;
  while (left.length > 0) {
    const bytesWritten =
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
