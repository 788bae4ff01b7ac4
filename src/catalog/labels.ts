import { createHash } from 'node:crypto';
import { z } from 'zod';
import { nameProblem } from '../core/config.ts';
import { FsError } from '../core/fs-error.ts';
import { parseInput } from './parse-input.ts';
import type { CatalogStore } from './store.ts';

/** A label: 1–64 characters, no whitespace, no `,` (labels are listed comma-separated). */
export const labelSchema = z
  .string()
  .min(1, 'a label must not be empty')
  .max(64, 'a label has at most 64 characters')
  .regex(/^[^\s,]+$/, 'a label has no whitespace and no commas');

/** A label given to one file. Its id is deterministic: `la:<fileId>:<label>`. */
export interface LabelAssignment {
  id: string;
  fileId: string;
  label: string;
  /** The file's path when the label was given (for display; the assignment follows the file). */
  path: string;
  createdAt: number;
}

/** A label given to every file under a namespace path prefix (optionally of one node's data). */
export interface LabelRule {
  /** Deterministic: from prefix, node and label. */
  id: string;
  /** Namespace path ending with `/`. */
  prefix: string;
  node: string | null;
  label: string;
  enabled: boolean;
  createdAt: number;
}

/** Input of {@link addRule} (validated). */
export const ruleInputSchema = z.strictObject({
  prefix: z
    .string()
    .max(4096)
    .refine((p) => p.startsWith('/') && p.endsWith('/'), 'a rule prefix is an absolute path ending with "/"')
    .refine(
      (p) => !p.split('/').some((s) => s === '.' || s === '..'),
      'a rule prefix has no "." or ".." segments',
    )
    .refine((p) => !p.includes('//'), 'a rule prefix has no empty segments'),
  node: z
    .string()
    .nullish()
    .superRefine((n, ctx) => {
      const problem = n == null ? undefined : nameProblem(n);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `node name ${problem}` });
    }),
  label: labelSchema,
  enabled: z.boolean().default(true),
});

/** The deterministic id of a rule. */
export function ruleIdOf(rule: { prefix: string; node?: string | null | undefined; label: string }): string {
  const h = createHash('sha256')
    .update(`${rule.prefix}\0${rule.node ?? ''}\0${rule.label}`)
    .digest('hex');
  return `lr:${h.slice(0, 16)}`;
}

/** The file a path or inode names, or ENOENT. */
function fileOf(store: CatalogStore, target: { path?: string | undefined; inode?: number | undefined }) {
  const doc =
    target.inode !== undefined ? store.fileByInode(target.inode) : store.fileByPath(target.path ?? '');
  if (!doc) throw FsError.ENOENT('labels', target.path ?? String(target.inode), 'not in the catalog');
  return doc;
}

/** Give `labels` to a file (upsert: giving a label twice is one assignment). */
export function assignLabels(
  store: CatalogStore,
  opts: { path?: string | undefined; inode?: number | undefined; labels: readonly string[] },
): LabelAssignment[] {
  const labels = opts.labels.map((l) => parseInput({ schema: labelSchema, value: l, op: 'labels add' }));
  const doc = fileOf(store, opts);
  const now = Date.now();
  store.transaction(() => {
    for (const label of labels)
      store
        .stmt(
          'INSERT OR IGNORE INTO label_assignments (file_id, label, path, created_at) VALUES (?, ?, ?, ?)',
        )
        .run(doc.fileId, label, doc.path, now);
  });
  return listAssignments(store, { fileId: doc.fileId }).filter((a) => labels.includes(a.label));
}

/** Take labels from a file; returns how many assignments went. */
export function unassignLabels(
  store: CatalogStore,
  opts: { path?: string | undefined; inode?: number | undefined; labels: readonly string[] },
): number {
  const doc = fileOf(store, opts);
  return store.transaction(() =>
    opts.labels.reduce(
      (n, label) =>
        n +
        store.stmt('DELETE FROM label_assignments WHERE file_id = ? AND label = ?').run(doc.fileId, label)
          .changes,
      0,
    ),
  );
}

interface AssignmentRow {
  file_id: string;
  label: string;
  path: string;
  created_at: number;
}

/** Assignments, optionally of one file or one label. */
export function listAssignments(
  store: CatalogStore,
  opts: { fileId?: string | undefined; label?: string | undefined } = {},
): LabelAssignment[] {
  // The file's path now where it is indexed, else the path it had when labelled.
  const select =
    'SELECT a.file_id, a.label, coalesce(f.path, a.path) AS path, a.created_at FROM label_assignments a ' +
    'LEFT JOIN files f ON f.file_id = a.file_id';
  const rows = (
    opts.fileId !== undefined
      ? store.stmt(`${select} WHERE a.file_id = ? ORDER BY a.label`).all(opts.fileId)
      : opts.label !== undefined
        ? store.stmt(`${select} WHERE a.label = ? ORDER BY path`).all(opts.label)
        : store.stmt(`${select} ORDER BY path, a.label`).all()
  ) as AssignmentRow[];
  return rows.map((r) => ({
    id: `la:${r.file_id}:${r.label}`,
    fileId: r.file_id,
    label: r.label,
    path: r.path,
    createdAt: r.created_at,
  }));
}

interface RuleRow {
  id: string;
  prefix: string;
  node: string | null;
  label: string;
  enabled: number;
  created_at: number;
}

const toRule = (r: RuleRow): LabelRule => ({
  id: r.id,
  prefix: r.prefix,
  node: r.node,
  label: r.label,
  enabled: r.enabled === 1,
  createdAt: r.created_at,
});

/** Add a rule, or update the `enabled` flag of the same rule (upsert by deterministic id). */
export function addRule(store: CatalogStore, input: z.input<typeof ruleInputSchema>): LabelRule {
  const rule = parseInput({
    schema: ruleInputSchema,
    value: input,
    op: 'labels rule add',
  });
  const id = ruleIdOf(rule);
  store.transaction(() => {
    store
      .stmt(
        'INSERT INTO label_rules (id, prefix, node, label, enabled, created_at) VALUES (?, ?, ?, ?, ?, ?) ' +
          'ON CONFLICT (id) DO UPDATE SET enabled = excluded.enabled WHERE enabled != excluded.enabled',
      )
      .run(id, rule.prefix, rule.node ?? null, rule.label, rule.enabled ? 1 : 0, Date.now());
  });
  return getRule(store, id)!;
}

/** A rule by id. */
export function getRule(store: CatalogStore, id: string): LabelRule | undefined {
  const r = store.stmt('SELECT * FROM label_rules WHERE id = ?').get(id) as RuleRow | undefined;
  return r && toRule(r);
}

/** Enable or disable a rule; ENOENT if there is none with `id`. */
export function setRuleEnabled(store: CatalogStore, opts: { id: string; enabled: boolean }): LabelRule {
  store.transaction(() => {
    const n = store
      .stmt('UPDATE label_rules SET enabled = ? WHERE id = ? AND enabled != ?')
      .run(opts.enabled ? 1 : 0, opts.id, opts.enabled ? 1 : 0).changes;
    if (n === 0 && !getRule(store, opts.id)) throw FsError.ENOENT('labels rule', opts.id, 'no such rule');
  });
  return getRule(store, opts.id)!;
}

/** Remove a rule; ENOENT if there is none with `id`. */
export function removeRule(store: CatalogStore, opts: { id: string }): void {
  store.transaction(() => {
    if (store.stmt('DELETE FROM label_rules WHERE id = ?').run(opts.id).changes === 0)
      throw FsError.ENOENT('labels rule', opts.id, 'no such rule');
  });
}

/** Every rule, by prefix. */
export function listRules(store: CatalogStore): LabelRule[] {
  return (store.stmt('SELECT * FROM label_rules ORDER BY prefix, label').all() as RuleRow[]).map(toRule);
}

/** Every label in use (by an assignment or a rule) with how many files have it now. */
export function listLabels(store: CatalogStore): { label: string; files: number }[] {
  return store
    .stmt(
      `SELECT l.label, (SELECT count(*) FROM file_labels f WHERE f.label = l.label) AS files FROM (
         SELECT label FROM label_assignments UNION SELECT label FROM label_rules) l ORDER BY l.label`,
    )
    .all() as { label: string; files: number }[];
}

/**
 * The effective labels of a file with where each comes from: the materialized set, and the
 * assignments and enabled rules that explain it.
 */
export function effectiveLabels(
  store: CatalogStore,
  opts: { path?: string | undefined; inode?: number | undefined },
): { path: string; inode: number; labels: string[]; assigned: string[]; rules: LabelRule[] } {
  const doc = fileOf(store, opts);
  const rules = listRules(store).filter(
    (r) => r.enabled && (r.node === null || r.node === doc.node) && doc.path.startsWith(r.prefix),
  );
  return {
    path: doc.path,
    inode: doc.inode,
    labels: store.labelsOf(doc.inode),
    assigned: listAssignments(store, { fileId: doc.fileId }).map((a) => a.label),
    rules,
  };
}
