import { createHmac, randomBytes } from 'node:crypto';
import { chmod, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../core/atomic-file.ts';
import { withFileLock } from '../core/file-lock.ts';
import { FsError } from '../core/fs-error.ts';
import { ARGON2_DEFAULTS, type Argon2Params, makeVerifier, type Verifier } from '../protocol/scram.ts';
import type { CredentialCaps } from '../namespace/authorization.ts';
import { appendAudit } from './audit.ts';
import { fileStamp } from './file-stamp.ts';

/**
 * The node's credentials: access key ids with what they may do, and for each only the
 * argon2id-derived SCRAM verifier of its secret (the secret itself is shown once, at
 * creation, and stored nowhere). Kept in `<home>/credentials.json` (mode 0600), rewritten
 * atomically under a lock file; every change is written to the audit log.
 */

export type { CredentialCaps };

/** Every capability. */
export const ALL_CAPS: CredentialCaps = { show: true, read: true, write: true, execute: true };

/** Capability names, in the order they are listed. */
export const CAP_NAMES = ['show', 'read', 'write', 'execute'] as const;

/** A credential as stored (the verifier included). */
export interface CredentialRecord {
  /** Access key id, `tk_` + 20 base32 characters. */
  id: string;
  /** Principal name shown in logs and sessions. */
  name: string;
  /** Export names it covers, or `'*'` for all (present and future). */
  exports: string[] | '*';
  caps: CredentialCaps;
  disabled: boolean;
  /** The owner credential `tessera init` keeps for the local CLI. */
  owner: boolean;
  created: string;
  verifier: Verifier;
}

/** A credential without its verifier (for listings). */
export type CredentialInfo = Omit<CredentialRecord, 'verifier'>;

const CREDENTIAL_NAME = /^[A-Za-z0-9._@-]{1,64}$/;
const KEY_ID = /^tk_[a-z2-7]{20}$/;

const capsSchema = z.strictObject({
  show: z.boolean(),
  read: z.boolean(),
  write: z.boolean(),
  execute: z.boolean(),
});

const argon2Schema = z.strictObject({
  m: z
    .int()
    .min(8)
    .max(4 * 1024 * 1024),
  t: z.int().min(1).max(64),
  p: z.int().min(1).max(16),
});

const recordSchema = z.strictObject({
  id: z.string().regex(KEY_ID),
  name: z.string().regex(CREDENTIAL_NAME),
  exports: z.union([z.literal('*'), z.array(z.string().min(1).max(64)).max(4096)]),
  caps: capsSchema,
  disabled: z.boolean(),
  owner: z.boolean(),
  created: z.string(),
  verifier: z.strictObject({
    salt: z.string().min(1).max(256),
    argon2: argon2Schema,
    storedKey: z.string().min(1).max(256),
    serverKey: z.string().min(1).max(256),
  }),
});

const storeSchema = z.strictObject({
  version: z.literal(1),
  /** Key for the made-up salts answered for unknown key ids (so ids cannot be probed). */
  probeKey: z.string().min(16).max(256),
  credentials: z.array(recordSchema).max(100_000),
});

type Store = z.output<typeof storeSchema>;

/** The credential store file of a home. */
export function credentialsFile(home: string): string {
  return join(home, 'credentials.json');
}

/** The owner credential file of a home (id and secret, for the local CLI). */
export function ownerCredentialFile(home: string): string {
  return join(home, 'owner-credential.json');
}

/** Why `name` is not a valid credential name, or undefined. */
export function credentialNameProblem(name: string): string | undefined {
  return CREDENTIAL_NAME.test(name)
    ? undefined
    : `${JSON.stringify(name)} must be 1-64 letters, digits, '.', '_', '@' or '-'`;
}

/** Whether `text` has the shape of an access key id. */
export function isKeyId(text: string): boolean {
  return KEY_ID.test(text);
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

function newKeyId(): string {
  const bytes = randomBytes(20);
  let id = 'tk_';
  for (const b of bytes) id += BASE32[b & 31];
  return id;
}

function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

async function readStore(home: string): Promise<Store | undefined> {
  const file = credentialsFile(home);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw FsError.from(err, 'credentials', file);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw FsError.EINVAL('credentials', file, 'not valid JSON');
  }
  const parsed = storeSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw FsError.EINVAL(
      'credentials',
      file,
      `${issue?.path.map(String).join('.') ?? ''}: ${issue?.message ?? 'invalid'}`,
    );
  }
  return parsed.data;
}

function emptyStore(): Store {
  return { version: 1, probeKey: randomBytes(32).toString('base64url'), credentials: [] };
}

/** Read-modify-write the store under its lock. */
async function updateStore<T>(home: string, change: (store: Store) => T | Promise<T>): Promise<T> {
  const file = credentialsFile(home);
  return withFileLock({ lockFile: `${file}.lock` }, async () => {
    const store = (await readStore(home)) ?? emptyStore();
    const result = await change(store);
    await writeFileAtomic({ file, data: `${JSON.stringify(store, null, 2)}\n`, mode: 0o600 });
    // Whatever mode an older copy had, verifiers are for the node's eyes only.
    await chmod(file, 0o600);
    return result;
  });
}

function info(record: CredentialRecord): CredentialInfo {
  const { verifier: _verifier, ...rest } = record;
  return rest;
}

/**
 * Create a credential. Resolves to its id and secret — the only time the secret exists
 * outside the caller: only the verifier is stored. Defaults: all exports, all capabilities.
 * `argon2` sets the key-derivation cost (tests use a cheap one).
 */
export async function createCredential(opts: {
  home: string;
  name: string;
  exports?: string[] | '*' | undefined;
  caps?: CredentialCaps | undefined;
  argon2?: Argon2Params | undefined;
  owner?: boolean | undefined;
}): Promise<{ id: string; secret: string }> {
  const problem = credentialNameProblem(opts.name);
  if (problem !== undefined) throw FsError.EINVAL('credentials create', opts.name, `name ${problem}`);
  const exports = opts.exports ?? '*';
  if (exports !== '*') {
    if (exports.length === 0)
      throw FsError.EINVAL('credentials create', opts.name, 'a credential needs at least one export');
    for (const name of exports) {
      if (name.length === 0 || name.length > 64 || name.includes('/'))
        throw FsError.EINVAL('credentials create', name, 'not an export name');
    }
  }
  const caps = { ...(opts.caps ?? ALL_CAPS) };
  const secret = newSecret();
  const verifier = await makeVerifier({ secret, argon2: opts.argon2 ?? ARGON2_DEFAULTS });
  const id = await updateStore(opts.home, (store) => {
    let fresh = newKeyId();
    while (store.credentials.some((c) => c.id === fresh)) fresh = newKeyId();
    store.credentials.push({
      id: fresh,
      name: opts.name,
      exports: exports === '*' ? '*' : [...new Set(exports)],
      caps,
      disabled: false,
      owner: opts.owner ?? false,
      created: new Date().toISOString(),
      verifier,
    });
    return fresh;
  });
  await appendAudit({
    home: opts.home,
    record: {
      event: 'credential-created',
      id,
      name: opts.name,
      exports,
      caps: { ...caps },
      owner: opts.owner,
    },
  });
  return { id, secret };
}

/** Every credential, without verifiers, oldest first. */
export async function listCredentials(opts: { home: string }): Promise<CredentialInfo[]> {
  return ((await readStore(opts.home))?.credentials ?? []).map(info);
}

/** The credential with access key id `id` (verifier included), or undefined. */
export async function findCredential(opts: {
  home: string;
  id: string;
}): Promise<CredentialRecord | undefined> {
  if (!isKeyId(opts.id)) return undefined;
  return (await readStore(opts.home))?.credentials.find((c) => c.id === opts.id);
}

/**
 * The credential store as a running node reads it: HTTP clients present a credential on
 * every request and sessions are checked for revocation every few seconds, so the file is
 * read and validated again only when its stamp changed (one stat per look). A credential
 * disabled or removed by `tessera credentials` (another process) is seen at the next look.
 */
export class CredentialCache {
  readonly #home: string;
  #cached: { stamp: string; store: Promise<Store | undefined> } | undefined;

  constructor(opts: { home: string }) {
    this.#home = opts.home;
  }

  /** The credentials now, with the stamp of the store they were read from. */
  async current(): Promise<{ stamp: string; credentials: readonly CredentialRecord[] }> {
    const stamp = await fileStamp(credentialsFile(this.#home));
    let cached = this.#cached;
    if (cached?.stamp !== stamp) {
      const store = readStore(this.#home);
      cached = this.#cached = { stamp, store };
      // A failed read is not kept: the next look tries again.
      void store.catch(() => {
        if (this.#cached === cached) this.#cached = undefined;
      });
    }
    return { stamp, credentials: (await cached.store)?.credentials ?? [] };
  }

  /** The credential with access key id `id` (verifier included), or undefined. */
  async find(id: string): Promise<CredentialRecord | undefined> {
    if (!isKeyId(id)) return undefined;
    return (await this.current()).credentials.find((c) => c.id === id);
  }
}

function notFound(op: string, id: string): FsError {
  return FsError.ENOENT(op, id, 'no credential with this access key id');
}

/** Disable a credential: it stays listed but can no longer authenticate. */
export async function disableCredential(opts: { home: string; id: string }): Promise<CredentialInfo> {
  const record = await updateStore(opts.home, (store) => {
    const found = store.credentials.find((c) => c.id === opts.id);
    if (!found) throw notFound('credentials disable', opts.id);
    found.disabled = true;
    return found;
  });
  await appendAudit({
    home: opts.home,
    record: { event: 'credential-disabled', id: record.id, name: record.name },
  });
  return info(record);
}

/** Remove a credential for good. */
export async function removeCredential(opts: { home: string; id: string }): Promise<CredentialInfo> {
  const record = await updateStore(opts.home, (store) => {
    const at = store.credentials.findIndex((c) => c.id === opts.id);
    const found = store.credentials[at];
    if (!found) throw notFound('credentials remove', opts.id);
    store.credentials.splice(at, 1);
    return found;
  });
  await appendAudit({
    home: opts.home,
    record: { event: 'credential-removed', id: record.id, name: record.name },
  });
  return info(record);
}

/**
 * What HELLO answers for an access key id that does not exist: a salt derived from the key
 * id and a per-node secret (the same every time, like a real one) with the cost parameters
 * real credentials use, so a caller cannot tell existing ids from made-up ones.
 */
export async function probeVerifier(opts: {
  home: string;
  keyId: string;
}): Promise<{ salt: string; argon2: Argon2Params }> {
  const store = (await readStore(opts.home)) ?? (await updateStore(opts.home, (s) => s));
  const salt = createHmac('sha256', store.probeKey).update(opts.keyId).digest().subarray(0, 16);
  const argon2 = store.credentials.at(-1)?.verifier.argon2 ?? ARGON2_DEFAULTS;
  return { salt: salt.toString('base64url'), argon2 };
}

const ownerFileSchema = z.strictObject({
  id: z.string().regex(KEY_ID),
  secret: z.string().min(32).max(256),
});

/** The owner credential's id and secret. */
export interface OwnerCredential {
  id: string;
  secret: string;
}

/**
 * The owner credential the local CLI uses (`owner-credential.json` in the home). `ENOENT`
 * with a hint when the home has none.
 */
export async function readOwnerCredential(opts: { home: string } | string): Promise<OwnerCredential> {
  const home = typeof opts === 'string' ? opts : opts.home;
  const file = ownerCredentialFile(home);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new FsError({
        code: 'ENOENT',
        op: 'credentials',
        path: file,
        message: `ENOENT: no owner credential at '${file}' (run 'tessera init' first, or pass --home)`,
      });
    }
    throw FsError.from(err, 'credentials', file);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    raw = undefined;
  }
  const parsed = ownerFileSchema.safeParse(raw);
  if (!parsed.success) throw FsError.EINVAL('credentials', file, 'expected {"id": "tk_…", "secret": "…"}');
  return parsed.data;
}

/**
 * Make sure the home has an owner credential (all capabilities on every export) whose
 * secret is kept in `owner-credential.json` (mode 0600) for the local CLI. Creates one when
 * the file is missing or its credential was removed; a disabled one stays disabled.
 */
export async function ensureOwnerCredential(opts: {
  home: string;
  argon2?: Argon2Params | undefined;
}): Promise<OwnerCredential & { created: boolean }> {
  const file = ownerCredentialFile(opts.home);
  return withFileLock({ lockFile: `${file}.lock` }, async () => {
    let current: OwnerCredential | undefined;
    try {
      current = await readOwnerCredential({ home: opts.home });
    } catch (err) {
      if (!FsError.is(err, 'ENOENT')) throw err;
    }
    if (current && (await findCredential({ home: opts.home, id: current.id }))) {
      return { ...current, created: false };
    }
    const made = await createCredential({
      home: opts.home,
      name: 'owner',
      exports: '*',
      caps: ALL_CAPS,
      argon2: opts.argon2,
      owner: true,
    });
    await writeFileAtomic({ file, data: `${JSON.stringify(made, null, 2)}\n`, mode: 0o600 });
    return { ...made, created: true };
  });
}
