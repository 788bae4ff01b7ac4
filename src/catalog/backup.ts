import { z } from 'zod';
import { FsError } from '../core/fs-error.ts';
import { labelSchema, listRules, ruleIdOf, ruleInputSchema } from './labels.ts';
import { parseInput } from './parse-input.ts';
import type { CatalogStore } from './store.ts';

/** The `format` field of a catalog backup. */
export const BACKUP_FORMAT = 'tessera-catalog-backup';
/** Version of the backup document. */
export const BACKUP_VERSION = 1;

/** Credential metadata as a backup carries it: never a secret or verifier. */
export const backupCredentialSchema = z.looseObject({
  id: z.string().max(256),
  name: z.string().max(256),
});

/** A catalog backup: the catalog's configuration, not its file documents (those are re-crawled). */
export const backupSchema = z.strictObject({
  format: z.literal(BACKUP_FORMAT),
  version: z.literal(BACKUP_VERSION),
  createdAt: z.string(),
  node: z.string().max(256),
  /** JSON documents (virtual directories and others), with their revisions. */
  documents: z.array(
    z.strictObject({
      type: z.string().min(1).max(64),
      id: z.string().min(1).max(4096),
      rev: z.int().min(1),
      body: z.unknown(),
    }),
  ),
  labelAssignments: z.array(
    z.strictObject({
      fileId: z.string().regex(/^f[0-9a-f]{16}$/, 'a file id'),
      label: labelSchema,
      path: z.string().max(4096),
      createdAt: z.int().min(0),
    }),
  ),
  labelRules: z.array(ruleInputSchema.extend({ id: z.string(), createdAt: z.int().min(0) })),
  /** Credential metadata for the record (restoring cannot bring back secrets). */
  credentials: z.array(backupCredentialSchema),
});

/** A catalog backup document. */
export type CatalogBackup = z.output<typeof backupSchema>;

const SECRET_KEYS = /secret|verifier|password|token|salt|key$/i;

/**
 * The catalog's configuration as one JSON document: JSON documents (virtual directories),
 * label assignments and rules, and the credential metadata the caller passes (any field
 * whose name looks secret is dropped, whatever the caller passed).
 */
export function createBackup(
  store: CatalogStore,
  opts: { node: string; credentials?: readonly Record<string, unknown>[] | undefined },
): CatalogBackup {
  const documents = (
    store.stmt('SELECT type, id, rev, body FROM documents ORDER BY type, id').all() as {
      type: string;
      id: string;
      rev: number;
      body: string;
    }[]
  ).map((d) => ({ type: d.type, id: d.id, rev: d.rev, body: JSON.parse(d.body) as unknown }));
  const labelAssignments = (
    store
      .stmt('SELECT file_id, label, path, created_at FROM label_assignments ORDER BY file_id, label')
      .all() as {
      file_id: string;
      label: string;
      path: string;
      created_at: number;
    }[]
  ).map((a) => ({ fileId: a.file_id, label: a.label, path: a.path, createdAt: a.created_at }));
  const labelRules = listRules(store);
  const credentials = (opts.credentials ?? []).map((c) =>
    Object.fromEntries(Object.entries(c).filter(([k]) => !SECRET_KEYS.test(k) || k === 'id')),
  ) as CatalogBackup['credentials'];
  return {
    format: BACKUP_FORMAT,
    version: BACKUP_VERSION,
    createdAt: new Date().toISOString(),
    node: opts.node,
    documents,
    labelAssignments,
    labelRules,
    credentials,
  };
}

/** Whether the catalog holds no configuration (documents, assignments, rules). */
export function configurationIsEmpty(store: CatalogStore): boolean {
  const n = store
    .stmt(
      'SELECT (SELECT count(*) FROM documents) + (SELECT count(*) FROM label_assignments) + (SELECT count(*) FROM label_rules) AS n',
    )
    .get() as { n: number };
  return n.n === 0;
}

/**
 * Restore a backup (validated here) into a catalog without configuration; anything else is
 * `EEXIST`. File documents are not part of a backup: the node's crawl brings them back, and
 * restored assignments attach to them by file id. Credentials are not restored (a backup
 * holds no secrets): they are returned for the caller to report.
 */
export function restoreBackup(
  store: CatalogStore,
  raw: unknown,
): { documents: number; labelAssignments: number; labelRules: number; credentialsNotRestored: string[] } {
  const b = parseInput({
    schema: backupSchema,
    value: raw,
    op: 'catalog restore',
    prefix: 'not a catalog backup: ',
  });
  for (const r of b.labelRules) {
    if (ruleIdOf(r) !== r.id)
      throw FsError.EINVAL('catalog restore', r.id, 'a rule id does not match its rule');
  }
  store.transaction(() => {
    if (!configurationIsEmpty(store))
      throw FsError.EEXIST(
        'catalog restore',
        store.file,
        'the catalog already has configuration: restore only into an empty one',
      );
    for (const d of b.documents)
      store
        .stmt('INSERT INTO documents (type, id, rev, body, updated_at) VALUES (?, ?, ?, ?, ?)')
        .run(d.type, d.id, d.rev, JSON.stringify(d.body), Date.now());
    for (const a of b.labelAssignments)
      store
        .stmt(
          'INSERT OR IGNORE INTO label_assignments (file_id, label, path, created_at) VALUES (?, ?, ?, ?)',
        )
        .run(a.fileId, a.label, a.path, a.createdAt);
    for (const r of b.labelRules)
      store
        .stmt(
          'INSERT OR IGNORE INTO label_rules (id, prefix, node, label, enabled, created_at) VALUES (?, ?, ?, ?, ?, ?)',
        )
        .run(r.id, r.prefix, r.node ?? null, r.label, r.enabled ? 1 : 0, r.createdAt);
  });
  return {
    documents: b.documents.length,
    labelAssignments: b.labelAssignments.length,
    labelRules: b.labelRules.length,
    credentialsNotRestored: b.credentials.map((c) => `${c.id} (${c.name})`),
  };
}
