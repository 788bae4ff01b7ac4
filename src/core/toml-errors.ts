import type { z } from 'zod';
import { FsError } from './fs-error.ts';

/**
 * Turning config problems into one-line `EINVAL` errors that name the file, the key path
 * and what was expected, e.g. `…/tessera.toml: export[1].kind: expected one of memory,
 * linux, posix, windows, s3, got "ext4"`.
 */

/** A key path as TOML users read it: `export[1].options.region`. */
export function formatKeyPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else {
      const text = String(key);
      const bare = /^[A-Za-z0-9_-]+$/.test(text) ? text : JSON.stringify(text);
      out += out === '' ? bare : `.${bare}`;
    }
  }
  return out;
}

const TYPE_NAMES: Record<string, string> = {
  number: 'a number',
  int: 'an integer',
  string: 'a string',
  boolean: 'a boolean (true or false)',
  object: 'a table',
  record: 'a table',
  array: 'an array',
};

/** A short description of a parsed TOML value for "got …". */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string')
    return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Date) return 'a date';
  if (typeof value === 'object' && value !== null) return 'a table';
  return typeof value;
}

/** One zod issue as `key.path: problem`. */
export function formatIssue(issue: z.core.$ZodIssue): string {
  const where = formatKeyPath(issue.path);
  const prefix = where === '' ? '' : `${where}: `;
  const input = (issue as { input?: unknown }).input;
  switch (issue.code) {
    case 'invalid_type': {
      const expected = TYPE_NAMES[issue.expected] ?? issue.expected;
      if (input === undefined) return `${prefix}missing (expected ${expected})`;
      return `${prefix}expected ${expected}, got ${describeValue(input)}`;
    }
    case 'invalid_value':
      return `${prefix}expected one of ${issue.values.map(String).join(', ')}, got ${describeValue(input)}`;
    case 'unrecognized_keys': {
      const keys = issue.keys.map((k) => formatKeyPath([...issue.path, k]));
      return `unknown key${keys.length > 1 ? 's' : ''} ${keys.join(', ')}`;
    }
    case 'too_big':
      if (issue.origin === 'string') return `${prefix}longer than ${String(issue.maximum)} characters`;
      return `${prefix}must be at most ${String(issue.maximum)}, got ${describeValue(input)}`;
    case 'too_small':
      if (issue.origin === 'string' && Number(issue.minimum) === 1) return `${prefix}must not be empty`;
      if (issue.origin === 'string') return `${prefix}shorter than ${String(issue.minimum)} characters`;
      return `${prefix}must be at least ${String(issue.minimum)}, got ${describeValue(input)}`;
    default:
      // Custom issues (names, paths, duplicates) already say what is wrong in their message.
      return `${prefix}${issue.message}`;
  }
}

/** An `EINVAL` config error for `file` with one or more problems. */
export function configError(opts: { file: string; problems: readonly string[]; cause?: unknown }): FsError {
  return new FsError({
    code: 'EINVAL',
    op: 'config',
    path: opts.file,
    message: `${opts.file}: ${opts.problems.join('; ')}`,
    cause: opts.cause,
  });
}

/** The config error for a zod failure. */
export function configErrorFromZod(opts: { file: string; error: z.ZodError }): FsError {
  return configError({ file: opts.file, problems: opts.error.issues.map(formatIssue), cause: opts.error });
}

/**
 * The config error for a TOML syntax error from smol-toml: `file:LINE:COL: invalid TOML:
 * reason`. smol-toml's message carries a code excerpt after the first line; only the reason
 * is kept so the error stays on one line.
 */
export function configErrorFromToml(opts: { file: string; error: unknown }): FsError {
  const err = opts.error as { message?: unknown; line?: unknown; column?: unknown };
  const first = typeof err.message === 'string' ? (err.message.split('\n')[0] ?? '') : String(opts.error);
  const reason = first.replace(/^Invalid TOML document:\s*/, '');
  const at =
    typeof err.line === 'number' && typeof err.column === 'number' ? `:${err.line}:${err.column}` : '';
  return new FsError({
    code: 'EINVAL',
    op: 'config',
    path: opts.file,
    message: `${opts.file}${at}: invalid TOML: ${reason}`,
    cause: opts.error,
  });
}
