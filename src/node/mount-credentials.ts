import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../core/atomic-file.ts';
import { withFileLock } from '../core/file-lock.ts';
import { FsError } from '../core/fs-error.ts';

/**
 * Credentials this node uses to reach other nodes' exports (`[[mount]]` endpoints name them
 * by handle; the config never holds a secret). Kept in `<home>/mount-credentials.json`,
 * mode 0600, rewritten atomically under a lock; secrets are never printed.
 */

const fileSchema = z.strictObject({
  version: z.literal(1),
  credentials: z.record(
    z.string().min(1).max(200),
    z.strictObject({ id: z.string().min(1), secret: z.string().min(1) }),
  ),
});

type StoreFile = z.infer<typeof fileSchema>;

/** The store's file in a home. */
export function mountCredentialsFile(home: string): string {
  return join(home, 'mount-credentials.json');
}

async function load(home: string): Promise<StoreFile> {
  const file = mountCredentialsFile(home);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, credentials: {} };
    throw FsError.from(err, 'mount credentials', file);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    raw = undefined;
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success)
    throw FsError.EINVAL('mount credentials', file, 'not a mount credential store; fix or remove it');
  return parsed.data;
}

async function edit(home: string, change: (data: StoreFile) => void): Promise<void> {
  const file = mountCredentialsFile(home);
  await withFileLock({ lockFile: `${file}.lock` }, async () => {
    const data = await load(home);
    change(data);
    await writeFileAtomic({ file, data: `${JSON.stringify(data, null, 2)}\n`, mode: 0o600 });
  });
}

/** Store (or replace) the credential under `handle`. */
export async function saveMountCredential(opts: {
  home: string;
  handle: string;
  credential: { id: string; secret: string };
}): Promise<void> {
  await edit(opts.home, (data) => {
    data.credentials[opts.handle] = { id: opts.credential.id, secret: opts.credential.secret };
  });
}

/** Forget the credentials under `handles` (those no mount uses any more). */
export async function removeMountCredentials(opts: {
  home: string;
  handles: readonly string[];
}): Promise<void> {
  if (opts.handles.length === 0) return;
  await edit(opts.home, (data) => {
    for (const h of opts.handles) delete data.credentials[h];
  });
}

/** The credential under `handle`; `ENOENT` naming the handle (never a secret) when missing. */
export async function mountCredential(opts: {
  home: string;
  handle: string;
}): Promise<{ id: string; secret: string }> {
  const found = (await load(opts.home)).credentials[opts.handle];
  if (!found) {
    throw FsError.ENOENT(
      'mount',
      opts.handle,
      `no mount credential '${opts.handle}' in ${mountCredentialsFile(opts.home)} (mount again with --credential ID:SECRET)`,
    );
  }
  return found;
}
