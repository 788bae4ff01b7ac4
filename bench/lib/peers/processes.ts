import { type ChildProcess, spawn, type StdioOptions } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { mountedTypeAt } from '../../../src/frontends/fuse/fuse-mount.ts';

/** The only address any benchmark peer listens on or connects to. */
export const LOOPBACK = '127.0.0.1';

/** A free TCP port on the loopback address (bound, read, released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: LOOPBACK, port: 0 }, () => resolve());
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('could not pick a free port');
  return address.port;
}

/** A long-running child process (a server or a mount) owned by the benchmark. */
export interface Daemon {
  readonly name: string;
  readonly proc: ChildProcess;
  /** Whether it has exited. */
  readonly exited: boolean;
  /** Its stderr (and stdout unless taken), last 16 KiB, for error messages. */
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs` (default 5 s); resolves once it has exited. */
  stop(opts?: { graceMs?: number }): Promise<void>;
}

const OUTPUT_KEEP = 16 * 1024;

/** `--import` value that runs TypeScript in a child Node process (tsx, resolved from here). */
export const TSX_IMPORT = import.meta.resolve('tsx');

/** Every child started and not yet exited: killed synchronously if the process exits early. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const proc of live) proc.kill('SIGKILL');
});

/** Kill `proc` if the benchmark process exits while it still runs. */
export function trackChild(proc: ChildProcess): void {
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
}

/**
 * Start a daemon. Its stderr (and stdout, unless `onStdout` takes it) is kept for error
 * messages; it is killed if the benchmark process exits without stopping it.
 *
 * `server`: run it in a session of its own, as a server runs (a service manager starts it
 * so, and sshd gives each connection's processes a session of their own, sftp-server
 * included). With the kernel's autogroup scheduling (on by default) each session shares
 * the cores as one group: a server left in the benchmark's session would share its group
 * with the benchmark, the clients and every tool they run, while sshfs's server side has
 * groups of its own — on a busy machine that, not the work, decides who gets the cores.
 */
export function startDaemon(opts: {
  name: string;
  cmd: string;
  args: readonly string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  onStdout?: (chunk: Buffer) => void;
  server?: boolean;
}): Daemon {
  const proc = spawn(opts.cmd, opts.args, {
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.server === true,
  });
  live.add(proc);
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_KEEP);
  };
  proc.stdout.on('data', opts.onStdout ?? keep);
  proc.stderr.on('data', keep);
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    proc.once('exit', () => {
      exited = true;
      live.delete(proc);
      resolve();
    });
    proc.once('error', (err) => {
      keep(Buffer.from(`\n${opts.cmd}: ${err.message}\n`));
      exited = true;
      live.delete(proc);
      resolve();
    });
  });
  return {
    name: opts.name,
    proc,
    get exited() {
      return exited;
    },
    output: () => output,
    async stop({ graceMs = 5000 } = {}) {
      if (exited) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exit;
      clearTimeout(timer);
    },
  };
}

/** Resolve once something accepts TCP connections on `port`; bounded by `timeoutMs`. */
export async function waitForPort(opts: {
  port: number;
  daemon?: Daemon;
  timeoutMs?: number;
}): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  for (;;) {
    if (opts.daemon?.exited)
      throw new Error(`${opts.daemon.name} exited before listening:\n${opts.daemon.output()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const sock = connect({ host: LOOPBACK, port: opts.port });
      sock.once('connect', () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) {
      const what = opts.daemon ? `${opts.daemon.name} ` : '';
      throw new Error(
        `${what}not listening on ${LOOPBACK}:${opts.port} after ${opts.timeoutMs ?? 15_000} ms`,
      );
    }
    await sleep(50);
  }
}

/** Whether `dir` is a mount point now (per /proc/self/mountinfo). */
export async function isMounted(dir: string): Promise<boolean> {
  return (await mountedTypeAt(dir)) !== undefined;
}

/** What a finished command printed. */
export interface CommandOutput {
  stdout: string;
  stderr: string;
}

/**
 * Run a command to completion. `stdout: 'discard'` sends it to /dev/null (the benchmark
 * commands: the bytes are not the point), `'capture'` keeps it as text, or pass a
 * function to see each chunk (to count bytes without keeping them). Rejects, with the
 * command's stderr, on a non-zero exit or after `timeoutMs` (then the command is killed).
 */
export async function runCommand(opts: {
  cmd: string;
  args: readonly string[];
  env?: NodeJS.ProcessEnv;
  stdout?: 'discard' | 'capture' | ((chunk: Buffer) => void);
  timeoutMs?: number;
}): Promise<CommandOutput> {
  const mode = opts.stdout ?? 'capture';
  const stdio: StdioOptions = ['ignore', mode === 'discard' ? 'ignore' : 'pipe', 'pipe'];
  const proc = spawn(opts.cmd, opts.args, { env: opts.env ?? process.env, stdio });
  live.add(proc);
  const out: Buffer[] = [];
  let err = '';
  if (proc.stdout) proc.stdout.on('data', typeof mode === 'function' ? mode : (c: Buffer) => out.push(c));
  proc.stderr?.on('data', (c: Buffer) => {
    err = (err + c.toString('utf8')).slice(-OUTPUT_KEEP);
  });
  const timeoutMs = opts.timeoutMs ?? 600_000;
  const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | string>((resolve) => {
    proc.once('error', (e) => resolve(e.message));
    proc.once('close', (c, signal) => resolve(c ?? `signal ${signal}`));
  });
  clearTimeout(timer);
  live.delete(proc);
  if (code !== 0) {
    throw new Error(`${opts.cmd} ${opts.args.join(' ')} failed (${code}):\n${err.trim()}`);
  }
  return { stdout: Buffer.concat(out).toString('utf8'), stderr: err };
}

/** Whether a program is on PATH (or at the given absolute path). */
async function haveProgram(cmd: string): Promise<boolean> {
  try {
    await runCommand({ cmd: 'sh', args: ['-c', `command -v "$0"`, cmd], timeoutMs: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/** Fail unless every program is there (on PATH, or at its absolute path), naming the first missing one. */
export async function requirePrograms(programs: readonly string[]): Promise<void> {
  for (const prog of programs) {
    if (!(await haveProgram(prog)))
      throw new Error(
        `${prog} not found: install the benchmark peers with 'bash scripts/install-system-deps.sh --bench'`,
      );
  }
}
