/**
 * The catalog's SQLite schema. Everything that must stay consistent whichever process writes
 * (the node indexing, the CLI adding a label) is kept so by the database itself: the
 * materialized effective-label cache and the name index's rows already indexed are maintained
 * by triggers, so a write from any connection updates them in the same transaction. Two
 * exceptions, both on the insert of a file document, which only `CatalogStore.write` does: it
 * labels the new row itself, and the name index is filled behind it (below).
 */

/** Bumped when the schema changes incompatibly (the store refuses a newer one). */
export const SCHEMA_VERSION = 5;

/**
 * `prefix` ends with `/`; `prefix_end(prefix)` is the same string with the final `/` replaced
 * by `0` (the next code point), so `path >= prefix AND path < end` is an index range scan.
 */
const UNDER = (col: string, prefix: string): string =>
  `(${col} >= ${prefix} AND ${col} < substr(${prefix}, 1, length(${prefix}) - 1) || '0')`;

/** Rules that give a label to a file row `f`. */
const RULE_MATCHES = (f: string): string =>
  `r.enabled = 1 AND (r.node IS NULL OR r.node = ${f}.node) AND substr(${f}.path, 1, length(r.prefix)) = r.prefix`;

/** Recompute the effective labels of file `f` (its assignments ∪ matching rules). */
const RELABEL = (f: string): string => `
  DELETE FROM file_labels WHERE inode = ${f}.inode;
  INSERT OR IGNORE INTO file_labels (label, inode)
    SELECT a.label, ${f}.inode FROM label_assignments a WHERE a.file_id = ${f}.file_id;
  INSERT OR IGNORE INTO file_labels (label, inode)
    SELECT r.label, ${f}.inode FROM label_rules r WHERE ${RULE_MATCHES(f)};`;

/** Drop label `L` from files under rule `R`'s prefix unless an assignment or another rule still gives it. */
const UNRULE = (R: string): string => `
  DELETE FROM file_labels WHERE label = ${R}.label AND inode IN (
    SELECT f.inode FROM files f WHERE ${UNDER('f.path', `${R}.prefix`)}
      AND (${R}.node IS NULL OR f.node = ${R}.node)
      AND NOT EXISTS (SELECT 1 FROM label_assignments a WHERE a.file_id = f.file_id AND a.label = ${R}.label)
      AND NOT EXISTS (SELECT 1 FROM label_rules r WHERE r.id != ${R}.id AND r.label = ${R}.label AND ${RULE_MATCHES('f')}));`;

/** Give rule `R`'s label to every file under its prefix. */
const RULE = (R: string): string => `
  INSERT OR IGNORE INTO file_labels (label, inode)
    SELECT ${R}.label, f.inode FROM files f WHERE ${R}.enabled = 1 AND ${UNDER('f.path', `${R}.prefix`)}
      AND (${R}.node IS NULL OR f.node = ${R}.node);`;

/**
 * Files by path, covering what virtual directories read (the inode is the rowid): a listing
 * range-scans the index alone. Rows of a subtree lie scattered in the table; fetching them
 * from it costs several times the scan (bench/vfs.bench.ts).
 */
const FILES_BY_PATH =
  'CREATE INDEX IF NOT EXISTS files_by_path ON files (path, export, node, kind, size, mtime_ms, mime, file_id);';

/**
 * The indexes of `files` a first crawl into an empty table leaves out and builds once at its
 * end (`CatalogStore.deferIndexes`); made again on every open, in case a crawl was cut
 * short. Neither backs a constraint.
 */
export const PATH_INDEXES = `${FILES_BY_PATH}
CREATE INDEX IF NOT EXISTS files_by_parent ON files (parent, name);`;

/**
 * File ids are unique through a named index (catalogs created before it have the column's
 * UNIQUE constraint instead, which cannot be dropped): a first crawl into an empty table
 * builds it at its end too (keyed by a hash, it costs a crawl's inserts the most). Rows that
 * share a file id by then (one export mounted twice) keep the last one, as an insert meeting
 * the index would have moved the document there.
 */
export const FILE_ID_INDEX = 'files_by_file_id';
export const FILE_ID_DEDUP = `DELETE FROM files WHERE inode IN (
  SELECT f.inode FROM files f JOIN (
    SELECT file_id, max(inode) AS keep FROM files GROUP BY file_id HAVING count(*) > 1
  ) d ON f.file_id = d.file_id AND f.inode != d.keep);`;
export const FILE_ID_UNIQUE = `CREATE UNIQUE INDEX IF NOT EXISTS ${FILE_ID_INDEX} ON files (file_id);`;

/** Rows of `files` at or below this inode are in the name index (`files_fts`). */
const FTS_UPTO = '(SELECT upto FROM fts_state)';

/**
 * The name index is filled behind the writes (`CatalogStore.indexNames`), not by an insert
 * trigger: a crawl's inserts skip its cost, and search scans the rows above the watermark
 * (inodes only count up, so every row not yet indexed is above it). Changes to rows already
 * indexed keep the index in step here.
 */
const NAME_INDEX = `
CREATE TABLE IF NOT EXISTS fts_state (id INTEGER PRIMARY KEY CHECK (id = 1), upto INTEGER NOT NULL);
DROP TRIGGER IF EXISTS files_ad_fts;
CREATE TRIGGER files_ad_fts AFTER DELETE ON files WHEN old.inode <= ${FTS_UPTO} BEGIN
  INSERT INTO files_fts (files_fts, rowid, name) VALUES ('delete', old.inode, old.name);
END;
DROP TRIGGER IF EXISTS files_au_name;
CREATE TRIGGER files_au_name AFTER UPDATE OF name ON files
  WHEN new.name != old.name AND old.inode <= ${FTS_UPTO} BEGIN
  INSERT INTO files_fts (files_fts, rowid, name) VALUES ('delete', old.inode, old.name);
  INSERT INTO files_fts (rowid, name) VALUES (new.inode, new.name);
END;`;

/**
 * Labels of a file row as it is removed. A new row gets its labels from the store's insert
 * (`CatalogStore.write`, the one place documents are inserted): an insert trigger cost about
 * a third of each insert even with no labels at all.
 */
const FILES_AI = `
DROP TRIGGER IF EXISTS files_ai;
DROP TRIGGER IF EXISTS files_ad;
CREATE TRIGGER files_ad AFTER DELETE ON files BEGIN
  DELETE FROM file_labels WHERE inode = old.inode;
END;`;

/**
 * What the last complete crawl listed in each directory, as one digest of every entry's name,
 * Source id, kind, size and mtime (`crawler.ts`): a re-crawl whose listing gives the same
 * digest knows every document of the directory is current without reading them. A row is
 * written only when the documents match the listing (the end of a crawl) and dropped by
 * every write to a document of the directory (`CatalogStore.write`).
 */
const DIR_DIGESTS =
  'CREATE TABLE IF NOT EXISTS dir_digests (path TEXT PRIMARY KEY, digest TEXT NOT NULL) WITHOUT ROWID;';

/** How a database of an older version becomes the current one (from version → DDL). */
export const SCHEMA_UPGRADES: Readonly<Record<number, string>> = {
  1: `DROP INDEX files_by_path; ${FILES_BY_PATH}`,
  // Everything already in the table is already in the name index.
  2: `${FILES_AI} ${NAME_INDEX}
    INSERT OR IGNORE INTO fts_state (id, upto)
      SELECT 1, coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'files'), 0);`,
  3: FILES_AI,
  4: DIR_DIGESTS,
};

/** The DDL, applied once to a fresh database. */
export const SCHEMA_SQL = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;

CREATE TABLE files (
  inode     INTEGER PRIMARY KEY AUTOINCREMENT,
  file_id   TEXT NOT NULL,
  mount     TEXT NOT NULL,
  local     INTEGER NOT NULL,
  node      TEXT NOT NULL,
  export    TEXT NOT NULL,
  path      TEXT NOT NULL,
  parent    TEXT NOT NULL,
  name      TEXT NOT NULL,
  kind      TEXT NOT NULL,
  size      INTEGER NOT NULL,
  mtime_ms  REAL NOT NULL,
  mime      TEXT,
  indexed_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX files_by_local ON files (mount, local);
${FILE_ID_UNIQUE}
${PATH_INDEXES}

${DIR_DIGESTS}

CREATE VIRTUAL TABLE files_fts USING fts5 (name, content = 'files', content_rowid = 'inode', tokenize = 'trigram');

CREATE TABLE label_assignments (
  file_id TEXT NOT NULL,
  label   TEXT NOT NULL,
  path    TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (file_id, label)
) WITHOUT ROWID;

CREATE TABLE label_rules (
  id      TEXT PRIMARY KEY,
  prefix  TEXT NOT NULL,
  node    TEXT,
  label   TEXT NOT NULL,
  enabled INTEGER NOT NULL DEFAULT 1,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE file_labels (
  label TEXT NOT NULL,
  inode INTEGER NOT NULL,
  PRIMARY KEY (label, inode)
) WITHOUT ROWID;
CREATE INDEX file_labels_by_inode ON file_labels (inode, label);

CREATE TABLE documents (
  type TEXT NOT NULL,
  id   TEXT NOT NULL,
  rev  INTEGER NOT NULL,
  body TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (type, id)
) WITHOUT ROWID;

CREATE TABLE mounts (
  mount   TEXT PRIMARY KEY,
  node    TEXT NOT NULL,
  export  TEXT NOT NULL,
  source_kind TEXT NOT NULL,
  state   TEXT NOT NULL,
  -- Unused: document counts are computed from files when read (mountStates).
  files   INTEGER NOT NULL DEFAULT 0,
  dirs    INTEGER NOT NULL DEFAULT 0,
  seen    INTEGER NOT NULL DEFAULT 0,
  crawls  INTEGER NOT NULL DEFAULT 0,
  crawl_started_at INTEGER,
  crawl_finished_at INTEGER,
  last_crawl_ms INTEGER,
  last_event_at INTEGER,
  last_error TEXT,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE storage_samples (
  mount  TEXT NOT NULL,
  at     INTEGER NOT NULL,
  node   TEXT NOT NULL,
  export TEXT NOT NULL,
  total_bytes INTEGER NOT NULL,
  used_bytes  INTEGER NOT NULL,
  avail_bytes INTEGER NOT NULL,
  files  INTEGER NOT NULL,
  ffree  INTEGER NOT NULL,
  PRIMARY KEY (mount, at)
) WITHOUT ROWID;

${FILES_AI}
${NAME_INDEX}
CREATE TRIGGER files_au_path AFTER UPDATE OF path, node ON files
  WHEN new.path != old.path OR new.node != old.node BEGIN
  ${RELABEL('new')}
END;

CREATE TRIGGER assignments_ai AFTER INSERT ON label_assignments BEGIN
  INSERT OR IGNORE INTO file_labels (label, inode)
    SELECT new.label, f.inode FROM files f WHERE f.file_id = new.file_id;
END;
CREATE TRIGGER assignments_ad AFTER DELETE ON label_assignments BEGIN
  DELETE FROM file_labels WHERE label = old.label AND inode IN (
    SELECT f.inode FROM files f WHERE f.file_id = old.file_id
      AND NOT EXISTS (SELECT 1 FROM label_rules r WHERE r.label = old.label AND ${RULE_MATCHES('f')}));
END;

CREATE TRIGGER rules_ai AFTER INSERT ON label_rules BEGIN
  ${RULE('new')}
END;
CREATE TRIGGER rules_ad AFTER DELETE ON label_rules BEGIN
  ${UNRULE('old')}
END;
CREATE TRIGGER rules_au AFTER UPDATE ON label_rules BEGIN
  ${UNRULE('old')}
  ${RULE('new')}
END;
`;
