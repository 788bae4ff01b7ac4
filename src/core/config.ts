import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { isAbsolute } from 'node:path';
import { win32 } from 'node:path';
import { parse as parseToml, type TomlTable } from 'smol-toml';
import { z } from 'zod';
import { byteSizeSchema } from './byte-size.ts';
import { FsError } from './fs-error.ts';
import { MAX_EXPORT_INDEX } from './ids.ts';
import { configErrorFromToml, configErrorFromZod } from './toml-errors.ts';

/** The config file's name inside a node's home. */
export const CONFIG_FILE_NAME = 'tessera.toml';

/**
 * Source kinds an export may name. Mirrors `SOURCE_KINDS` in `sources/registry.ts` (core may
 * not import sources; a unit test keeps the two lists equal).
 */
export const EXPORT_KINDS = ['memory', 'linux', 'posix', 'windows', 's3'] as const;
/** One export kind. */
export type ExportKind = (typeof EXPORT_KINDS)[number];
/** Kinds whose path is a directory on this machine. */
export const LOCAL_EXPORT_KINDS: ReadonlySet<ExportKind> = new Set<ExportKind>(['linux', 'posix', 'windows']);

/** Default address the node's protocol server listens on. */
export const DEFAULT_LISTEN = '127.0.0.1:7420';

/** Longest export or node name. */
export const NAME_MAX_CHARS = 64;
const NAME_PATTERN = /^[A-Za-z0-9._-]+$/;

/**
 * Why `name` is not a valid export or node name, or undefined when it is. Names become path
 * segments (`/<node>/<export>/…`), so `.` and `..` are refused along with anything outside
 * `[A-Za-z0-9._-]`.
 */
export function nameProblem(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  if (name.length > NAME_MAX_CHARS) return `longer than ${NAME_MAX_CHARS} characters`;
  if (!NAME_PATTERN.test(name))
    return `${JSON.stringify(name)} may only contain letters, digits, '.', '_' and '-'`;
  if (name === '.' || name === '..') return `${JSON.stringify(name)} is not a name`;
  return undefined;
}

const nameSchema = z.string().superRefine((name, ctx) => {
  const problem = nameProblem(name);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});

/** Why `listen` is not a `host:port` address, or undefined when it is. */
export function listenProblem(listen: string): string | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):([0-9]{1,5})$/.exec(listen);
  if (m === null) return `expected "host:port" (IPv6 as "[::1]:7420"), got ${JSON.stringify(listen)}`;
  const port = Number(m[3]);
  if (port > 65535) return `port ${port} is out of range (0-65535)`;
  return undefined;
}

/** Split a validated `host:port` into its parts (IPv6 hosts without brackets). */
export function splitListen(listen: string): { host: string; port: number } {
  const at = listen.lastIndexOf(':');
  const host = listen.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(listen.slice(at + 1)) };
}

/** A host name turned into a valid node name (the default `[node] name`). */
export function defaultNodeName(host: string = hostname()): string {
  const cleaned = host
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .replace(/^[.]+$/, '')
    .slice(0, NAME_MAX_CHARS);
  return cleaned === '' ? 'node' : cleaned;
}

const exportSchema = z
  .strictObject({
    name: nameSchema,
    kind: z.enum(EXPORT_KINDS),
    path: z.string().max(4096).default(''),
    ro: z.boolean().default(false),
    desc: z.string().max(1024).default(''),
    /** Export index `k`; assigned once when the export is added, never changed or reused. */
    index: z.int().min(0).max(MAX_EXPORT_INDEX).optional(),
    options: z.record(z.string(), z.unknown()).default({}),
  })
  .superRefine((entry, ctx) => {
    const problem = exportPathProblem(entry.kind, entry.path);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', path: ['path'], message: problem });
  });

/** One endpoint of a `[[mount]]`: a node URL and the handle of its credential in the home. */
const mountEndpointSchema = z.strictObject({
  url: z
    .string()
    .max(2048)
    .regex(/^wss?:\/\/[^/\s]+(\/tessera)?$/, 'expected "wss://host:port" (or ws:// for an --insecure node)'),
  /** Name of the credential in the home's mount credential store (never the secret itself). */
  credential: z.string().min(1).max(200),
  /** Accept only this certificate (else the pin in known_nodes.json, made on first contact). */
  fingerprint: z
    .string()
    .regex(/^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){31}$/, 'expected a SHA-256 fingerprint AA:BB:…')
    .optional(),
});

/** A namespace path: absolute, '/'-separated, no empty, '.' or '..' segments. */
const mountPathSchema = z
  .string()
  .max(4096)
  .regex(/^(\/[^/\0]+)+$/, 'expected an absolute path like "/b/work"')
  .refine((p) => p.split('/').every((seg) => seg !== '.' && seg !== '..'), 'no "." or ".." segments');

const mountSchema = z.strictObject({
  /** Where in the namespace (default `/<alias>/<export>`). */
  path: mountPathSchema.optional(),
  /** The alias: a name for the endpoints serving the export (default shape `/<alias>/<export>`). */
  alias: nameSchema,
  /** The export on the remote node, as its EXPORTS names it (`/work`, or `/c/work` re-exported). */
  export: z.string().regex(/^(\/[^/\0]+)+$/, 'expected the export\'s path, e.g. "/work"'),
  ro: z.boolean().default(false),
  /** A rename between this mount and another source: `exdev` (refuse) or `copy` (copy + unlink). */
  rename: z.enum(['exdev', 'copy']).default('exdev'),
  /** Put the client cache ([cache], docs/cache.md) in front of the mount. */
  cache: z.boolean().default(true),
  /** Slot of the mount in namespace ids; assigned once like an export index. */
  index: z.int().min(1).max(MAX_EXPORT_INDEX).optional(),
  endpoint: z.array(mountEndpointSchema).min(1),
});

/** The namespace path of a mount entry: its `path`, else `/<alias>/<export>`. */
export function mountPathOf(entry: { path?: string | undefined; alias: string; export: string }): string {
  return entry.path ?? `/${entry.alias}${entry.export}`;
}

/** Why `path` cannot be the path of an export of `kind`, or undefined when it can. */
export function exportPathProblem(kind: ExportKind, path: string): string | undefined {
  if (path.includes('\0')) return 'contains NUL';
  if (kind === 'memory') return undefined;
  if (kind === 's3') {
    return /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/.test(path)
      ? undefined
      : `expected "s3://bucket[/prefix]" for kind s3, got ${JSON.stringify(path)}`;
  }
  if (path === '') return `missing (the directory to export, for kind ${kind})`;
  const absolute = kind === 'windows' ? win32.isAbsolute(path) || isAbsolute(path) : isAbsolute(path);
  return absolute ? undefined : `expected an absolute path for kind ${kind}, got ${JSON.stringify(path)}`;
}

/** Defaults of the `[cache]` section (the client cache of remote mounts, docs/cache.md). */
export const CACHE_DEFAULTS = { dir: 'cache', max_size: 10 * 1024 ** 3, min_free: 1024 ** 3 };

/** The zod schema of `tessera.toml` (strict: unknown keys are errors). */
export const configSchema = z
  .strictObject({
    node: z.strictObject({ name: nameSchema.optional() }).default({}),
    server: z
      .strictObject({
        listen: z
          .string()
          .default(DEFAULT_LISTEN)
          .superRefine((listen, ctx) => {
            const problem = listenProblem(listen);
            if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
          }),
        /** Offer sealed connections to TLS sessions (docs/protocol.md, "Sealed connections"). */
        sealed: z.boolean().default(true),
      })
      .default({ listen: DEFAULT_LISTEN, sealed: true }),
    export: z.array(exportSchema).default([]),
    mount: z.array(mountSchema).default([]),
    log: z
      .strictObject({
        level: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
        /** Append logs to this file (relative to the home) instead of stderr. */
        file: z.string().min(1).optional(),
      })
      .default({ level: 'info' }),
    cache: z
      .strictObject({
        /** Directory of the on-disk data cache (relative to the home). */
        dir: z.string().min(1).max(4096).default(CACHE_DEFAULTS.dir),
        /** Size cap of the data cache. */
        max_size: byteSizeSchema.default(CACHE_DEFAULTS.max_size),
        /** Free space the data cache leaves on its filesystem. */
        min_free: byteSizeSchema.default(CACHE_DEFAULTS.min_free),
      })
      .default(CACHE_DEFAULTS),
    catalog: z
      .strictObject({
        /** Index the namespace into `<home>/state/catalog.db` (search, labels, virtual directories). */
        enabled: z.boolean().default(true),
        /** Where the virtual directories appear in the namespace; "" hides them. */
        vfs: z
          .string()
          .refine((p) => p === '' || /^\/[^/]+$/.test(p), 'vfs is "" or one path segment like "/vfs"')
          .default('/vfs'),
      })
      .default({ enabled: true, vfs: '/vfs' }),
  })
  .superRefine((cfg, ctx) => {
    const names = new Map<string, number>();
    const indexes = new Map<number, number>();
    cfg.export.forEach((entry, i) => {
      const prev = names.get(entry.name);
      if (prev !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['export', i, 'name'],
          message: `duplicate export name ${JSON.stringify(entry.name)} (also export[${prev}])`,
        });
      } else names.set(entry.name, i);
      if (entry.index !== undefined) {
        const prevIndex = indexes.get(entry.index);
        if (prevIndex !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['export', i, 'index'],
            message: `duplicate export index ${entry.index} (also export[${prevIndex}])`,
          });
        } else indexes.set(entry.index, i);
      }
    });
    const paths = new Map<string, number>();
    cfg.mount.forEach((entry, i) => {
      const path = mountPathOf(entry);
      const prev = paths.get(path);
      if (prev !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['mount', i, 'path'],
          message: `two mounts at ${JSON.stringify(path)} (also mount[${prev}])`,
        });
      } else paths.set(path, i);
      if (entry.index !== undefined && indexes.has(entry.index)) {
        ctx.addIssue({
          code: 'custom',
          path: ['mount', i, 'index'],
          message: `index ${entry.index} is taken by an export or another mount`,
        });
      } else if (entry.index !== undefined) indexes.set(entry.index, -1);
    });
  });

/** `tessera.toml` after validation and defaults. */
export type TesseraConfig = z.output<typeof configSchema>;
/** One `[[export]]` entry after validation and defaults. */
export type ExportEntry = TesseraConfig['export'][number];
/** One `[[mount]]` entry after validation and defaults. */
export type MountEntry = TesseraConfig['mount'][number];
/** An export entry whose index has been assigned (every entry once a home is opened). */
export type IndexedExportEntry = ExportEntry & { index: number };

/** Parse TOML text into its raw table; syntax errors give `EINVAL` with line and column. */
export function parseTomlText(opts: { text: string; file: string }): TomlTable {
  try {
    return parseToml(opts.text);
  } catch (error) {
    throw configErrorFromToml({ file: opts.file, error });
  }
}

/** Validate a raw TOML table as `tessera.toml`; problems give one `EINVAL` naming each key. */
export function validateConfig(opts: { raw: unknown; file: string }): TesseraConfig {
  const parsed = configSchema.safeParse(opts.raw, { reportInput: true });
  if (!parsed.success) throw configErrorFromZod({ file: opts.file, error: parsed.error });
  return parsed.data;
}

/** Parse and validate config text. `file` is only used in error messages. */
export function parseConfigText(opts: { text: string; file: string }): TesseraConfig {
  return validateConfig({ raw: parseTomlText(opts), file: opts.file });
}

/** Read and validate a config file. A missing file gives `ENOENT` with a hint to init. */
export async function loadConfig(opts: { file: string }): Promise<{ config: TesseraConfig; text: string }> {
  let text: string;
  try {
    text = await readFile(opts.file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new FsError({
        code: 'ENOENT',
        op: 'config',
        path: opts.file,
        message: `ENOENT: no config at '${opts.file}' (run 'tessera init' first, or pass --home)`,
      });
    }
    throw FsError.from(err, 'config', opts.file);
  }
  return { config: parseConfigText({ text, file: opts.file }), text };
}

/** The node name a config gives (its `[node] name`, else the host name). */
export function nodeNameOf(config: TesseraConfig): string {
  return config.node.name ?? defaultNodeName();
}
