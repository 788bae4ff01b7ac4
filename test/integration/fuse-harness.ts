// Shared setup of the FUSE tests: a node (in the test process) exporting temp directories, and
// `tessera mount-fs` run as a real subprocess, since a process must never serve a mount and
// use it itself. Shell tools run through async exec only (a sync call could wait on ourselves).
import { exec, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { addExport, initHome } from '../../src/core/home.ts';
import { createLogger } from '../../src/core/log.ts';
import { loadFuseBinding } from '../../src/frontends/fuse/fuse-binding.ts';
import { mountedTypeAt } from '../../src/frontends/fuse/fuse-mount.ts';
import { ensureOwnerCredential } from '../../src/node/credentials.ts';
import { createNode, type TesseraNode } from '../../src/node/node.ts';
import { CHEAP_ARGON2 } from '../helpers/argon2.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = join(repoRoot, 'bin', 'tessera.js');

/** Why FUSE tests cannot run here, or undefined when they can. */
export function fuseSkipReason(): string | undefined {
  if (process.platform !== 'linux') return 'FUSE tests need Linux';
  if (!existsSync('/dev/fuse')) return 'no /dev/fuse on this machine';
  if (process.getuid?.() !== 0) return 'FUSE tests mount as root';
  // An out-of-date build is not skipped: the tests fail, saying to rebuild it.
  const { error, outdated } = loadFuseBinding();
  return error && outdated !== true ? `the FUSE addon is unavailable: ${error.message}` : undefined;
}

/** Run a shell command; resolves with its exit code and output, never rejects. */
export function sh(
  command: string,
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolvePromise) => {
    exec(
      command,
      { shell: '/bin/bash', cwd: opts.cwd, env: { ...process.env, ...opts.env }, maxBuffer: 64 << 20 },
      (error, stdout, stderr) => {
        resolvePromise({ code: error ? Number(error.code ?? 1) : 0, out: stdout, err: stderr });
      },
    );
  });
}

/** Run a shell command that must succeed; resolves with its stdout. */
export async function shOk(
  command: string,
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  const r = await sh(command, opts);
  if (r.code !== 0) throw new Error(`'${command}' exited ${r.code}: ${r.err}${r.out}`);
  return r.out;
}

/** A node exporting temp directories `docs` and `other`, and the paths around it. */
export interface FuseWorld {
  root: string;
  home: string;
  /** Backing directory of the export `/docs`. */
  docs: string;
  /** Backing directory of the export `/other`. */
  other: string;
  node: TesseraNode;
  close(): Promise<void>;
}

export async function startWorld(): Promise<FuseWorld> {
  const root = await mkdtemp(join(tmpdir(), 'tessera-fuse-'));
  const home = join(root, 'home');
  const docs = join(root, 'docs');
  const other = join(root, 'other');
  await mkdir(docs);
  await mkdir(other);
  await initHome({ root: home, name: 'fusenode' });
  for (const [name, path] of [
    ['docs', docs],
    ['other', other],
  ] as const) {
    await addExport({ root: home, entry: { name, kind: 'linux', path, ro: false, desc: '', options: {} } });
  }
  await ensureOwnerCredential({ home, argon2: CHEAP_ARGON2 });
  const node = await createNode({
    home,
    listen: '127.0.0.1:0',
    logger: createLogger({ level: 'silent' }),
    argon2: CHEAP_ARGON2,
  });
  return {
    root,
    home,
    docs,
    other,
    node,
    close: async () => {
      await node.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** A running `tessera mount-fs`. */
export interface MountProcess {
  mountpoint: string;
  child: ChildProcess;
  /** Resolves with the exit code (or the signal name) once the process ends. */
  exit: Promise<number | string>;
  stderr(): string;
}

/** Start `tessera mount-fs MOUNTPOINT` for the world's home; resolves once it is mounted. */
export async function mountFs(opts: {
  home: string;
  mountpoint: string;
  args?: string[];
  /** Do not wait for the mount (for runs expected to fail). */
  noWait?: boolean;
}): Promise<MountProcess> {
  await mkdir(opts.mountpoint, { recursive: true }).catch(() => undefined);
  const child = spawn(process.execPath, [BIN, 'mount-fs', opts.mountpoint, ...(opts.args ?? [])], {
    env: { ...process.env, TESSERA_HOME: opts.home, TESSERA_NODE: '', TESSERA_CREDENTIAL: '' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  const mounted = new Promise<void>((resolvePromise) => {
    child.stderr.on('data', (text: string) => {
      stderr += text;
      if (stderr.includes('tessera: mounted ')) resolvePromise();
    });
  });
  const exit = new Promise<number | string>((resolvePromise) =>
    child.on('exit', (code, signal) => resolvePromise(code ?? signal ?? -1)),
  );
  const proc = { mountpoint: opts.mountpoint, child, exit, stderr: () => stderr };
  if (opts.noWait) return proc;
  const first = await Promise.race([mounted.then(() => 'mounted'), exit.then((c) => `exited ${c}`)]);
  if (first !== 'mounted') throw new Error(`mount-fs ${first}: ${stderr}`);
  return proc;
}

/** Stop a mount with SIGTERM and wait for the process; resolves with its exit code. */
export async function stopMount(m: MountProcess): Promise<number | string> {
  if (m.child.exitCode === null && m.child.signalCode === null) m.child.kill('SIGTERM');
  return m.exit;
}

/** Whether something is mounted at `path` (from /proc/self/mountinfo). */
export async function isMounted(path: string): Promise<boolean> {
  return (await mountedTypeAt(path)) !== undefined;
}

/** Last resort for a test that failed half-way: detach whatever is left at `path`. */
export async function forceUnmount(path: string): Promise<void> {
  if (await isMounted(path)) await sh(`umount -l '${path}'`);
}

/** Poll `check` until it returns true (or give up after `ms`); resolves with the last answer. */
export async function eventually(check: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}
