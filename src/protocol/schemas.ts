import { z } from 'zod';

/** Node id: decimal string on the wire, bigint in code. */
export const wireId = z
  .string()
  .regex(/^[0-9]{1,20}$/, 'id must be a decimal string')
  .transform((s) => BigInt(s))
  .refine((v) => v > 0n && v < 1n << 64n, 'id out of range');

/** Nanosecond timestamp: decimal string (may be negative). */
export const wireNs = z
  .string()
  .regex(/^-?[0-9]{1,25}$/, 'time must be a decimal string of nanoseconds')
  .transform((s) => BigInt(s));

export const wireHandle = z.number().int().min(0).max(0xffff_ffff);
export const wireOffset = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
export const wireLength = z
  .number()
  .int()
  .min(0)
  .max(64 * 1024 * 1024);
export const wireName = z.string().max(4096);
export const wireCookie = z.string().max(4096);

export const attrSchema = z.strictObject({
  kind: z.enum(['file', 'dir', 'symlink', 'fifo', 'socket', 'chardev', 'blockdev']),
  mode: z.number().int().min(0).max(0o7777),
  nlink: z.number().int().min(0),
  uid: z.number().int().min(0),
  gid: z.number().int().min(0),
  size: wireOffset,
  atimeNs: wireNs,
  mtimeNs: wireNs,
  ctimeNs: wireNs,
  gen: z.number().int(),
});

export const entrySchema = z.strictObject({ id: wireId, attr: attrSchema });
export const dirEntrySchema = z.strictObject({ name: wireName, id: wireId, attr: attrSchema });

export const capsSchema = z.strictObject({
  native_watch: z.boolean(),
  case_sensitive: z.boolean(),
  symlink: z.boolean(),
  xattr: z.boolean(),
  lock: z.boolean(),
  hardlink: z.boolean(),
  max_file_size: z.number().min(0),
  writable: z.boolean(),
  posix_attrs: z.boolean(),
  atomic_write: z.boolean(),
  persistent_ids: z.boolean(),
});

export const exportInfoSchema = z.strictObject({
  name: z.string().min(1).max(4096),
  root: wireId,
  ro: z.boolean(),
  desc: z.string().max(4096),
  source_kind: z.string().max(64),
  source_id: z.string().max(4096),
  caps: capsSchema,
});

export const openFlagsSchema = z.strictObject({
  read: z.boolean(),
  write: z.boolean(),
  truncate: z.boolean().optional(),
  append: z.boolean().optional(),
});

export const statfsSchema = z.strictObject({
  bsize: z.number().int().min(0),
  blocks: z.number().min(0),
  bfree: z.number().min(0),
  bavail: z.number().min(0),
  files: z.number().min(0),
  ffree: z.number().min(0),
  namemax: z.number().int().min(0),
});

export const lockInfoSchema = z.strictObject({
  type: z.enum(['read', 'write']),
  start: wireOffset,
  length: wireOffset,
  owner: z.string().max(256),
});

export const invalidationSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('data'), id: wireId }),
  z.strictObject({ kind: z.literal('attr'), id: wireId }),
  z.strictObject({ kind: z.literal('tree'), id: wireId }),
  z.strictObject({ kind: z.literal('entry'), parent: wireId, name: wireName }),
]);

const bigintReplacer = (_k: string, v: unknown): unknown => (typeof v === 'bigint' ? v.toString() : v);

/** Deeper than this, values are left to the replacer (a cycle must not recurse forever). */
const MAX_DEPTH = 64;

/**
 * `value` with every bigint in plain objects and arrays turned into its decimal string;
 * copy on write (untouched parts are shared), other objects left as they are.
 */
function bigintsAsStrings(value: unknown, depth = 0): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (typeof value !== 'object' || value === null || depth > MAX_DEPTH) return value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      const w = bigintsAsStrings(v, depth + 1);
      if (w !== v) (out ??= value.slice())[i] = w;
    }
    return out ?? value;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const obj = value as Record<string, unknown>;
  let out: Record<string, unknown> | undefined;
  for (const key in obj) {
    const v = obj[key];
    const w = bigintsAsStrings(v, depth + 1);
    if (w !== v) (out ??= { ...obj })[key] = w;
  }
  return out ?? value;
}

/**
 * JSON.stringify that writes bigints as decimal strings. Without a replacer JSON.stringify
 * takes V8's fast path, so bigints are converted first (a listing page holds thousands);
 * a bigint somewhere else (inside a class instance, say) falls back to the replacer.
 */
export function stringifyWire(value: unknown): string {
  try {
    return JSON.stringify(bigintsAsStrings(value));
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
    return JSON.stringify(value, bigintReplacer);
  }
}
