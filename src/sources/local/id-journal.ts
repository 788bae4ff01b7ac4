import { mkdir, open, readFile, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { syncDir } from '../../core/atomic-file.ts';
import { FsError } from '../../core/fs-error.ts';

/** Journal file name inside the export's state directory. */
export const JOURNAL_FILE = 'local-ids.jsonl';

/**
 * Append-only journal of id-map changes, one JSON array per line. Appends are batched (a
 * burst of lookups costs one write) and flushed on close; on open the journal is read back
 * and rewritten compacted. A torn last line (crash mid-write) is ignored.
 */
export class IdJournal {
  readonly file: string;
  readonly #dir: string;
  readonly #delayMs: number;
  #fh: FileHandle | undefined;
  #pending: string[] = [];
  #timer: NodeJS.Timeout | undefined;
  #chain: Promise<void> = Promise.resolve();
  #error: unknown;

  constructor(opts: { dir: string; flushDelayMs?: number }) {
    this.#dir = opts.dir;
    this.file = join(opts.dir, JOURNAL_FILE);
    this.#delayMs = opts.flushDelayMs ?? 20;
  }

  /** The last write error, if persisting failed (ids then only live in memory). */
  get lastError(): unknown {
    return this.#error;
  }

  /** Every record in the journal, oldest first. A missing journal is empty. */
  async load(): Promise<unknown[]> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw FsError.from(err, 'open', this.file);
    }
    const out: unknown[] = [];
    for (const line of text.split('\n')) {
      if (line.length === 0) continue;
      try {
        out.push(JSON.parse(line));
      } catch {
        // A torn line from a crash: skip it, the rest is still good.
      }
    }
    return out;
  }

  /**
   * Replace the journal with a snapshot (compaction) and open it for appending. `records`
   * is called at once: records queued before then are part of the snapshot and dropped,
   * records appended while the snapshot is written follow it. If the snapshot cannot be
   * written the old journal stays, and goes on taking appends, the dropped ones first.
   */
  async rewrite(records: () => Iterable<unknown>): Promise<void> {
    const queued = this.#pending;
    this.#pending = [];
    const snapshot = [...records()];
    // From here on appends wait in memory: nothing may land in the file being replaced.
    await this.#closeFile();
    const tmp = `${this.file}.${process.pid}.tmp`;
    let failure: unknown;
    try {
      await mkdir(this.#dir, { recursive: true });
      const fh = await open(tmp, 'w', 0o600);
      try {
        for (let i = 0; i < snapshot.length; i += 10_000) {
          const lines = snapshot.slice(i, i + 10_000).map((rec) => JSON.stringify(rec));
          await fh.write(lines.join('\n') + '\n');
        }
        await fh.sync();
      } finally {
        await fh.close().catch(() => undefined);
      }
      await rename(tmp, this.file);
      // Without it a crash can bring back the old journal (or none) after the rename.
      await syncDir(this.#dir);
    } catch (err) {
      failure = err;
      await rm(tmp, { force: true });
      this.#pending = [...queued, ...this.#pending];
    }
    try {
      this.#fh = await open(this.file, 'a', 0o600);
    } catch (err) {
      failure ??= err;
    }
    if (this.#pending.length > 0) void this.flush();
    if (failure !== undefined) {
      this.#error = failure;
      throw FsError.from(failure, 'open', this.file);
    }
  }

  /** Queue one record; it is written within `flushDelayMs`. */
  append(rec: unknown): void {
    this.#pending.push(JSON.stringify(rec));
    if (this.#timer === undefined && this.#fh !== undefined) {
      this.#timer = setTimeout(() => void this.flush(), this.#delayMs);
      this.#timer.unref();
    }
  }

  /** Write everything queued so far. Never rejects: a failure is kept in `lastError`. */
  flush(): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const fh = this.#fh;
    // Not open (being compacted): the lines wait for the new file.
    if (this.#pending.length === 0 || fh === undefined) return this.#chain;
    const lines = this.#pending;
    this.#pending = [];
    this.#chain = this.#chain.then(async () => {
      try {
        await fh.write(lines.join('\n') + '\n');
      } catch (err) {
        this.#error = err;
      }
    });
    return this.#chain;
  }

  /** Flush and close. */
  async close(): Promise<void> {
    await this.flush();
    await this.#closeFile();
  }

  async #closeFile(): Promise<void> {
    const fh = this.#fh;
    this.#fh = undefined;
    await this.#chain;
    await fh?.close().catch(() => undefined);
  }
}
