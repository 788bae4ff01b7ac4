import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ConnectOptions } from '../../../src/client/connection.ts';
import { trackChild, TSX_IMPORT } from './processes.ts';

const CHILD_SCRIPT = fileURLToPath(new URL('./tessera-client-child.ts', import.meta.url));

/** What the benchmark asks the client process to do (paths are relative to the export root). */
export type ClientRequest = { seq: number } & (
  | { t: 'connect'; connect: ConnectOptions; exportName: string }
  | { t: 'read'; path: string }
  | { t: 'write'; path: string; bytes: number }
  | { t: 'walk'; path: string }
  | { t: 'unlink'; path: string }
  | { t: 'close' }
);

/** The client process's answer: a number (bytes read or written, files walked) or an error. */
export type ClientReply =
  { t: 'done'; seq: number; value: number } | { t: 'error'; seq: number; message: string };

type Ask = { [K in ClientRequest['t']]: Omit<Extract<ClientRequest, { t: K }>, 'seq'> }[ClientRequest['t']];

/**
 * A Tessera client (one RemoteSource session to one node) running in a child process of its
 * own; each call is one request over IPC, answered when the operation is complete.
 */
export class TesseraClient {
  readonly #proc: ChildProcess;
  readonly #waiting = new Map<number, { resolve: (v: number) => void; reject: (e: Error) => void }>();
  #seq = 0;
  #exit: Promise<void>;
  #stderr = '';

  private constructor(proc: ChildProcess) {
    this.#proc = proc;
    proc.stderr?.on('data', (c: Buffer) => {
      this.#stderr = (this.#stderr + c.toString('utf8')).slice(-8192);
    });
    proc.on('message', (r: ClientReply) => {
      const w = this.#waiting.get(r.seq);
      if (!w) return;
      this.#waiting.delete(r.seq);
      if (r.t === 'done') w.resolve(r.value);
      else w.reject(new Error(r.message));
    });
    this.#exit = new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        for (const w of this.#waiting.values())
          w.reject(new Error(`Tessera client process exited (${code ?? signal}):\n${this.#stderr}`));
        this.#waiting.clear();
        resolve();
      });
    });
  }

  /** Start a client process and open its session (`nodeArgs` go to that process, e.g. `--cpu-prof`). */
  static async start(opts: {
    connect: ConnectOptions;
    exportName: string;
    nodeArgs?: string[];
  }): Promise<TesseraClient> {
    const proc = fork(CHILD_SCRIPT, [], {
      execArgv: [...(opts.nodeArgs ?? []), '--import', TSX_IMPORT],
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    trackChild(proc);
    const client = new TesseraClient(proc);
    try {
      await client.#ask({ t: 'connect', connect: opts.connect, exportName: opts.exportName });
    } catch (err) {
      await client.close();
      throw err;
    }
    return client;
  }

  /** The client process (for CPU accounting). */
  get pid(): number | undefined {
    return this.#proc.pid;
  }

  #ask(req: Ask): Promise<number> {
    const seq = ++this.#seq;
    return new Promise<number>((resolve, reject) => {
      if (!this.#proc.connected) return reject(new Error(`Tessera client process is gone:\n${this.#stderr}`));
      this.#waiting.set(seq, { resolve, reject });
      this.#proc.send({ ...req, seq });
    });
  }

  /** Read a whole file; resolves to the bytes read. */
  read(path: string): Promise<number> {
    return this.#ask({ t: 'read', path });
  }
  /** Write a file of `bytes` bytes (atomic: it appears at close). */
  write(path: string, bytes: number): Promise<number> {
    return this.#ask({ t: 'write', path, bytes });
  }
  /** Walk a tree; resolves to the number of files seen. */
  walk(path: string): Promise<number> {
    return this.#ask({ t: 'walk', path });
  }
  unlink(path: string): Promise<number> {
    return this.#ask({ t: 'unlink', path });
  }

  /** Close the session and end the process (killed if it does not leave within 10 s). Idempotent. */
  async close(): Promise<void> {
    if (this.#proc.exitCode === null && this.#proc.signalCode === null) {
      const timer = setTimeout(() => this.#proc.kill('SIGKILL'), 10_000);
      await this.#ask({ t: 'close' }).catch(() => this.#proc.kill('SIGTERM'));
      await this.#exit;
      clearTimeout(timer);
    }
  }
}
