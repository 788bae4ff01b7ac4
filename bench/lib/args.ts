import { z } from 'zod';

/** Benchmark sizes: `small` finishes in about a minute, `full` is the documented figure. */
export const SCALES = ['small', 'full'] as const;
/** One benchmark size. */
export type Scale = (typeof SCALES)[number];

/** Options every benchmark accepts. */
export interface BenchArgs {
  scale: Scale;
  /** Measured repetitions per side (the median is reported). */
  repeats?: number | undefined;
  /** Directory to build the data set in (default: a new temp directory, removed afterwards). */
  dir?: string | undefined;
  /** Write the figures into docs/benchmarks.md (default true; `--no-doc` to skip). */
  doc: boolean;
}

const schema = z.strictObject({
  scale: z.enum(SCALES).default('small'),
  repeats: z.coerce.number().int().min(1).max(100).optional(),
  dir: z.string().min(1).optional(),
  doc: z.boolean().default(true),
});

/**
 * Parse `--scale small|full`, `--repeats N`, `--dir PATH`, `--no-doc`. Anything else is an
 * error naming the argument (a typo must not silently run the wrong benchmark).
 */
export function parseBenchArgs(argv: readonly string[] = process.argv.slice(2)): BenchArgs {
  const raw: Record<string, unknown> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--no-doc') {
      raw.doc = false;
      continue;
    }
    const m = /^--(scale|repeats|dir)(?:=(.*))?$/.exec(arg);
    if (!m)
      throw new Error(
        `unknown benchmark argument '${arg}' (use --scale small|full, --repeats N, --dir PATH, --no-doc)`,
      );
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new Error(`benchmark argument '${arg}' needs a value`);
    raw[m[1]!] = value;
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`bad benchmark argument --${issue.path.join('.')}: ${issue.message}`);
  }
  return parsed.data;
}
