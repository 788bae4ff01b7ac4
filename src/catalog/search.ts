import { z } from 'zod';
import type { FileDoc } from './file-doc.ts';
import { labelSchema } from './labels.ts';
import { parseInput } from './parse-input.ts';
import { type CatalogStore, dirPrefix, type FileRow, prefixEnd, toDoc } from './store.ts';

/** Search input (validated with zod at every boundary that calls {@link search}). */
export const searchQuerySchema = z.strictObject({
  /** Case-insensitive substring of the name. */
  q: z.string().max(1024).optional(),
  /** Shell glob over the whole name (`*`, `?`, `[…]`; case-sensitive). */
  glob: z.string().max(1024).optional(),
  /** Labels the file must all have (ANDed). */
  labels: z.array(labelSchema).max(32).default([]),
  /** Only under this namespace directory. */
  under: z
    .string()
    .max(4096)
    .refine((p) => p.startsWith('/'), 'an absolute namespace path')
    .optional(),
  /** Include directories (default: files, symlinks and other non-directories only). */
  dirs: z.boolean().default(false),
  /** Page size. */
  limit: z.int().min(1).max(1000).default(50),
  /** `next` of the previous page. */
  cursor: z
    .string()
    .regex(/^[0-9]{1,16}$/, 'a cursor from a previous page')
    .optional(),
});

/** A search request (before defaults). */
export type SearchQuery = z.input<typeof searchQuerySchema>;

/** A page of results, with the labels of each. */
export interface SearchPage {
  results: (FileDoc & { labels: string[] })[];
  /** Cursor of the next page; absent on the last one. */
  next?: string;
}

/** Escape LIKE's wildcards (the substring is matched literally, `\` the escape character). */
function likeLiteral(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * Search file documents by name: a case-insensitive substring (`q`), a glob over the whole
 * name (`glob`), labels that must all be present, optionally under a path; paged by a cursor
 * (results in a stable order: inode). Names are matched through a trigram index, so a
 * substring of 3 or more characters is an index lookup at any catalog size; shorter ones
 * scan names until a page is full.
 */
export function search(store: CatalogStore, input: SearchQuery): SearchPage {
  const q = parseInput({ schema: searchQuerySchema, value: input, op: 'search' });
  const where: string[] = [];
  const args: unknown[] = [];
  const fts: string[] = [];
  const ftsArgs: unknown[] = [];
  // What the rows not yet in the name index are tested with instead of it.
  const scan: string[] = [];
  const scanArgs: unknown[] = [];
  if (q.q !== undefined && q.q !== '') {
    // A quoted phrase of 3+ characters is a substring lookup in the trigram index (its case
    // folding makes it case-insensitive). Not LIKE: FTS5 ignores its index for LIKE … ESCAPE
    // and tests every row instead, and without ESCAPE `%` and `_` would be wildcards.
    if ([...q.q].length >= 3) {
      fts.push('files_fts MATCH ?');
      ftsArgs.push(`"${q.q.replace(/"/g, '""')}"`);
      scan.push("f.name LIKE ? ESCAPE '\\'");
      scanArgs.push(likeLiteral(q.q));
    } else {
      where.push("f.name LIKE ? ESCAPE '\\'");
      args.push(likeLiteral(q.q));
    }
  }
  if (q.glob !== undefined && q.glob !== '') {
    if (fts.length === 0 && /[^*?[\]]{3}/.test(q.glob)) {
      fts.push('files_fts.name GLOB ?');
      ftsArgs.push(q.glob);
      scan.push('f.name GLOB ?');
      scanArgs.push(q.glob);
    } else {
      where.push('f.name GLOB ?');
      args.push(q.glob);
    }
  }
  // Without a name index to drive the scan, the first label's (label, inode) index does.
  const driveByLabel = fts.length === 0 && q.labels.length > 0;
  q.labels.forEach((label, i) => {
    if (driveByLabel && i === 0) return;
    where.push('EXISTS (SELECT 1 FROM file_labels l WHERE l.label = ? AND l.inode = f.inode)');
    args.push(label);
  });
  if (q.under !== undefined && q.under !== '/') {
    const prefix = dirPrefix(q.under.replace(/\/+$/, ''));
    where.push('f.path >= ? AND f.path < ?');
    args.push(prefix, prefixEnd(prefix));
  }
  if (!q.dirs) where.push("f.kind != 'dir'");
  // Pages in inode order. With the name index, its rowid order drives the scan (FTS5 walks
  // its doclists in rowid order), so a page stops early however many names match.
  const key = fts.length > 0 ? 'files_fts.rowid' : driveByLabel ? 'd.inode' : 'f.inode';
  const after = q.cursor === undefined ? 0 : Number(q.cursor);
  const from =
    fts.length > 0
      ? 'files_fts JOIN files f ON f.inode = files_fts.rowid'
      : driveByLabel
        ? 'file_labels d JOIN files f ON f.inode = d.inode'
        : 'files f';
  if (driveByLabel) {
    fts.push('d.label = ?');
    ftsArgs.push(q.labels[0]);
  }
  const select = (conds: string[], order: string): string =>
    `SELECT f.* FROM ${order === key ? from : 'files f'} WHERE ${[...conds, `${order} > ?`].join(' AND ')} ORDER BY ${order} LIMIT ?`;
  // One snapshot: the watermark and both queries see the same state of the index.
  const rows = store.db.transaction(() => {
    const found = store
      .stmt(select([...fts, ...where], key))
      .all(...ftsArgs, ...args, after, q.limit + 1) as FileRow[];
    if (fts.length === 0 || scan.length === 0 || found.length > q.limit) return found;
    // Every row not yet in the name index is above its watermark, so they follow the
    // indexed matches in inode order: scan them for the rest of the page.
    const from = Math.max(after, store.namesIndexedUpto());
    const rest = store
      .stmt(select([...scan, ...where], 'f.inode'))
      .all(...scanArgs, ...args, from, q.limit + 1 - found.length) as FileRow[];
    return [...found, ...rest];
  })();
  const page = rows.slice(0, q.limit).map((r) => ({ ...toDoc(r), labels: store.labelsOf(r.inode) }));
  const last = page.at(-1);
  return rows.length > q.limit && last ? { results: page, next: String(last.inode) } : { results: page };
}
