import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { byteSizeSchema } from '../../core/byte-size.ts';
import { FsError } from '../../core/fs-error.ts';
import type { SourceSpec } from '../registry.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** Smallest multipart part S3 accepts (except the last part). */
export const MIN_PART_SIZE = 5 * MiB;
/** Largest multipart part S3 accepts. */
export const MAX_PART_SIZE = 5 * GiB;

/** How the adapter finds its credentials: a handle, never a secret in the config. */
export type CredentialSource =
  /** The SDK's default chain (env, shared config/profile, SSO, instance metadata…). */
  | { kind: 'default' }
  /** `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`, read at each use. */
  | { kind: 'env' }
  /** Unsigned requests (public buckets). */
  | { kind: 'anonymous' }
  /** Environment variables named in the config. */
  | {
      kind: 'named-env';
      accessKeyIdEnv: string;
      secretAccessKeyEnv: string;
      sessionTokenEnv?: string | undefined;
    };

/** Validated settings of one S3 export. */
export interface S3Config {
  bucket: string;
  /** Key prefix of the export root: '' or ends with '/'. */
  prefix: string;
  endpoint?: string | undefined;
  region: string;
  forcePathStyle: boolean;
  credentials: CredentialSource;
  partSize: number;
  uploadConcurrency: number;
  scanIntervalMs: number;
  scanMaxDirs: number;
  spoolDir: string;
  maxAttempts: number;
  idScanLimit: number;
}

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name');

const optionsSchema = z.strictObject({
  endpoint: z
    .string()
    .url()
    .refine((u) => /^https?:\/\//i.test(u), 'must be an http:// or https:// URL')
    .optional(),
  region: z
    .string()
    .regex(/^[a-z0-9-]{1,64}$/, 'must look like us-east-1')
    .optional(),
  force_path_style: z.boolean().optional(),
  credentials: z.enum(['default', 'env', 'anonymous']).optional(),
  access_key_id_env: envName.optional(),
  secret_access_key_env: envName.optional(),
  session_token_env: envName.optional(),
  part_size: byteSizeSchema
    .pipe(z.number().min(MIN_PART_SIZE, 'must be at least 5 MiB').max(MAX_PART_SIZE, 'must be at most 5 GiB'))
    .optional(),
  upload_concurrency: z.number().int().min(1).max(64).optional(),
  scan_interval_ms: z.number().int().min(50).max(86_400_000).optional(),
  scan_max_dirs: z.number().int().min(1).max(100_000).optional(),
  spool_dir: z.string().refine(isAbsolute, 'must be an absolute path').optional(),
  max_attempts: z.number().int().min(1).max(20).optional(),
  id_scan_limit: z.number().int().min(0).optional(),
});

/** Raw `[export.options]` of an s3 export, as the schema accepts them. */
export type S3Options = z.input<typeof optionsSchema>;

/** Parse `s3://bucket/optional/prefix` into a bucket and a normalized prefix. */
export function parseS3Url(name: string, url: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/]+)(\/.*)?$/.exec(url);
  if (!m) throw FsError.EINVAL('export', name, `path '${url}' is not an s3://bucket/prefix URL`);
  const bucket = m[1]!;
  // Loose on purpose: legacy buckets may hold capitals and underscores; S3 itself refuses the rest.
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$/.test(bucket)) {
    throw FsError.EINVAL('export', name, `'${bucket}' is not a valid bucket name`);
  }
  const segments = (m[2] ?? '').split('/').filter((s) => s !== '');
  for (const seg of segments) {
    if (seg === '.' || seg === '..')
      throw FsError.EINVAL('export', name, `prefix of '${url}' may not contain '${seg}'`);
  }
  return { bucket, prefix: segments.length === 0 ? '' : segments.join('/') + '/' };
}

/**
 * Validate an s3 export's spec. Unknown or malformed options, a bad URL and a credential
 * environment variable that is not set all reject with `EINVAL` naming the culprit.
 */
export function parseS3Spec(spec: SourceSpec): S3Config {
  const { bucket, prefix } = parseS3Url(spec.name, spec.path);
  const parsed = optionsSchema.safeParse(spec.options ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      if (issue.code === 'unrecognized_keys')
        return `unknown option ${issue.keys.map((k) => `'${k}'`).join(', ')}`;
      return `option '${issue.path.join('.')}': ${issue.message}`;
    });
    throw FsError.EINVAL('export', spec.name, `bad s3 options: ${problems.join('; ')}`);
  }
  const o = parsed.data;
  return {
    bucket,
    prefix,
    endpoint: o.endpoint,
    region: o.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
    forcePathStyle: o.force_path_style ?? false,
    credentials: credentialSource(spec.name, o),
    partSize: o.part_size ?? 16 * MiB,
    uploadConcurrency: o.upload_concurrency ?? 4,
    scanIntervalMs: o.scan_interval_ms ?? 5000,
    scanMaxDirs: o.scan_max_dirs ?? 64,
    spoolDir: o.spool_dir ?? join(tmpdir(), 'tessera-s3-spool'),
    maxAttempts: o.max_attempts ?? 3,
    idScanLimit: o.id_scan_limit ?? 100_000,
  };
}

function credentialSource(name: string, o: z.output<typeof optionsSchema>): CredentialSource {
  const named =
    o.access_key_id_env !== undefined ||
    o.secret_access_key_env !== undefined ||
    o.session_token_env !== undefined;
  if (named && o.credentials !== undefined) {
    throw FsError.EINVAL(
      'export',
      name,
      "option 'credentials' cannot be combined with '*_env' credential options",
    );
  }
  if (!named) {
    const kind = o.credentials ?? 'default';
    if (kind === 'env') {
      for (const v of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
        if (!process.env[v])
          throw FsError.EINVAL('export', name, `option 'credentials': environment variable ${v} is not set`);
      }
    }
    return { kind };
  }
  if (o.access_key_id_env === undefined || o.secret_access_key_env === undefined) {
    throw FsError.EINVAL(
      'export',
      name,
      "options 'access_key_id_env' and 'secret_access_key_env' must be given together",
    );
  }
  for (const [opt, v] of [
    ['access_key_id_env', o.access_key_id_env],
    ['secret_access_key_env', o.secret_access_key_env],
    ['session_token_env', o.session_token_env],
  ] as const) {
    if (v !== undefined && !process.env[v]) {
      throw FsError.EINVAL('export', name, `option '${opt}': environment variable ${v} is not set`);
    }
  }
  return {
    kind: 'named-env',
    accessKeyIdEnv: o.access_key_id_env,
    secretAccessKeyEnv: o.secret_access_key_env,
    sessionTokenEnv: o.session_token_env,
  };
}
