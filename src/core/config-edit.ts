import { isDeepStrictEqual } from 'node:util';
import { stringify as stringifyToml, type TomlTable } from 'smol-toml';
import { parseTomlText, validateConfig, type ExportEntry } from './config.ts';

/**
 * Edits of `tessera.toml` that keep the user's comments and layout. Each edit is made on the
 * text, then the result is parsed and compared with the intended table; if the text edit did
 * not produce exactly that (an unusual layout such as `export = [ {...} ]`), the whole file
 * is rewritten from the table instead. Either way the result is validated before anyone
 * writes it, so an edit can never produce an invalid config.
 */

/** What one `[[export]]` entry looks like when written. */
export interface ExportEntryText {
  name: string;
  kind: string;
  path: string;
  ro: boolean;
  desc: string;
  index: number;
  options: Record<string, unknown>;
}

/** The raw TOML table for an export entry, with defaults left out. */
export function exportTable(entry: ExportEntryText | ExportEntry): TomlTable {
  const table: TomlTable = { name: entry.name, kind: entry.kind };
  if (entry.path !== '') table.path = entry.path;
  table.ro = entry.ro;
  if (entry.desc !== '') table.desc = entry.desc;
  if (entry.index !== undefined) table.index = entry.index;
  if (Object.keys(entry.options).length > 0) table.options = entry.options as TomlTable;
  return table;
}

/** TOML text of one `[[export]]` block (ends with a newline). */
export function renderExportBlock(entry: ExportEntryText | ExportEntry): string {
  const text = stringifyToml({ export: [exportTable(entry)] });
  return text.endsWith('\n') ? text : `${text}\n`;
}

const EXPORT_HEADER = /^\s*\[\[\s*(?:export|"export"|'export')\s*\]\]\s*(?:#.*)?$/;
const OWN_SUBTABLE = /^\s*\[\[?\s*(?:export|"export"|'export')\s*\./;
const ANY_HEADER = /^\s*\[/;
const COMMENT = /^\s*#/;

/** Line ranges `[start, end)` of each `[[export]]` block, in file order. */
function exportBlocks(lines: readonly string[]): { start: number; end: number }[] {
  const blocks: { start: number; end: number }[] = [];
  let current: { start: number; end: number } | undefined;
  lines.forEach((line, i) => {
    if (EXPORT_HEADER.test(line)) {
      if (current) current.end = i;
      current = { start: i, end: lines.length };
      blocks.push(current);
    } else if (current && current.end === lines.length && ANY_HEADER.test(line) && !OWN_SUBTABLE.test(line)) {
      current.end = i;
      current = undefined;
    }
  });
  if (current) current.end = lines.length;
  return blocks;
}

/**
 * A parsed TOML value as plain data: smol-toml builds tables without a prototype and dates
 * as `TomlDate`, so comparisons go through this copy (key order does not matter).
 */
function plain(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(plain);
  if (value instanceof Date) return { date: value.toISOString() };
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) out[key] = plain(inner);
    return out;
  }
  return value;
}

function rawExports(raw: TomlTable): TomlTable[] {
  const list = raw.export;
  return Array.isArray(list) ? (list as TomlTable[]) : [];
}

/**
 * Use `text` if it parses to exactly `expected`; otherwise render `expected` whole. The
 * result is always validated as a config.
 */
function settle(opts: { text: string; expected: TomlTable; file: string }): string {
  let result = opts.text;
  let matches: boolean;
  try {
    matches = isDeepStrictEqual(
      plain(parseTomlText({ text: result, file: opts.file })),
      plain(opts.expected),
    );
  } catch {
    matches = false;
  }
  if (!matches) {
    result =
      '# Rewritten by tessera: the previous layout could not be edited in place.\n' +
      stringifyToml(opts.expected) +
      '\n';
  }
  validateConfig({ raw: parseTomlText({ text: result, file: opts.file }), file: opts.file });
  return result;
}

/** Config text with one export appended as a new `[[export]]` block. */
export function appendExportText(opts: { text: string; entry: ExportEntryText; file: string }): string {
  const raw = parseTomlText({ text: opts.text, file: opts.file });
  const expected: TomlTable = { ...raw, export: [...rawExports(raw), exportTable(opts.entry)] };
  const base = opts.text === '' || opts.text.endsWith('\n') ? opts.text : `${opts.text}\n`;
  const text = `${base}${base === '' ? '' : '\n'}${renderExportBlock(opts.entry)}`;
  return settle({ text, expected, file: opts.file });
}

/** Config text without the export at `position` (its place in the `export` array). */
export function removeExportText(opts: { text: string; position: number; file: string }): string {
  const raw = parseTomlText({ text: opts.text, file: opts.file });
  const list = rawExports(raw);
  const remaining = list.filter((_, i) => i !== opts.position);
  const expected: TomlTable = { ...raw, export: remaining };
  // No blocks left means no `export` key at all once parsed.
  if (remaining.length === 0) delete expected.export;
  const lines = opts.text.split('\n');
  const block = exportBlocks(lines)[opts.position];
  let text = opts.text;
  if (block !== undefined) {
    let { start, end } = block;
    // Comments directly above the header describe this export: they go with it.
    while (start > 0 && COMMENT.test(lines[start - 1] ?? '')) start--;
    // Comments directly above the next header describe that one: they stay.
    while (end > start + 1 && end < lines.length && COMMENT.test(lines[end - 1] ?? '')) end--;
    const kept = [...lines.slice(0, start), ...lines.slice(end)];
    while (kept.length > 0 && (kept[kept.length - 1] ?? '').trim() === '') kept.pop();
    text = kept.length === 0 ? '' : `${kept.join('\n')}\n`;
  }
  return settle({ text, expected, file: opts.file });
}

/** Config text with `index = k` added to the exports at the given positions. */
export function setExportIndexesText(opts: {
  text: string;
  indexes: ReadonlyMap<number, number>;
  file: string;
}): string {
  const raw = parseTomlText({ text: opts.text, file: opts.file });
  const expected: TomlTable = {
    ...raw,
    export: rawExports(raw).map((entry, i) => {
      const index = opts.indexes.get(i);
      return index === undefined ? entry : { ...entry, index };
    }),
  };
  const lines = opts.text.split('\n');
  const blocks = exportBlocks(lines);
  // Insert from the bottom so earlier line numbers stay valid.
  const positions = [...opts.indexes.keys()].sort((a, b) => b - a);
  for (const position of positions) {
    const block = blocks[position];
    if (block === undefined) continue;
    lines.splice(block.start + 1, 0, `index = ${opts.indexes.get(position)}`);
  }
  return settle({ text: lines.join('\n'), expected, file: opts.file });
}

const MOUNT_HEADER = /^\s*\[\[\s*(?:mount|"mount"|'mount')\s*(?:\.[^\]]*)?\]\]\s*(?:#.*)?$/;
const MOUNT_SUBTABLE = /^\s*\[\[?\s*(?:mount|"mount"|'mount')\s*\./;

/**
 * Config text with every `[[mount]]` block (with its `[[mount.endpoint]]` tables) replaced
 * by `mounts`, written at the end of the file. Comments inside mount blocks do not survive;
 * the rest of the file keeps its text.
 */
export function replaceMountsText(opts: { text: string; mounts: TomlTable[]; file: string }): string {
  const raw = parseTomlText({ text: opts.text, file: opts.file });
  const expected: TomlTable = { ...raw, mount: opts.mounts };
  if (opts.mounts.length === 0) delete expected.mount;
  const kept: string[] = [];
  let inMount = false;
  for (const line of opts.text.split('\n')) {
    if (MOUNT_HEADER.test(line) || MOUNT_SUBTABLE.test(line)) inMount = true;
    else if (ANY_HEADER.test(line)) inMount = false;
    if (!inMount) kept.push(line);
  }
  while (kept.length > 0 && (kept[kept.length - 1] ?? '').trim() === '') kept.pop();
  let text = kept.length === 0 ? '' : `${kept.join('\n')}\n`;
  if (opts.mounts.length > 0) {
    const block = stringifyToml({ mount: opts.mounts });
    text += `${text === '' ? '' : '\n'}${block}${block.endsWith('\n') ? '' : '\n'}`;
  }
  return settle({ text, expected, file: opts.file });
}
