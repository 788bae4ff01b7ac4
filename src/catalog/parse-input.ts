import type { z } from 'zod';
import { FsError } from '../core/fs-error.ts';
import { describeValue, formatKeyPath } from '../core/toml-errors.ts';

/** One problem as `key: what is wrong, got VALUE` (the value when it is a scalar; long strings cut). */
function problem(issue: z.core.$ZodIssue): string {
  const where = formatKeyPath(issue.path);
  const input = (issue as { input?: unknown }).input;
  const scalar = typeof input === 'string' || typeof input === 'number' || typeof input === 'boolean';
  const got = scalar ? `, got ${describeValue(input)}` : '';
  return `${where === '' ? '' : `${where}: `}${issue.message}${got}`;
}

/**
 * Validate an input of the catalog (a label, a rule, a search, a backup) with `schema`, or
 * throw `EINVAL` for `op` naming every problem: the key, what was expected, the value given.
 */
export function parseInput<T>(opts: {
  schema: z.ZodType<T>;
  value: unknown;
  op: string;
  /** Leads the problems (`not a catalog backup: `). */
  prefix?: string | undefined;
}): T {
  const parsed = opts.schema.safeParse(opts.value, { reportInput: true });
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map(problem).join('; ');
  throw FsError.EINVAL(opts.op, undefined, `${opts.prefix ?? ''}${problems}`);
}
