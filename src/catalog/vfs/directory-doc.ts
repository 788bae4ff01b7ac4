import { z } from 'zod';
import { FsError } from '../../core/fs-error.ts';
import { joinPath, splitPath } from '../../core/names.ts';
import { pathGlobToRegExp } from './path-glob.ts';

/** What a step does when it matches (after `invert`): go on, or decide and stop. */
export const ON_MATCH = ['continue', 'include', 'exclude'] as const;
/** What a pipeline answers when no step decided. */
export const RESULTS = ['include', 'exclude'] as const;
/** How a matching file's name in the virtual directory derives from its path. */
export const STRATEGIES = ['prefix_replace', 'flatten'] as const;
/** What happens when two files land on one name. */
export const CONFLICT_POLICIES = ['last_write_wins', 'suffix_node_id'] as const;

const common = {
  invert: z.boolean().default(false),
  on_match: z.enum(ON_MATCH).default('continue'),
};

const nonNegative = z.number().finite().nonnegative();

/** One step of a pipeline; every op carries `invert` and `on_match`. */
export const stepSchema = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('glob'), pattern: z.string().min(1).max(4096), ...common }),
  z.strictObject({
    op: z.literal('regex'),
    pattern: z.string().min(1).max(4096),
    flags: z
      .string()
      .regex(/^[imsu]*$/, 'regex flags are a subset of "imsu"')
      .default(''),
    ...common,
  }),
  z
    .strictObject({
      op: z.literal('age'),
      max_days: nonNegative.optional(),
      min_days: nonNegative.optional(),
      ...common,
    })
    .refine((s) => s.max_days !== undefined || s.min_days !== undefined, 'age needs max_days or min_days'),
  z
    .strictObject({
      op: z.literal('size'),
      min_bytes: nonNegative.optional(),
      max_bytes: nonNegative.optional(),
      ...common,
    })
    .refine(
      (s) => s.min_bytes !== undefined || s.max_bytes !== undefined,
      'size needs min_bytes or max_bytes',
    ),
  z.strictObject({
    op: z.literal('mime'),
    types: z
      .array(z.string().regex(/^[\w.+-]+\/(\*|[\w.+-]+)$|^\*$/, 'a mime type like image/png or image/*'))
      .min(1),
    ...common,
  }),
  z.strictObject({ op: z.literal('node'), node_ids: z.array(z.string().min(1)).min(1), ...common }),
  z.strictObject({ op: z.literal('label'), labels: z.array(z.string().min(1)).min(1), ...common }),
  z
    .strictObject({
      op: z.literal('annotation'),
      plugin_name: z.string().min(1),
      key: z.string().min(1),
      value: z.unknown().optional(),
      regex: z.string().min(1).optional(),
      ...common,
    })
    .refine(
      (s) => s.value === undefined || s.regex === undefined,
      'annotation takes value or regex, not both',
    ),
]);

/** One step of a pipeline. */
export type Step = z.infer<typeof stepSchema>;

/** An absolute '/'-separated path, canonicalized (no `..`, no empty segments). */
const absPath = z
  .string()
  .min(1)
  .max(4096)
  .transform((p, ctx) => {
    try {
      return joinPath(splitPath('vfs', p));
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) });
      return z.NEVER;
    }
  });

/** Where a mount's candidate files come from: files of `export` (on `node`, any when absent) under `path`. */
export const mountSourceSchema = z.strictObject({
  /** Node id or name of the node the files live on; absent: any node. */
  node: z.string().min(1).max(200).optional(),
  /** Export name (as the file documents record it). */
  export: z.string().min(1).max(200),
  /** Path prefix within the export ('/' for all of it). */
  path: absPath.default('/'),
});

/** A mount source. */
export type MountSource = z.infer<typeof mountSourceSchema>;

/** One mount of a virtual directory: a source, a step pipeline, a mapping and a conflict policy. */
export const mountEntrySchema = z
  .strictObject({
    /** Stable id within the directory (generated when absent). */
    id: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,40}$/)
      .optional(),
    source: mountSourceSchema,
    strategy: z.enum(STRATEGIES).default('prefix_replace'),
    /** What `prefix_replace` strips (default: `source.path`); must be an ancestor of it or equal. */
    source_prefix: absPath.optional(),
    steps: z.array(stepSchema).max(256).default([]),
    default_result: z.enum(RESULTS).default('include'),
    conflict_policy: z.enum(CONFLICT_POLICIES).default('last_write_wins'),
  })
  .refine(
    (m) => m.source_prefix === undefined || isAncestorOrSelf(m.source_prefix, m.source.path),
    'source_prefix must be source.path or one of its ancestors',
  );

/** A mount entry. */
export type MountEntry = z.infer<typeof mountEntrySchema>;

/** What a caller may set on a directory (create/update bodies). */
export const directoryInputSchema = z.strictObject({
  enforce_steps_on_children: z.boolean().default(false),
  mounts: z.array(mountEntrySchema).max(256).default([]),
});

/** The settable part of a directory. */
export type DirectoryInput = z.infer<typeof directoryInputSchema>;

/** A stored virtual directory document. */
export interface VirtualDirectory extends DirectoryInput {
  /** Canonical virtual path ('/' for the root), relative to where the VFS is mounted. */
  path: string;
  /** System directories (the root) cannot be deleted. */
  system: boolean;
  /** Bumped on every change; caches key on it. */
  rev: number;
  /** Milliseconds since the epoch. */
  created_ms: number;
  updated_ms: number;
  mounts: (MountEntry & { id: string })[];
}

/** Paths reserved for federation (seed 001): never a virtual directory. */
const RESERVED_PREFIX = '/federation';

/**
 * Canonicalize and check a virtual path: absolute, no `..`, each segment a valid file name,
 * and nothing under `/federation/`. Throws EINVAL naming the problem.
 */
export function checkVirtualPath(op: string, path: string): string {
  if (typeof path !== 'string' || path.length === 0)
    throw FsError.EINVAL(op, String(path), 'virtual path is empty');
  const canonical = joinPath(splitPath(op, path));
  if (canonical === RESERVED_PREFIX || canonical.startsWith(`${RESERVED_PREFIX}/`)) {
    throw FsError.EINVAL(op, canonical, `virtual paths under ${RESERVED_PREFIX}/ are reserved`);
  }
  return canonical;
}

/**
 * Validate a create/update body into a directory input (defaults filled, mount ids assigned).
 * Throws EINVAL listing every problem with its field path.
 */
export function parseDirectoryInput(
  op: string,
  path: string,
  body: unknown,
): DirectoryInput & {
  mounts: (MountEntry & { id: string })[];
} {
  const parsed = directoryInputSchema.safeParse(withoutStoredFields(op, path, body));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);
    throw FsError.EINVAL(op, path, `bad virtual directory: ${problems.join('; ')}`);
  }
  const used = new Set<string>();
  const mounts = parsed.data.mounts.map((m, i) => {
    let id = m.id ?? `m${i + 1}`;
    for (let n = 2; used.has(id); n++) id = `${m.id ?? `m${i + 1}`}-${n}`;
    if (m.id !== undefined && id !== m.id) throw FsError.EINVAL(op, path, `mount id '${m.id}' is used twice`);
    used.add(id);
    return { ...m, id };
  });
  for (const m of mounts) for (const s of m.steps) checkStepPatterns(op, path, s);
  return { ...parsed.data, mounts };
}

/** Fields a stored document carries that callers cannot set: a fetched document edited and sent back is fine. */
const STORED_FIELDS = ['path', 'system', 'rev', 'created_ms', 'updated_ms'] as const;

function withoutStoredFields(op: string, path: string, body: unknown): unknown {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return body;
  const rest: Record<string, unknown> = { ...(body as Record<string, unknown>) };
  const given = rest.path;
  if (given !== undefined && (typeof given !== 'string' || checkVirtualPath(op, given) !== path))
    throw FsError.EINVAL(op, path, `the document is for ${JSON.stringify(given)}, not ${path}`);
  for (const key of STORED_FIELDS) delete rest[key];
  return rest;
}

/** Patterns must compile; a bad one is refused at the boundary, not at every readdir. */
function checkStepPatterns(op: string, path: string, step: Step): void {
  if (step.op === 'glob') {
    try {
      pathGlobToRegExp(step.pattern);
    } catch (err) {
      throw FsError.EINVAL(op, path, `bad glob ${JSON.stringify(step.pattern)}: ${(err as Error).message}`);
    }
    return;
  }
  const pattern = step.op === 'regex' ? step.pattern : step.op === 'annotation' ? step.regex : undefined;
  if (pattern === undefined) return;
  try {
    new RegExp(pattern, step.op === 'regex' ? step.flags : '');
  } catch (err) {
    throw FsError.EINVAL(op, path, `bad regex ${JSON.stringify(pattern)}: ${(err as Error).message}`);
  }
}

/** Whether `a` is `b` or an ancestor of it (canonical absolute paths). */
export function isAncestorOrSelf(a: string, b: string): boolean {
  return a === '/' || a === b || b.startsWith(`${a}/`);
}

/** The parent of a canonical virtual path ('/' has none). */
export function parentPath(path: string): string | undefined {
  if (path === '/') return undefined;
  const i = path.lastIndexOf('/');
  return i === 0 ? '/' : path.slice(0, i);
}
