import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { FileKind } from '../core/attr.ts';
import { FsError } from '../core/fs-error.ts';
import { FIRST_INODE, type FileDoc, fileIdOf as fileIdOfIdentity } from './file-doc.ts';
import { mimeOf } from './mime.ts';
import {
  FILE_ID_DEDUP,
  FILE_ID_INDEX,
  FILE_ID_UNIQUE,
  PATH_INDEXES,
  SCHEMA_SQL,
  SCHEMA_UPGRADES,
  SCHEMA_VERSION,
} from './schema.ts';

/** A row of `files` as SQLite returns it. */
export interface FileRow {
  inode: number;
  file_id: string;
  mount: string;
  local: number;
  node: string;
  export: string;
  path: string;
  parent: string;
  name: string;
  kind: string;
  size: number;
  mtime_ms: number;
  mime: string | null;
  indexed_at: number;
}

/** A file as a crawler or watcher saw it, to be written by {@link CatalogStore.write}. */
export interface FileSighting {
  mount: string;
  local: number;
  node: string;
  export: string;
  path: string;
  kind: FileKind;
  size: number;
  mtimeMs: number;
  /** Whether the Source's ids survive restarts (identity by id) or not (identity by path). */
  persistentIds: boolean;
  /** Path within the export (used for the identity when ids do not persist). */
  exportPath: string;
}

/** The fields of a document the crawler's stat fast-path compares ({@link CatalogStore.childStatsOf}). */
export interface ChildStat {
  local: number;
  kind: string;
  size: number;
  mtimeMs: number;
  path: string;
}

/** An enabled label rule, as a write batch matches new documents against it. */
interface Rule {
  label: string;
  prefix: string;
  node: string | null;
}

/** What a write batch labels new documents with: the enabled rules, and whether any file has an assignment. */
interface Labelling {
  rules: readonly Rule[];
  assigned: boolean;
}

/** One change in a {@link CatalogStore.write} batch. */
export type CatalogWrite =
  | { op: 'upsert'; file: FileSighting }
  /**
   * A file no document can match yet (the first crawl of a mount without documents): inserted
   * without looking for one by Source id or path; an upsert after all if the insert meets one.
   */
  | { op: 'insert'; file: FileSighting }
  /** Remove the document at `path` and, if it is a directory, everything under it. */
  | { op: 'remove'; path: string; local?: number | undefined };

/** What a write batch changed. */
export interface WriteResult {
  inserted: number;
  updated: number;
  moved: number;
  removed: number;
  unchanged: number;
}

/** Filters of {@link CatalogStore.filesUnder}. */
export interface FilesUnderQuery {
  /** Namespace path of a directory (`/docs/reports`); `/` for everything. */
  prefix: string;
  /** Only documents of data held by this node. */
  node?: string | undefined;
  /** Only documents of this export (of `node`, or of any node). */
  export?: string | undefined;
  /** Only these kinds (default: every kind). */
  kinds?: readonly FileKind[] | undefined;
  /** Only direct children of `prefix` (default: the whole subtree). */
  childrenOnly?: boolean | undefined;
}

/** Options of {@link CatalogStore}. */
export interface CatalogStoreOptions {
  /** The SQLite file (created with its directory if missing), or `:memory:`. */
  file: string;
  /** Open read-only (the CLI reading while the node writes). */
  readonly?: boolean | undefined;
}

/** A `files` row (`SELECT *`) as a document. */
export function toDoc(r: FileRow): FileDoc {
  return {
    fileId: r.file_id,
    inode: r.inode,
    node: r.node,
    export: r.export,
    mount: r.mount,
    local: r.local,
    path: r.path,
    parent: r.parent,
    name: r.name,
    kind: r.kind as FileKind,
    size: r.size,
    mtimeMs: r.mtime_ms,
    mime: r.mime,
    indexedAt: r.indexed_at,
  };
}

/** `/a/b` → `/a/b/`, `/` stays. */
export function dirPrefix(path: string): string {
  return path.endsWith('/') ? path : `${path}/`;
}

/** The exclusive upper bound of paths under `prefix` (which ends with `/`). */
export function prefixEnd(prefix: string): string {
  return `${prefix.slice(0, -1)}0`;
}

/** Bytes per database page of a new catalog. */
const PAGE_SIZE = 16384;

/** SQLite's default: a commit that leaves the WAL above this many pages checkpoints it. */
const WAL_AUTOCHECKPOINT = 1000;

function splitParent(path: string): { parent: string; name: string } {
  const at = path.lastIndexOf('/');
  return { parent: at <= 0 ? '/' : path.slice(0, at), name: path.slice(at + 1) };
}

/**
 * The catalog's embedded store: one SQLite file (WAL mode, so the CLI reads it while the node
 * writes; writers wait on each other through `busy_timeout`). It holds file documents,
 * label assignments and rules with their materialized effective-label cache, generic JSON
 * documents (virtual directories keep theirs here), per-mount index state and storage
 * samples. Every method is synchronous (better-sqlite3) and cheap per call; bulk writes go
 * through {@link write} in one transaction.
 *
 * Queries for other modules (virtual directories, the REST API):
 * - {@link filesUnder}: file documents under a namespace path,
 *   optionally of one node / export, ordered by path;
 * - {@link fileByInode}, {@link fileById}, {@link fileByPath};
 * - {@link labelsOf}: the effective labels of a file (materialized, one index lookup);
 * - {@link getDoc} / {@link putDoc} / {@link listDocs} / {@link deleteDoc}: JSON documents;
 * - {@link generation}: a number that changes on every committed write, from any process
 *   (for caches keyed on the catalog's state).
 */
export class CatalogStore implements AsyncDisposable {
  readonly file: string;
  readonly readonly: boolean;
  #db: Database.Database | undefined;
  #stmts = new Map<string, Database.Statement>();

  constructor(opts: CatalogStoreOptions) {
    this.file = opts.file;
    this.readonly = opts.readonly ?? false;
  }

  /** The open database (for the catalog's own modules: labels, search, storage). */
  get db(): Database.Database {
    if (!this.#db) throw FsError.EBADF('catalog', this.file, 'the catalog store is not open');
    return this.#db;
  }

  /** Open (and on first use create) the database. Idempotent. */
  async open(): Promise<void> {
    if (this.#db) return;
    if (this.file !== ':memory:' && !this.readonly) mkdirSync(dirname(this.file), { recursive: true });
    let db: Database.Database;
    try {
      db = new Database(this.file, { readonly: this.readonly, fileMustExist: this.readonly });
    } catch (err) {
      if (this.readonly && (err as { code?: string }).code === 'SQLITE_CANTOPEN')
        throw FsError.ENOENT('catalog', this.file, 'no catalog yet (start the node to index its namespace)');
      throw FsError.from(err, 'catalog', this.file);
    }
    db.pragma('busy_timeout = 5000');
    if (!this.readonly) {
      // Takes effect only on a database not yet written (a new catalog): 16 KiB pages cut a
      // crawl's inserts into five B-trees by ~15 % of their CPU (fewer splits, shallower trees).
      db.pragma(`page_size = ${PAGE_SIZE}`);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      // A crawl's inserts touch pages of four indexes at random (file ids are hashes): keep them cached.
      db.pragma('cache_size = -65536');
    }
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version === 0 && !this.readonly) {
      db.transaction(() => {
        db.exec(SCHEMA_SQL);
        db.prepare("INSERT INTO meta (key, value) VALUES ('generation', '0')").run();
        // Inodes count up from FIRST_INODE and are never reused (AUTOINCREMENT).
        db.prepare("INSERT INTO sqlite_sequence (name, seq) VALUES ('files', ?)").run(FIRST_INODE - 1);
        db.prepare('INSERT INTO fts_state (id, upto) VALUES (1, ?)').run(FIRST_INODE - 1);
        db.pragma(`user_version = ${SCHEMA_VERSION}`);
      }).immediate();
    } else if (version > 0 && version < SCHEMA_VERSION && !this.readonly) {
      db.transaction(() => {
        for (let v = version; v < SCHEMA_VERSION; v++) db.exec(SCHEMA_UPGRADES[v] ?? '');
        db.pragma(`user_version = ${SCHEMA_VERSION}`);
      }).immediate();
    } else if (version !== SCHEMA_VERSION) {
      db.close();
      throw FsError.EINVAL(
        'catalog',
        this.file,
        version === 0
          ? 'the catalog is empty (start the node to create it)'
          : `catalog schema version ${version}, this build knows ${SCHEMA_VERSION}`,
      );
    }
    // A first crawl cut short (a crash) may have left its indexes unbuilt.
    if (!this.readonly) this.#buildIndexes(db, this.#hasNamedFileIdIndex(db));
    this.#db = db;
  }

  /** Close the database. Idempotent. */
  async close(): Promise<void> {
    this.#stmts.clear();
    this.#db?.close();
    this.#db = undefined;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** A cached prepared statement. */
  stmt(sql: string): Database.Statement {
    let s = this.#stmts.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.#stmts.set(sql, s);
    }
    return s;
  }

  /** Run `fn` in one write transaction that also bumps the generation. */
  transaction<T>(fn: () => T): T {
    return this.db
      .transaction(() => {
        const out = fn();
        this.stmt("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'").run();
        return out;
      })
      .immediate();
  }

  /** A number that changes whenever any process commits a write to the catalog. */
  generation(): number {
    const row = this.stmt("SELECT value FROM meta WHERE key = 'generation'").get() as { value: string };
    return Number(row.value);
  }

  fileByInode(inode: number): FileDoc | undefined {
    const r = this.stmt('SELECT * FROM files WHERE inode = ?').get(inode) as FileRow | undefined;
    return r && toDoc(r);
  }

  fileById(fileId: string): FileDoc | undefined {
    const r = this.stmt('SELECT * FROM files WHERE file_id = ?').get(fileId) as FileRow | undefined;
    return r && toDoc(r);
  }

  fileByPath(path: string): FileDoc | undefined {
    const r = this.stmt('SELECT * FROM files WHERE path = ?').get(path) as FileRow | undefined;
    return r && toDoc(r);
  }

  /** The document of the Source id `local` seen through `mount`. */
  fileByLocal(mount: string, local: number): FileDoc | undefined {
    const r = this.stmt('SELECT * FROM files WHERE mount = ? AND local = ?').get(mount, local) as
      FileRow | undefined;
    return r && toDoc(r);
  }

  /**
   * What a crawl compares the entries of directory `path` with, by name: only the columns
   * it needs (a fraction of the cost of whole documents on a re-crawl).
   */
  childStatsOf(path: string): Map<string, ChildStat> {
    const rows = this.stmt(
      'SELECT name, local, kind, size, mtime_ms AS mtimeMs, path FROM files WHERE parent = ?',
    ).all(path) as (ChildStat & { name: string })[];
    return new Map(rows.map((r) => [r.name, r]));
  }

  #underSql(q: FilesUnderQuery): { sql: string; args: unknown[] } {
    const where: string[] = [];
    const args: unknown[] = [];
    const path = q.prefix === '/' ? '/' : q.prefix.replace(/\/+$/, '');
    if (q.childrenOnly === true) {
      where.push('parent = ?');
      args.push(path);
    } else if (path !== '/') {
      const prefix = dirPrefix(path);
      where.push('path >= ? AND path < ?');
      args.push(prefix, prefixEnd(prefix));
    }
    if (q.node !== undefined) {
      where.push('node = ?');
      args.push(q.node);
    }
    if (q.export !== undefined) {
      where.push('export = ?');
      args.push(q.export);
    }
    if (q.kinds !== undefined && q.kinds.length > 0) {
      where.push(`kind IN (${q.kinds.map(() => '?').join(', ')})`);
      args.push(...q.kinds);
    }
    const clause = where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`;
    return { sql: `SELECT * FROM files ${clause} ORDER BY path`, args };
  }

  /** Every document under a namespace directory (not the directory itself), by path. */
  filesUnder(q: FilesUnderQuery): FileDoc[] {
    const { sql, args } = this.#underSql(q);
    return (this.stmt(sql).all(...args) as FileRow[]).map(toDoc);
  }

  /** The effective labels of a file (assignments ∪ rules), sorted. */
  labelsOf(inode: number): string[] {
    return (
      this.stmt('SELECT label FROM file_labels WHERE inode = ? ORDER BY label').all(inode) as {
        label: string;
      }[]
    ).map((r) => r.label);
  }

  /** Rows up to this inode are in the name index; rows above it are searched by a scan. */
  namesIndexedUpto(): number {
    return (this.stmt('SELECT upto FROM fts_state').get() as { upto: number }).upto;
  }

  /**
   * Add up to `max` documents not yet in the name index to it (in inode order, one
   * transaction); returns how many. Called behind crawls and event batches until it returns 0.
   */
  indexNames(max = 5000): number {
    return this.db
      .transaction(() => {
        const upto = this.namesIndexedUpto();
        const last = this.stmt(
          'SELECT max(inode) AS last FROM (SELECT inode FROM files WHERE inode > ? ORDER BY inode LIMIT ?)',
        ).get(upto, max) as { last: number | null };
        if (last.last === null) return 0;
        const n = this.stmt(
          'INSERT INTO files_fts (rowid, name) SELECT inode, name FROM files WHERE inode > ? AND inode <= ?',
        ).run(upto, last.last).changes;
        this.stmt('UPDATE fts_state SET upto = ?').run(last.last);
        return n;
      })
      .immediate();
  }

  /** Number of file documents (every kind). */
  count(): number {
    return (this.stmt('SELECT count(*) AS n FROM files').get() as { n: number }).n;
  }

  /** A JSON document of `type` (e.g. `vdir`), or undefined. */
  getDoc<T = unknown>(type: string, id: string): { rev: number; body: T; updatedAt: number } | undefined {
    const r = this.stmt('SELECT rev, body, updated_at FROM documents WHERE type = ? AND id = ?').get(
      type,
      id,
    ) as { rev: number; body: string; updated_at: number } | undefined;
    return r && { rev: r.rev, body: JSON.parse(r.body) as T, updatedAt: r.updated_at };
  }

  /**
   * Write a JSON document. With `rev`, only if the stored revision is still `rev` (0: only if
   * absent), else `EEXIST`/`ESTALE`. Returns the new revision.
   */
  putDoc(opts: { type: string; id: string; body: unknown; rev?: number | undefined }): number {
    return this.transaction(() => {
      const cur = this.stmt('SELECT rev FROM documents WHERE type = ? AND id = ?').get(opts.type, opts.id) as
        { rev: number } | undefined;
      if (opts.rev !== undefined && (cur?.rev ?? 0) !== opts.rev) {
        if (opts.rev === 0) throw FsError.EEXIST('catalog', `${opts.type}/${opts.id}`);
        throw FsError.ESTALE(
          'catalog',
          `${opts.type}/${opts.id}`,
          `revision ${cur?.rev ?? 0}, not ${opts.rev}`,
        );
      }
      const rev = (cur?.rev ?? 0) + 1;
      this.stmt(
        'INSERT INTO documents (type, id, rev, body, updated_at) VALUES (?, ?, ?, ?, ?) ' +
          'ON CONFLICT (type, id) DO UPDATE SET rev = excluded.rev, body = excluded.body, updated_at = excluded.updated_at',
      ).run(opts.type, opts.id, rev, JSON.stringify(opts.body), Date.now());
      return rev;
    });
  }

  /** Remove a document; whether it existed. */
  deleteDoc(type: string, id: string): boolean {
    return this.transaction(
      () => this.stmt('DELETE FROM documents WHERE type = ? AND id = ?').run(type, id).changes > 0,
    );
  }

  /** Every document of `type`, by id. */
  listDocs<T = unknown>(type: string): { id: string; rev: number; body: T }[] {
    return (
      this.stmt('SELECT id, rev, body FROM documents WHERE type = ? ORDER BY id').all(type) as {
        id: string;
        rev: number;
        body: string;
      }[]
    ).map((r) => ({ id: r.id, rev: r.rev, body: JSON.parse(r.body) as T }));
  }

  #bulk = 0;
  #indexesOff = 0;
  #fileIdIndexOff = false;
  /** Whether the path indexes were built before the deferral ended ({@link #pathsNeeded}). */
  #pathsBuilt = false;

  /**
   * For a first crawl into an empty `files` table: drop the two path indexes and, in a
   * catalog that has it, the file-id index, until the returned function is called, which
   * builds them in one sorted pass each (for 100,000 rows ~0.17 s, against ~0.4 s of keeping
   * them up to date row by row). Meanwhile queries by path or file id scan the table, and
   * file ids are not checked for uniqueness: the release settles duplicates. A write that
   * looks a document up by path (a hard link's second name moves its document) builds the
   * path indexes at once instead. Nested calls share the drop; the last release builds.
   * Does nothing if the table has rows.
   */
  deferIndexes(): () => void {
    if (this.#indexesOff === 0) {
      if (this.stmt('SELECT 1 FROM files LIMIT 1').get() !== undefined) return () => undefined;
      this.#fileIdIndexOff = this.#hasNamedFileIdIndex(this.db);
      this.db.exec(
        'DROP INDEX IF EXISTS files_by_path; DROP INDEX IF EXISTS files_by_parent;' +
          (this.#fileIdIndexOff ? ` DROP INDEX IF EXISTS ${FILE_ID_INDEX};` : ''),
      );
      this.#stmts.clear(); // Prepared against the dropped indexes.
    }
    this.#indexesOff++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.#indexesOff === 0 && this.#db) {
        this.#pathsBuilt = false;
        this.#buildIndexes(this.#db, this.#fileIdIndexOff);
        this.#stmts.clear();
      }
    };
  }

  /**
   * A write is about to look documents up by path: while {@link deferIndexes} holds the path
   * indexes back, build them now. Without them each lookup scans the table, and a first
   * crawl of a tree of hard links (each second name moves its document) went quadratic.
   */
  #pathsNeeded(): void {
    if (this.#indexesOff === 0 || this.#pathsBuilt) return;
    this.#pathsBuilt = true;
    this.db.exec(PATH_INDEXES);
  }

  /** Whether file ids are unique through the named index (a catalog created since it exists). */
  #hasNamedFileIdIndex(db: Database.Database): boolean {
    return (
      db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_autoindex_files_1'").get() === undefined
    );
  }

  /**
   * Build the indexes a first crawl left out (or one cut short left out: on every open).
   * Rows sharing a file id keep the last one; the directories' listing digests all go then,
   * as the documents no longer match every listing.
   */
  #buildIndexes(db: Database.Database, fileId: boolean): void {
    db.exec(PATH_INDEXES);
    if (!fileId) return;
    try {
      db.exec(FILE_ID_UNIQUE);
    } catch (err) {
      if ((err as { code?: string }).code !== 'SQLITE_CONSTRAINT_UNIQUE') throw err;
      db.transaction(() => {
        db.exec(FILE_ID_DEDUP);
        db.exec('DELETE FROM dir_digests');
        db.exec(FILE_ID_UNIQUE);
        db.prepare("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'").run();
      }).immediate();
    }
  }

  /**
   * Hold back WAL checkpoints while a crawl writes (until the returned function is called,
   * before the crawl's last batch, whose commit then checkpoints once). Each checkpoint
   * copies the pages written since the last one into the database and syncs it; a first
   * crawl's batches rewrite most index pages every time (file ids are hashes), so checkpoints
   * every 1,000 pages copied them ~15 times over for 100,000 files and waited on ~15 syncs.
   */
  deferCheckpoints(): () => void {
    if (this.#bulk++ === 0) this.db.pragma('wal_autocheckpoint = 0');
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.#bulk === 0 && this.#db) this.#db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT}`);
    };
  }

  /** Whether any document was seen through `mount` (a first crawl inserts without lookups). */
  hasDocsOf(mount: string): boolean {
    return this.stmt('SELECT 1 FROM files WHERE mount = ? LIMIT 1').get(mount) !== undefined;
  }

  /** The digest of directory `path`'s entries as the last complete crawl stored it. */
  dirDigest(path: string): string | undefined {
    const r = this.stmt('SELECT digest FROM dir_digests WHERE path = ?').get(path) as
      { digest: string } | undefined;
    return r?.digest;
  }

  /**
   * Apply crawler/watcher changes in one transaction. `opts.digests` (directory path → digest
   * of its listing) are stored after the changes, in the same transaction: the crawler passes
   * them once the documents of those directories match their listings.
   */
  write(
    ops: readonly CatalogWrite[],
    opts: { digests?: ReadonlyMap<string, string> | undefined } = {},
  ): WriteResult {
    const { digests } = opts;
    const result: WriteResult = { inserted: 0, updated: 0, moved: 0, removed: 0, unchanged: 0 };
    if (ops.length === 0 && (digests === undefined || digests.size === 0)) return result;
    this.transaction(() => {
      const now = Date.now();
      // Read inside the write transaction: no other process changes them until it ends.
      const rules = this.stmt(
        'SELECT label, prefix, node FROM label_rules WHERE enabled = 1',
      ).all() as Rule[];
      const labels: Labelling = {
        rules,
        assigned: this.stmt('SELECT 1 FROM label_assignments LIMIT 1').get() !== undefined,
      };
      const touched = new Set<string>();
      for (const op of ops) {
        if (op.op === 'remove') result.removed += this.#remove(op.path, op.local, touched);
        else if (op.op === 'insert') this.#insertNew(op.file, now, result, labels, touched);
        else this.#upsert(op.file, now, result, labels, touched);
      }
      // A directory whose documents changed no longer matches its stored listing digest.
      const drop = this.stmt('DELETE FROM dir_digests WHERE path = ?');
      for (const dir of touched) drop.run(dir);
      if (digests !== undefined) {
        const put = this.stmt('INSERT OR REPLACE INTO dir_digests (path, digest) VALUES (?, ?)');
        for (const [dir, digest] of digests) put.run(dir, digest);
      }
    });
    return result;
  }

  #remove(path: string, local: number | undefined, touched: Set<string>): number {
    this.#pathsNeeded();
    if (local !== undefined) {
      const row = this.stmt('SELECT local FROM files WHERE path = ?').get(path) as
        { local: number } | undefined;
      if (row?.local !== local) return 0; // Since moved or replaced: not ours to remove.
    }
    const prefix = dirPrefix(path);
    const n =
      this.stmt('DELETE FROM files WHERE path = ?').run(path).changes +
      this.stmt('DELETE FROM files WHERE path >= ? AND path < ?').run(prefix, prefixEnd(prefix)).changes;
    if (n > 0) this.#forgetDigests(path, touched);
    return n;
  }

  /** Directory `path` (if one) and its subtree no longer match their stored digests; nor does its parent. */
  #forgetDigests(path: string, touched: Set<string>): void {
    touched.add(splitParent(path).parent);
    const prefix = dirPrefix(path);
    this.stmt('DELETE FROM dir_digests WHERE path = ? OR (path >= ? AND path < ?)').run(
      path,
      prefix,
      prefixEnd(prefix),
    );
  }

  #move(from: string, to: string, touched: Set<string>): void {
    this.#pathsNeeded();
    const prefix = dirPrefix(from);
    this.stmt(
      'UPDATE files SET path = ? || substr(path, ?), parent = ? || substr(parent, ?) WHERE path >= ? AND path < ?',
    ).run(to, from.length + 1, to, from.length + 1, prefix, prefixEnd(prefix));
    this.#forgetDigests(from, touched);
    this.#forgetDigests(to, touched);
  }

  #upsert(f: FileSighting, now: number, result: WriteResult, labels: Labelling, touched: Set<string>): void {
    const { parent, name } = splitParent(f.path);
    const mime = f.kind === 'file' ? mimeOf(name) : null;
    const row = this.stmt(
      'SELECT inode, path, kind, size, mtime_ms FROM files WHERE mount = ? AND local = ?',
    ).get(f.mount, f.local) as Pick<FileRow, 'inode' | 'path' | 'kind' | 'size' | 'mtime_ms'> | undefined;
    const atPathOf = () => {
      this.#pathsNeeded();
      return this.stmt('SELECT inode, local FROM files WHERE path = ?').get(f.path) as
        { inode: number; local: number } | undefined;
    };
    if (row) {
      if (row.path === f.path && row.size === f.size && row.mtime_ms === f.mtimeMs && row.kind === f.kind) {
        result.unchanged++;
        return;
      }
      touched.add(parent);
      if (row.path !== f.path) {
        // A rename: the document follows the file (one update). Whatever it replaced goes.
        const atPath = atPathOf();
        if (atPath && atPath.inode !== row.inode) this.#remove(f.path, undefined, touched);
        if (row.kind === 'dir') this.#move(row.path, f.path, touched);
        touched.add(splitParent(row.path).parent);
        result.moved++;
      } else result.updated++;
      this.stmt(
        'UPDATE files SET path = ?, parent = ?, name = ?, kind = ?, size = ?, mtime_ms = ?, mime = ?, indexed_at = ? WHERE inode = ?',
      ).run(f.path, parent, name, f.kind, f.size, f.mtimeMs, mime, now, row.inode);
      return;
    }
    touched.add(parent);
    const atPath = atPathOf();
    if (atPath) {
      if (!f.persistentIds) {
        // Ids do not survive restarts: the same path is the same file under a new id.
        this.stmt(
          'UPDATE files SET local = ?, kind = ?, size = ?, mtime_ms = ?, mime = ?, indexed_at = ? WHERE inode = ?',
        ).run(f.local, f.kind, f.size, f.mtimeMs, mime, now, atPath.inode);
        result.updated++;
        return;
      }
      this.#remove(f.path, undefined, touched); // Another file now has this name.
    }
    const fileId = fileIdOf(f);
    let inode: number;
    try {
      inode = this.#insertRow(f, fileId, parent, name, mime, now);
    } catch (err) {
      if ((err as { code?: string }).code !== 'SQLITE_CONSTRAINT_UNIQUE') throw err;
      // The same file seen before through another mount path: it moves here.
      const old = this.stmt('SELECT path FROM files WHERE file_id = ?').get(fileId) as { path: string };
      this.#remove(old.path, undefined, touched);
      inode = this.#insertRow(f, fileId, parent, name, mime, now);
    }
    this.#labelNew(inode, fileId, f, labels);
    result.inserted++;
  }

  /**
   * {@link CatalogWrite} `insert`: one INSERT, no lookups. A document it meets after all (a
   * hard link's second name, a file seen before through another mount) makes it an upsert;
   * the failed statement changed nothing.
   */
  #insertNew(
    f: FileSighting,
    now: number,
    result: WriteResult,
    labels: Labelling,
    touched: Set<string>,
  ): void {
    const { parent, name } = splitParent(f.path);
    const fileId = fileIdOf(f);
    let inode: number;
    try {
      inode = this.#insertRow(f, fileId, parent, name, f.kind === 'file' ? mimeOf(name) : null, now);
    } catch (err) {
      if ((err as { code?: string }).code !== 'SQLITE_CONSTRAINT_UNIQUE') throw err;
      this.#upsert(f, now, result, labels, touched);
      return;
    }
    touched.add(parent);
    this.#labelNew(inode, fileId, f, labels);
    result.inserted++;
  }

  /** Insert the document of `f`; returns its inode. */
  #insertRow(
    f: FileSighting,
    fileId: string,
    parent: string,
    name: string,
    mime: string | null,
    now: number,
  ): number {
    const r = this.stmt(
      'INSERT INTO files (file_id, mount, local, node, export, path, parent, name, kind, size, mtime_ms, mime, indexed_at) ' +
        'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ).run(
      fileId,
      f.mount,
      f.local,
      f.node,
      f.export,
      f.path,
      parent,
      name,
      f.kind,
      f.size,
      f.mtimeMs,
      mime,
      now,
    );
    return Number(r.lastInsertRowid);
  }

  /**
   * The effective labels of a document just inserted (its assignments ∪ matching rules).
   * Here rather than in an insert trigger: a trigger's two INSERT … SELECT cost about a
   * third of a crawl's insert even when there are no labels at all, and every file insert
   * goes through this store; the label tables' own triggers stay in the schema, so labels
   * written by any process still reach existing documents. With no assignment at all in the
   * catalog (checked once per batch) there is nothing to look up per file.
   */
  #labelNew(inode: number, fileId: string, f: FileSighting, labels: Labelling): void {
    const matching = labels.rules.filter(
      (r) => (r.node === null || r.node === f.node) && f.path.startsWith(r.prefix),
    );
    const assigned =
      labels.assigned &&
      this.stmt('SELECT 1 FROM label_assignments WHERE file_id = ? LIMIT 1').get(fileId) !== undefined;
    if (matching.length === 0 && !assigned) return;
    const add = this.stmt('INSERT OR IGNORE INTO file_labels (label, inode) VALUES (?, ?)');
    for (const r of matching) add.run(r.label, inode);
    if (assigned)
      this.stmt(
        'INSERT OR IGNORE INTO file_labels (label, inode) SELECT label, ? FROM label_assignments WHERE file_id = ?',
      ).run(inode, fileId);
  }
}

/** The file id of a sighting (by Source id, or by path where ids do not persist). */
function fileIdOf(f: FileSighting): string {
  return fileIdOfIdentity({
    node: f.node,
    export: f.export,
    key: f.persistentIds ? `id:${f.local}` : `path:${f.exportPath}`,
  });
}
