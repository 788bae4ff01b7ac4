import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../core/atomic-file.ts';
import { FsError } from '../core/fs-error.ts';

/** Where a running node says it listens (`runtime.json` in its home). */
export interface RuntimeInfo {
  /** `wss://host:port/tessera` or `ws://…`. */
  url: string;
  pid: number;
  /** SHA-256 fingerprint of the server certificate (`AA:BB:…`); undefined for `ws://`. */
  fingerprint: string | undefined;
  /** When the node started listening (ISO 8601). */
  started: string;
}

const runtimeSchema = z.strictObject({
  url: z.string().regex(/^wss?:\/\//),
  pid: z.int().min(1),
  fingerprint: z.string().nullable(),
  started: z.string(),
});

/** The runtime file of a home. */
export function runtimeFile(home: string): string {
  return join(home, 'runtime.json');
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The running node of a home, or undefined when none runs (no file, or one left behind by
 * a process that is gone).
 */
export async function readRuntime(opts: { home: string } | string): Promise<RuntimeInfo | undefined> {
  const home = typeof opts === 'string' ? opts : opts.home;
  const file = runtimeFile(home);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw FsError.from(err, 'runtime', file);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined; // Half-written by a crashed writer: nobody is there.
  }
  const parsed = runtimeSchema.safeParse(raw);
  if (!parsed.success || !processAlive(parsed.data.pid)) return undefined;
  return { ...parsed.data, fingerprint: parsed.data.fingerprint ?? undefined };
}

/** Record the running node (mode 0644: the URL and fingerprint are not secret). */
export async function writeRuntime(opts: { home: string; info: RuntimeInfo }): Promise<void> {
  const { info } = opts;
  const body = { url: info.url, pid: info.pid, fingerprint: info.fingerprint ?? null, started: info.started };
  await writeFileAtomic({
    file: runtimeFile(opts.home),
    data: `${JSON.stringify(body, null, 2)}\n`,
    mode: 0o644,
  });
}

/** Remove the runtime file if it still describes the node at `url` (not a successor). */
export async function removeRuntime(opts: { home: string; url: string }): Promise<void> {
  const file = runtimeFile(opts.home);
  try {
    const raw = JSON.parse(await readFile(file, 'utf8')) as { url?: unknown; pid?: unknown };
    if (raw.url !== opts.url || raw.pid !== process.pid) return;
  } catch {
    return;
  }
  await rm(file, { force: true });
}
