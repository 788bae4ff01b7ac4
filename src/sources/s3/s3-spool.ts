import { randomUUID } from 'node:crypto';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A local staging file for one writer: the private copy a write handle edits until close
 * uploads it. Removed on `dispose`.
 */
export class Spool implements AsyncDisposable {
  readonly path: string;
  readonly fh: FileHandle;
  #size = 0;
  #disposed = false;

  private constructor(path: string, fh: FileHandle) {
    this.path = path;
    this.fh = fh;
  }

  /** A new empty spool file in `dir`. */
  static async create(dir: string): Promise<Spool> {
    const path = join(dir, `spool-${randomUUID()}`);
    const fh = await open(path, 'w+', 0o600);
    return new Spool(path, fh);
  }

  /** Current length in bytes. */
  get size(): number {
    return this.#size;
  }

  /** Record the length after content was written into `fh` directly (a download). */
  setLoadedSize(size: number): void {
    this.#size = size;
  }

  /** Up to `length` bytes at `offset` (fewer at the end). */
  async read(offset: number, length: number): Promise<Uint8Array> {
    const n = Math.max(0, Math.min(length, this.#size - offset));
    const buf = Buffer.alloc(n);
    let done = 0;
    while (done < n) {
      const { bytesRead } = await this.fh.read(buf, done, n - done, offset + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done === n ? buf : buf.subarray(0, done);
  }

  /** Write all of `data` at `offset`, extending the file as needed. */
  async write(offset: number, data: Uint8Array): Promise<number> {
    let done = 0;
    while (done < data.byteLength) {
      const { bytesWritten } = await this.fh.write(data, done, data.byteLength - done, offset + done);
      done += bytesWritten;
    }
    this.#size = Math.max(this.#size, offset + data.byteLength);
    return data.byteLength;
  }

  /** Cut or zero-extend to `size` bytes. */
  async truncate(size: number): Promise<void> {
    await this.fh.truncate(size);
    this.#size = size;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  /** Close and delete the file (idempotent). */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await this.fh.close().catch(() => undefined);
    await unlink(this.path).catch(() => undefined);
  }
}
