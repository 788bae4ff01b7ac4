import Database from 'better-sqlite3';
import { join } from 'node:path';
import { FsError } from '../../core/fs-error.ts';

/** One cached file as the index records it. */
export interface IndexRow {
  /** `scope/id`: which Source and which file. */
  key: string;
  /** Name of the data file under `data/`. */
  file: string;
  /** The attributes the cached bytes belong to (revalidation compares them). */
  size: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  gen: number;
  /** Present byte ranges ({@link IntervalMap.toBlob}). */
  ranges: Buffer;
  /** Bytes present. */
  bytes: number;
  /** Last read, ms since the epoch (LRU order). */
  lastAccess: number;
}

interface RawRow {
  key: string;
  file: string;
  size: number;
  mtime: string;
  ctime: string;
  gen: number;
  ranges: Buffer;
  bytes: number;
  last_access: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS entries (
  key TEXT PRIMARY KEY,
  file TEXT NOT NULL,
  size INTEGER NOT NULL,
  mtime TEXT NOT NULL,
  ctime TEXT NOT NULL,
  gen INTEGER NOT NULL,
  ranges BLOB NOT NULL,
  bytes INTEGER NOT NULL,
  last_access INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
`;

/** Format of the index; a different one on disk is discarded with the data it describes. */
const FORMAT = '1';

/**
 * The data cache's index: one SQLite row per cached file (WAL, so a crash loses at most the
 * last transactions and never leaves a half-written row). A row is written only after the
 * bytes it describes are on disk, so the index never claims bytes the data files lack.
 */
export class CacheIndex {
  readonly #db: Database.Database;
  readonly #put: Database.Statement;
  readonly #del: Database.Statement;
  readonly #touch: Database.Statement;

  private constructor(db: Database.Database) {
    this.#db = db;
    this.#put = db.prepare(
      `INSERT INTO entries (key, file, size, mtime, ctime, gen, ranges, bytes, last_access)
       VALUES (@key, @file, @size, @mtime, @ctime, @gen, @ranges, @bytes, @last_access)
       ON CONFLICT(key) DO UPDATE SET file = excluded.file, size = excluded.size,
         mtime = excluded.mtime, ctime = excluded.ctime, gen = excluded.gen,
         ranges = excluded.ranges, bytes = excluded.bytes, last_access = excluded.last_access`,
    );
    this.#del = db.prepare('DELETE FROM entries WHERE key = ?');
    this.#touch = db.prepare('UPDATE entries SET last_access = ? WHERE key = ?');
  }

  /**
   * Open (or create) the index in `dir`. An index of another format is emptied and `fresh`
   * says so (the caller then discards the data files).
   */
  static open(dir: string): { index: CacheIndex; fresh: boolean } {
    let db: Database.Database;
    try {
      db = new Database(join(dir, 'index.db'));
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.exec(SCHEMA);
    } catch (err) {
      throw FsError.EIO('cache', dir, `cannot open the cache index: ${(err as Error).message}`);
    }
    const format = (db.prepare("SELECT v FROM meta WHERE k = 'format'").get() as { v: string } | undefined)
      ?.v;
    const fresh = format !== FORMAT;
    if (fresh) {
      db.exec('DELETE FROM entries');
      db.prepare("INSERT OR REPLACE INTO meta (k, v) VALUES ('format', ?)").run(FORMAT);
    }
    return { index: new CacheIndex(db), fresh };
  }

  /** Every row, least recently used first. */
  all(): IndexRow[] {
    return (this.#db.prepare('SELECT * FROM entries ORDER BY last_access').all() as RawRow[]).map((r) => ({
      key: r.key,
      file: r.file,
      size: r.size,
      mtimeNs: BigInt(r.mtime),
      ctimeNs: BigInt(r.ctime),
      gen: r.gen,
      ranges: r.ranges,
      bytes: r.bytes,
      lastAccess: r.last_access,
    }));
  }

  /** Insert or replace a row. */
  put(row: IndexRow): void {
    this.#put.run({
      key: row.key,
      file: row.file,
      size: row.size,
      mtime: row.mtimeNs.toString(),
      ctime: row.ctimeNs.toString(),
      gen: row.gen,
      ranges: row.ranges,
      bytes: row.bytes,
      last_access: Math.round(row.lastAccess),
    });
  }

  /** Insert or replace rows, in one transaction. */
  putMany(rows: readonly IndexRow[]): void {
    if (rows.length === 0) return;
    this.#db.transaction(() => {
      for (const row of rows) this.put(row);
    })();
  }

  delete(key: string): void {
    this.#del.run(key);
  }

  /** Record last-access times in one transaction. */
  touch(times: Iterable<[key: string, lastAccess: number]>): void {
    this.#db.transaction(() => {
      for (const [key, at] of times) this.#touch.run(Math.round(at), key);
    })();
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}
