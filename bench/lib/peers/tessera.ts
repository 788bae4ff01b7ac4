import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConnectOptions } from '../../../src/client/connection.ts';
import { addExport, initHome } from '../../../src/core/home.ts';
import { ensureOwnerCredential } from '../../../src/node/credentials.ts';
import { startDaemon, TSX_IMPORT } from './processes.ts';

const SERVE_SCRIPT = fileURLToPath(new URL('./tessera-serve.ts', import.meta.url));

/** A Tessera node running as a child process. */
export interface TesseraPeer {
  url: string;
  /** How a RemoteSource connects to it (owner credential, pinned fingerprint under TLS). */
  connect: ConnectOptions;
  /** The node process (for CPU accounting). */
  pid: number | undefined;
  stop(): Promise<void>;
  /** SIGKILL it (no goodbye: its sessions drop abruptly); resolves once it has exited. */
  kill(): Promise<void>;
}

/**
 * Make a home in `home` with one `linux` export named `exportName` of `dataDir` (catalog off), then run
 * a node of it on a free port of 127.0.0.1 in its own process (TLS, or plain ws with
 * `insecure`). `nodeArgs` go to that node process (e.g. `--cpu-prof`).
 */
export async function startTesseraNode(opts: {
  home: string;
  dataDir: string;
  exportName: string;
  insecure: boolean;
  nodeArgs?: string[];
  timeoutMs?: number;
}): Promise<TesseraPeer> {
  await mkdir(opts.home, { recursive: true, mode: 0o700 });
  await initHome({ root: opts.home, name: opts.insecure ? 'bench-ws' : 'bench-tls' });
  // No catalog: it would crawl the 100,000-file tree (seconds of the node's CPU) while the
  // first rounds run, and index every file a round writes; the benchmark measures access.
  await appendFile(join(opts.home, 'tessera.toml'), '\n[catalog]\nenabled = false\n');
  await addExport({
    root: opts.home,
    entry: { name: opts.exportName, kind: 'linux', path: opts.dataDir, ro: false, desc: '', options: {} },
  });
  const credential = await ensureOwnerCredential({ home: opts.home });
  let line = '';
  let announce: ((text: string) => void) | undefined;
  const announced = new Promise<string>((resolve) => (announce = resolve));
  const daemon = startDaemon({
    server: true,
    name: `tessera node (${opts.insecure ? 'ws' : 'TLS'})`,
    cmd: process.execPath,
    args: [
      ...(opts.nodeArgs ?? []),
      '--import',
      TSX_IMPORT,
      SERVE_SCRIPT,
      '--home',
      opts.home,
      ...(opts.insecure ? ['--insecure'] : []),
    ],
    onStdout: (chunk) => {
      line += chunk.toString('utf8');
      const nl = line.indexOf('\n');
      if (nl >= 0) announce?.(line.slice(0, nl));
    },
  });
  const timeoutMs = opts.timeoutMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  const text = await Promise.race([
    announced,
    new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), timeoutMs);
      daemon.proc.once('exit', () => resolve(undefined));
    }),
  ]);
  clearTimeout(timer);
  if (text === undefined) {
    await daemon.stop();
    throw new Error(`${daemon.name} did not start within ${timeoutMs} ms:\n${daemon.output()}`);
  }
  const info = JSON.parse(text) as { url: string; fingerprint: string | null };
  return {
    url: info.url,
    connect: {
      url: info.url,
      credential: { id: credential.id, secret: credential.secret },
      trust: info.fingerprint === null ? undefined : { fingerprint: info.fingerprint },
      client: 'remote-bench',
    },
    pid: daemon.proc.pid,
    stop: () => daemon.stop({ graceMs: 10_000 }),
    kill: async () => {
      if (daemon.exited) return;
      const exited = new Promise((resolve) => daemon.proc.once('exit', resolve));
      daemon.proc.kill('SIGKILL');
      await exited;
    },
  };
}
