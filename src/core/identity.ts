import { randomBytes } from 'node:crypto';
import { link, readFile, rm } from 'node:fs/promises';
import { z } from 'zod';
import { writeFileAtomic } from './atomic-file.ts';
import { FsError } from './fs-error.ts';

/** A node's identity, created once at `tessera init` and never changed. */
export interface NodeIdentity {
  /** 128-bit random id, 32 lowercase hex digits. */
  id: string;
  /** When the node was initialized (ISO 8601). */
  createdAt: string;
}

const NODE_ID_PATTERN = /^[0-9a-f]{32}$/;

const identitySchema = z.strictObject({
  version: z.literal(1),
  id: z.string().regex(NODE_ID_PATTERN, 'expected 32 lowercase hex digits'),
  createdAt: z.iso.datetime(),
});

/** A fresh random node id. */
export function newNodeId(): string {
  return randomBytes(16).toString('hex');
}

/** Whether `text` has the shape of a node id. */
export function isNodeId(text: string): boolean {
  return NODE_ID_PATTERN.test(text);
}

/** Read the identity file; `ENOENT` when the node was never initialized. */
export async function loadIdentity(opts: { file: string }): Promise<NodeIdentity> {
  let text: string;
  try {
    text = await readFile(opts.file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new FsError({
        code: 'ENOENT',
        op: 'identity',
        path: opts.file,
        message: `ENOENT: no node identity at '${opts.file}' (run 'tessera init' first, or pass --home)`,
      });
    }
    throw FsError.from(err, 'identity', opts.file);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new FsError({
      code: 'EINVAL',
      op: 'identity',
      path: opts.file,
      message: `${opts.file}: not valid JSON`,
    });
  }
  const parsed = identitySchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.map(String).join('.') ?? '';
    throw new FsError({
      code: 'EINVAL',
      op: 'identity',
      path: opts.file,
      message: `${opts.file}: ${where === '' ? '' : `${where}: `}${issue?.message ?? 'invalid'}`,
    });
  }
  return { id: parsed.data.id, createdAt: parsed.data.createdAt };
}

/**
 * Load the identity, creating it first if the file does not exist. Creation is exclusive:
 * if two processes race, both end up with the one that landed first.
 */
export async function loadOrCreateIdentity(opts: {
  file: string;
}): Promise<{ identity: NodeIdentity; created: boolean }> {
  try {
    return { identity: await loadIdentity(opts), created: false };
  } catch (err) {
    if (!FsError.is(err, 'ENOENT')) throw err;
  }
  const identity: NodeIdentity = { id: newNodeId(), createdAt: new Date().toISOString() };
  const body = `${JSON.stringify({ version: 1, ...identity }, null, 2)}\n`;
  // Write beside, then hard-link into place: link fails with EEXIST if someone else won.
  const tmp = `${opts.file}.${process.pid}.${randomBytes(6).toString('hex')}.new`;
  await writeFileAtomic({ file: tmp, data: body, mode: 0o644 });
  try {
    await link(tmp, opts.file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw FsError.from(err, 'identity', opts.file);
    return { identity: await loadIdentity(opts), created: false };
  } finally {
    await rm(tmp, { force: true });
  }
  return { identity, created: true };
}
