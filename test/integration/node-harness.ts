// Shared setup of the node tests: a temp home with memory exports, a node on 127.0.0.1:0,
// and a small raw protocol client built on `ws` and the protocol codec (so the tests see
// exactly what goes over the wire).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { runCli } from '../../src/cli/cli.ts';
import type { CliIO } from '../../src/cli/io.ts';
import { FsError } from '../../src/core/fs-error.ts';
import { addExport, initHome } from '../../src/core/home.ts';
import { createLogger, type Logger } from '../../src/core/log.ts';
import { MAX_FRAME_BYTES } from '../../src/protocol/frames.ts';
import { decodeServerMessage, encodeRequest, type ServerMessage } from '../../src/protocol/messages.ts';
import type { OpName } from '../../src/protocol/ops.ts';
import { authMessage, clientProof, nonce, saltedKey } from '../../src/protocol/scram.ts';
import { type CredentialCaps, createCredential, ensureOwnerCredential } from '../../src/node/credentials.ts';
import { createNode, type CreateNodeOptions, type TesseraNode } from '../../src/node/node.ts';
import { CHEAP_ARGON2 } from '../helpers/argon2.ts';

export { CHEAP_ARGON2 };

/** Run the CLI in this process, capturing its output. */
export async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIO = {
    out: (t) => (out += t),
    err: (t) => (err += t),
    env: { ...process.env, TESSERA_HOME: '' },
    cwd: process.cwd(),
  };
  const code = await runCli({ argv, io });
  return { code, out, err };
}

/** A logger that drops everything. */
export function quietLogger(): Logger {
  return createLogger({ level: 'silent' });
}

/** A temp home with memory exports `alpha` and `beta`; removed by `cleanup`. */
export async function makeHome(
  opts: { exports?: string[] } = {},
): Promise<{ home: string; cleanup: () => Promise<void> }> {
  const home = await mkdtemp(join(tmpdir(), 'tessera-node-'));
  await initHome({ root: home, name: 'testnode' });
  for (const name of opts.exports ?? ['alpha', 'beta']) {
    await addExport({
      root: home,
      entry: { name, kind: 'memory', path: '', ro: false, desc: '', options: {} },
    });
  }
  await ensureOwnerCredential({ home, argon2: CHEAP_ARGON2 });
  return { home, cleanup: () => rm(home, { recursive: true, force: true }) };
}

/** A node on a fresh home, plus helpers; `stop` closes it and removes the home. */
export async function startNode(
  opts: Partial<CreateNodeOptions> & { exports?: string[] } = {},
): Promise<{ node: TesseraNode; home: string; stop: () => Promise<void> }> {
  const { home, cleanup } = await makeHome({ exports: opts.exports });
  const node = await createNode({
    listen: '127.0.0.1:0',
    logger: quietLogger(),
    argon2: CHEAP_ARGON2,
    ...opts,
    home,
  });
  return {
    node,
    home,
    stop: async () => {
      await node.close();
      await cleanup();
    },
  };
}

/** Make a credential with cheap argon2 cost. */
export async function credential(opts: {
  home: string;
  name?: string;
  exports?: string[] | '*';
  caps?: Partial<CredentialCaps>;
}): Promise<{ id: string; secret: string }> {
  return createCredential({
    home: opts.home,
    name: opts.name ?? 'tester',
    exports: opts.exports,
    caps: { show: true, read: true, write: true, execute: true, ...opts.caps },
    argon2: CHEAP_ARGON2,
  });
}

/** A raw protocol client: sends requests, collects every server message. */
export class RawClient {
  readonly messages: ServerMessage[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  #waiters: (() => void)[] = [];
  #nextId = 1;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      try {
        this.messages.push(decodeServerMessage(data, isBinary));
      } catch (err) {
        this.messages.push({ t: 'error', err: FsError.from(err, 'client-decode') });
      }
      for (const w of this.#waiters.splice(0)) w();
    });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        for (const w of this.#waiters.splice(0)) w();
      });
    });
    ws.on('error', () => undefined);
  }

  /** Open a WebSocket to the node (trusting its certificate without pinning: tests only). */
  static async connect(url: string, opts: { protocols?: string[] } = {}): Promise<RawClient> {
    const ws = new WebSocket(url, opts.protocols ?? ['tessera'], {
      rejectUnauthorized: false,
      maxPayload: MAX_FRAME_BYTES,
      perMessageDeflate: false,
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    return new RawClient(ws);
  }

  /** A fresh request id. */
  nextId(): number {
    return this.#nextId++;
  }

  /** Send raw bytes or text as one message. */
  sendRaw(data: string | Buffer, binary = typeof data !== 'string'): void {
    this.ws.send(data, { binary });
  }

  /** Send a request without waiting; returns its id. */
  send(op: OpName, args: unknown, payload?: Uint8Array, id = this.nextId()): number {
    const frame = encodeRequest({ id, op, args, payload });
    if (typeof frame === 'string') this.ws.send(frame);
    else this.ws.send(Buffer.concat(frame), { binary: true });
    return id;
  }

  /** Wait for a message matching `pred` (or the connection to close: then undefined). */
  async waitFor(pred: (m: ServerMessage) => boolean): Promise<ServerMessage | undefined> {
    for (;;) {
      const found = this.messages.find(pred);
      if (found) return found;
      if (this.ws.readyState === WebSocket.CLOSED) return undefined;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /** The response to request `id`. */
  async response(id: number): Promise<Extract<ServerMessage, { t: 'res' }>> {
    const m = await this.waitFor((x) => x.t === 'res' && x.id === id);
    if (!m || m.t !== 'res') throw new Error(`connection closed before the answer to request ${id}`);
    return m;
  }

  /** Send a request and return its result (throws the FsError of a failure). */
  async call(
    op: OpName,
    args: unknown,
    payload?: Uint8Array,
  ): Promise<{ r: unknown; payload: Buffer | undefined }> {
    const res = await this.response(this.send(op, args, payload));
    if (!res.ok) throw res.err;
    return { r: res.r, payload: res.payload };
  }

  /** The error of a request that must fail. */
  async fails(op: OpName, args: unknown, payload?: Uint8Array): Promise<FsError> {
    const res = await this.response(this.send(op, args, payload));
    if (res.ok) throw new Error(`${op} succeeded but should have failed: ${JSON.stringify(res.r)}`);
    return res.err;
  }

  /** HELLO + AUTH with a credential; resolves to the AUTH result. */
  async login(cred: { id: string; secret: string }): Promise<Record<string, unknown>> {
    const clientNonce = nonce();
    const hello = (
      await this.call('HELLO', {
        versions: { min: 1, max: 1 },
        auth: { method: 'scram-argon2id', key_id: cred.id, client_nonce: clientNonce },
      })
    ).r as { salt: string; argon2: typeof CHEAP_ARGON2; server_nonce: string; version: number };
    const salted = await saltedKey({ secret: cred.secret, salt: hello.salt, argon2: hello.argon2 });
    const msg = authMessage({
      keyId: cred.id,
      clientNonce,
      serverNonce: hello.server_nonce,
      version: hello.version,
    });
    const { proof, serverSignature } = clientProof({ salted, authMessage: msg });
    const auth = (await this.call('AUTH', { proof })).r as Record<string, unknown>;
    if (auth.server_signature !== serverSignature) throw new Error('server signature mismatch');
    return auth;
  }

  close(): void {
    this.ws.close(1000);
  }

  terminate(): void {
    this.ws.terminate();
  }
}

/** Connect and log in. */
export async function session(node: TesseraNode, cred: { id: string; secret: string }): Promise<RawClient> {
  const client = await RawClient.connect(node.url);
  await client.login(cred);
  return client;
}
