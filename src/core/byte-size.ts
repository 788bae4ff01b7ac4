import { z } from 'zod';

/** Multipliers of the size units: binary for `k`/`kib`…, decimal for `kb`/`mb`… */
const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
};

/** Bytes for a size like `10GiB`, `512 MB` or `4096`; undefined when it is not one. */
export function parseByteSize(text: string): number | undefined {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$/.exec(text);
  const unit = m === null ? undefined : SIZE_UNITS[m[2]!.toLowerCase()];
  if (m === null || unit === undefined) return undefined;
  const bytes = Math.round(Number(m[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/**
 * A byte count in a config file: an integer, or a string with a unit (`"10GiB"`, `"500MB"`,
 * `"16M"`); the error names the value it could not read.
 */
export const byteSizeSchema = z
  .union([z.int().min(0), z.string()], {
    error: 'expected a byte count or a size like "10GiB" or "500MB"',
  })
  .transform((value, ctx) => {
    if (typeof value === 'number') return value;
    const bytes = parseByteSize(value);
    if (bytes === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `expected a size like "10GiB" or "500MB", got ${JSON.stringify(value)}`,
      });
      return z.NEVER;
    }
    return bytes;
  });
