import { FsError } from '../core/fs-error.ts';
import { MAX_FRAME_BYTES } from '../protocol/frames.ts';
import {
  decodeResult,
  decodeServerMessage,
  encodeBye,
  encodeCancel,
  encodeRequest,
} from '../protocol/messages.ts';
import type { OpName, OpResult } from '../protocol/ops.ts';
import { authMessage, clientProof, nonce, safeEqual, saltedKey } from '../protocol/scram.ts';
import { OUR_VERSIONS, type VersionRange } from '../protocol/version.ts';
import type { KnownNodes } from './known-nodes.ts';
import { type WireSocketOptions, WireSocket } from './wire-socket.ts';
import { aeadAvailable } from '../protocol/aead.ts';
import {
  SEAL_EXPORTER_LABEL,
  SEAL_KEYING_BYTES,
  SEAL_TICKET_HEADER,
  SEALED_SUBPROTOCOL,
  sealKeys,
} from '../protocol/sealed-messages.ts';

/** A credential: access key id and secret. */
export interface Credential {
  id: string;
  secret: string;
}

/** How to trust the server's TLS certificate. */
export type Trust =
  /** Pin on first contact in a KnownNodes file, refuse a change. */
  | { knownNodes: KnownNodes }
  /** Accept only this fingerprint. */
  | { fingerprint: string };

/** Options of `Connection.connect`. */
export interface ConnectOptions {
  /** `wss://host:port/tessera` (or `ws://` for a node started with --insecure). */
  url: string;
  credential: Credential;
  /** Required for `wss://`. */
  trust?: Trust | undefined;
  /** Client name sent in HELLO (for the server's logs). */
  client?: string | undefined;
  /** Give up connecting after this long (default 10 s). */
  timeoutMs?: number | undefined;
  /**
   * Protocol versions to offer (default: all this build speaks). A narrower range makes the
   * session speak like an older client: compatibility tests, or pinning a version.
   */
  versions?: VersionRange | undefined;
  /**
   * Move the session to a sealed connection when the node offers one (default: yes, over
   * `wss://` where the tessera_seal addon loaded); see docs/protocol.md.
   */
  sealed?: boolean | undefined;
}

interface Pending {
  op: OpName;
  /** Where the answer's bytes may be read straight into (a READ's `into`). */
  into: Uint8Array | undefined;
  resolve: (value: { result: unknown; payload: Buffer | undefined }) => void;
  reject: (err: FsError) => void;
}

/** A call's decoded result and its bytes, if the op returns any. */
export interface CallResult<K extends OpName> {
  result: OpResult<K>;
  payload: Buffer | undefined;
}

/** Salted keys derived in this process, so reconnects skip the argon2id cost. */
const saltedCache = new Map<string, Buffer>();

/**
 * One authenticated session with a node. Many requests in flight, answered in any order;
 * server pushes go to listeners. When the connection drops, every request in flight fails
 * at once with a retryable `ECONNRESET`, and the session is over (no silent resume).
 */
export class Connection implements AsyncDisposable {
  readonly #ws: WireSocket;
  readonly #pending = new Map<number, Pending>();
  readonly #pushListeners = new Set<(ev: string, body: Record<string, unknown>) => void>();
  readonly #closeListeners = new Set<(err: FsError) => void>();
  #nextId = 1;
  #closed: FsError | undefined;
  #byeReason: string | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #lastPong = Date.now();
  /** Set once AUTH succeeds. */
  session = {
    id: '',
    version: 0,
    nodeId: '',
    nodeName: '',
    principal: '',
    caps: {} as Record<string, boolean>,
  };
  /** The server certificate's fingerprint (wss only). */
  fingerprint: string | undefined;
  /** Whether the session runs on a sealed connection (keyed by the TLS session that set it up). */
  sealed = false;
  /** Why a sealed connection was offered but not used (the session stayed on TLS). */
  sealError: FsError | undefined;
  /** The node offered sealed connections in its HELLO answer. */
  #sealOffered = false;

  private constructor(
    ws: WireSocket,
    readonly url: string,
  ) {
    this.#ws = ws;
    ws.on('message', (data: Buffer | Buffer[], isBinary: boolean) => this.#onMessage(data, isBinary));
    ws.on('close', () => this.#fail(this.#dropError()));
    ws.on('error', () => undefined);
    ws.on('pong', () => {
      this.#lastPong = Date.now();
    });
    this.#heartbeat = setInterval(() => {
      if (Date.now() - this.#lastPong > 20_000) ws.terminate();
      else ws.ping();
    }, 10_000);
    this.#heartbeat.unref();
  }

  /**
   * Connect, check the server certificate, and authenticate (HELLO + AUTH); then, when the
   * node offers it, move the session to a sealed connection (SEAL, RESUME) and close the TLS
   * one. Should that fail, the session stays on TLS (`sealError` says why).
   */
  static async connect(opts: ConnectOptions): Promise<Connection> {
    const url = new URL(opts.url);
    if (url.protocol !== 'wss:' && url.protocol !== 'ws:') {
      throw FsError.EINVAL('connect', opts.url, 'node URL must start with wss:// or ws://');
    }
    if (url.pathname === '/' || url.pathname === '') url.pathname = '/tessera';
    const hostPort = hostPortOf(url);
    const conn = await Connection.#open({ url, original: opts.url, timeoutMs: opts.timeoutMs });
    try {
      if (url.protocol === 'wss:') {
        const fingerprint = conn.#ws.fingerprint;
        if (!fingerprint) throw FsError.EPROTO('connect', opts.url, 'server presented no certificate');
        conn.fingerprint = fingerprint;
        await checkTrust({ trust: opts.trust, url: opts.url, hostPort, fingerprint });
      }
      await conn.#authenticate(opts);
    } catch (err) {
      conn.#ws.terminate();
      throw err;
    }
    if (!conn.#sealOffered) return conn;
    try {
      const sealed = await conn.#moveToSealed({ opts, url });
      void conn.close().catch(() => undefined);
      return sealed;
    } catch (err) {
      conn.sealError = FsError.from(err, 'seal', opts.url);
      return conn;
    }
  }

  /** Open the WebSocket of a connection (the READ answers' bytes go where their calls say). */
  static async #open(opts: {
    url: URL;
    original: string;
    timeoutMs: number | undefined;
    more?: Pick<WireSocketOptions, 'headers' | 'seal'>;
    /** The URL the connection is known by in errors (default `url`). */
    shownAs?: URL;
  }): Promise<Connection> {
    // The socket asks where a READ answer's bytes go before the Connection exists to say.
    const owner: { conn?: Connection } = {};
    let ws: WireSocket;
    try {
      ws = await WireSocket.connect({
        url: opts.url,
        protocol: opts.more?.seal ? SEALED_SUBPROTOCOL : 'tessera',
        maxMessage: MAX_FRAME_BYTES,
        timeoutMs: opts.timeoutMs ?? 10_000,
        payloadTarget: (header, length) =>
          owner.conn ? owner.conn.#payloadTarget(header, length) : undefined,
        ...opts.more,
      });
    } catch (err) {
      throw connectError(err, opts.original);
    }
    const conn = new Connection(ws, (opts.shownAs ?? opts.url).toString());
    owner.conn = conn;
    ws.start();
    return conn;
  }

  /**
   * Ask for a ticket, key a plain connection to the same address from this TLS session
   * (exporter, the ticket as context), and start the session there (RESUME).
   */
  async #moveToSealed(args: { opts: ConnectOptions; url: URL }): Promise<Connection> {
    const { ticket } = (await this.call('SEAL', {})).result;
    const material = this.#ws.exportKeyingMaterial({
      length: SEAL_KEYING_BYTES,
      label: SEAL_EXPORTER_LABEL,
      context: Buffer.from(ticket, 'hex'),
    });
    const seal = sealKeys({ material, side: 'client' });
    // The same host and port, plain (a wss URL without a port means 443, not ws's 80).
    const plainUrl = new URL(args.url);
    const port = plainUrl.port || '443';
    plainUrl.protocol = 'ws:';
    plainUrl.port = port;
    const sealed = await Connection.#open({
      url: plainUrl,
      original: args.opts.url,
      timeoutMs: args.opts.timeoutMs,
      more: { headers: { [SEAL_TICKET_HEADER]: ticket }, seal },
      shownAs: args.url,
    });
    try {
      const { result } = await sealed.call('RESUME', {
        versions: args.opts.versions ?? OUR_VERSIONS,
        client: args.opts.client ?? 'tessera',
      });
      if (result.node_id !== this.session.nodeId)
        throw FsError.EPROTO('connect', args.opts.url, 'the sealed connection reached another node');
      sealed.session = {
        id: result.session_id,
        version: result.version,
        nodeId: result.node_id,
        nodeName: result.node_name,
        principal: result.principal,
        caps: result.caps,
      };
    } catch (err) {
      sealed.#ws.terminate();
      throw err;
    }
    sealed.fingerprint = this.fingerprint;
    sealed.sealed = true;
    return sealed;
  }

  async #authenticate(opts: ConnectOptions): Promise<void> {
    const clientNonce = nonce();
    const askSeal = opts.sealed !== false && aeadAvailable && new URL(this.url).protocol === 'wss:';
    const hello = await this.call('HELLO', {
      versions: opts.versions ?? OUR_VERSIONS,
      caps: askSeal ? { sealed: true } : {},
      client: opts.client ?? 'tessera',
      auth: { method: 'scram-argon2id', key_id: opts.credential.id, client_nonce: clientNonce },
    });
    const { salt, argon2, server_nonce: serverNonce, version } = hello.result;
    this.#sealOffered = askSeal && hello.result.sealed === true;
    const cacheKey = `${opts.credential.id}|${salt}|${argon2.m}|${argon2.t}|${argon2.p}|${opts.credential.secret}`;
    let salted = saltedCache.get(cacheKey);
    if (!salted) {
      salted = await saltedKey({ secret: opts.credential.secret, salt, argon2 });
      saltedCache.set(cacheKey, salted);
    }
    const msg = authMessage({ keyId: opts.credential.id, clientNonce, serverNonce, version });
    const { proof, serverSignature } = clientProof({ salted, authMessage: msg });
    const auth = await this.call('AUTH', { proof }).catch((err: unknown) => {
      if (FsError.is(err, 'EKEYREJECTED')) {
        throw new FsError({
          code: 'EKEYREJECTED',
          op: 'connect',
          path: this.url,
          detail: `credential ${opts.credential.id} rejected by the node (unknown key id, wrong secret or disabled)`,
        });
      }
      throw err;
    });
    if (!safeEqual(auth.result.server_signature, serverSignature)) {
      throw FsError.EACCES(
        'connect',
        this.url,
        'the server could not prove it holds this credential; refusing it',
      );
    }
    this.session = {
      id: auth.result.session_id,
      version,
      nodeId: hello.result.node_id,
      nodeName: hello.result.node_name,
      principal: auth.result.principal,
      caps: auth.result.caps,
    };
  }

  /** Whether the connection has ended. */
  get closed(): boolean {
    return this.#closed !== undefined;
  }

  /** Bytes queued in the socket, for callers that pace big transfers. */
  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  /**
   * Send a request and wait for its answer. `signal` cancels a waiting request; `into`
   * (at least as long as the bytes that come back) receives an answer's bytes in place.
   */
  call<K extends OpName>(
    op: K,
    args: unknown,
    opts: { payload?: Uint8Array; signal?: AbortSignal; into?: Uint8Array | undefined } = {},
  ): Promise<CallResult<K>> {
    if (this.#closed) return Promise.reject(this.#closed);
    const id = this.#allocId();
    return new Promise<CallResult<K>>((resolve, reject) => {
      this.#pending.set(id, { op, into: opts.into, resolve: resolve as Pending['resolve'], reject });
      // A binary frame's parts go out as one message: masking copies them into one buffer anyway.
      this.#ws.send(encodeRequest({ id, op, args, payload: opts.payload }));
      opts.signal?.addEventListener(
        'abort',
        () => {
          if (this.#pending.has(id) && !this.#closed) this.#ws.send(encodeCancel(id));
        },
        { once: true },
      );
    });
  }

  #allocId(): number {
    for (;;) {
      const id = this.#nextId;
      this.#nextId = this.#nextId >= 0xffff_fffe ? 1 : this.#nextId + 1;
      if (!this.#pending.has(id)) return id;
    }
  }

  /** Listen to server pushes (e.g. `INVALIDATE`); returns the unsubscribe function. */
  onPush(listener: (ev: string, body: Record<string, unknown>) => void): () => void {
    this.#pushListeners.add(listener);
    return () => this.#pushListeners.delete(listener);
  }

  /** Be told when the connection ends (with the error in-flight calls got). */
  onClose(listener: (err: FsError) => void): () => void {
    if (this.#closed) {
      listener(this.#closed);
      return () => undefined;
    }
    this.#closeListeners.add(listener);
    return () => this.#closeListeners.delete(listener);
  }

  /** The buffer an answer's bytes go into, if its request brought one that is big enough. */
  #payloadTarget(header: Buffer, length: number): Uint8Array | undefined {
    let id: unknown;
    try {
      id = (JSON.parse(header.toString('utf8')) as { id?: unknown } | null)?.id;
    } catch {
      return undefined; // Decoding the whole message reports it.
    }
    const into = typeof id === 'number' ? this.#pending.get(id)?.into : undefined;
    return into !== undefined && into.byteLength >= length ? into : undefined;
  }

  #onMessage(data: Buffer | Buffer[], isBinary: boolean): void {
    let msg;
    try {
      msg = decodeServerMessage(data, isBinary);
    } catch (err) {
      // A server that sends garbage cannot be trusted with the rest of the session.
      this.#fail(FsError.from(err, 'receive', this.url));
      this.#ws.terminate();
      return;
    }
    switch (msg.t) {
      case 'res': {
        const p = this.#pending.get(msg.id);
        if (!p) return;
        this.#pending.delete(msg.id);
        if (!msg.ok) return p.reject(msg.err);
        try {
          p.resolve({ result: decodeResult(p.op, msg.r), payload: msg.payload });
        } catch (err) {
          p.reject(FsError.from(err, p.op, this.url));
        }
        return;
      }
      case 'push':
        for (const l of this.#pushListeners) l(msg.ev, msg.body);
        return;
      case 'bye':
        this.#byeReason = msg.reason;
        return;
      case 'error':
        return;
    }
  }

  #dropError(): FsError {
    if (this.#byeReason !== undefined) {
      return new FsError({
        code: 'ESHUTDOWN',
        op: 'call',
        path: this.url,
        detail: `node ended the session: ${this.#byeReason}`,
        retryable: true,
      });
    }
    return new FsError({
      code: 'ECONNRESET',
      op: 'call',
      path: this.url,
      detail: 'connection to the node was lost',
      retryable: true,
    });
  }

  #fail(err: FsError): void {
    if (this.#closed) return;
    this.#closed = err;
    clearInterval(this.#heartbeat);
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
    for (const l of this.#closeListeners) l(err);
    this.#closeListeners.clear();
  }

  /** End the session gracefully: say bye, let answers in flight arrive, close. Idempotent. */
  async close(opts: { timeoutMs?: number } = {}): Promise<void> {
    if (this.#closed) return;
    const deadline = Date.now() + (opts.timeoutMs ?? 5000);
    while (this.#pending.size > 0 && Date.now() < deadline && !this.#closed)
      await new Promise((r) => setTimeout(r, 10));
    if (this.#closed) return;
    const done = new Promise<void>((resolve) => this.#ws.once('close', () => resolve()));
    this.#ws.send(encodeBye('client closed the session'));
    this.#ws.close(1000, 'bye');
    const timer = setTimeout(() => this.#ws.terminate(), Math.max(100, deadline - Date.now()));
    await done;
    clearTimeout(timer);
    this.#fail(new FsError({ code: 'ESHUTDOWN', op: 'call', path: this.url, detail: 'session closed' }));
  }

  /** Drop the connection without a goodbye (tests, and giving up on a dead peer). */
  terminate(): void {
    this.#ws.terminate();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** The `host:port` key a node URL is pinned under in `known_nodes.json`. */
export function hostPortOf(url: string | URL): string {
  const u = typeof url === 'string' ? new URL(url) : url;
  return `${u.hostname}:${u.port || (u.protocol === 'wss:' ? 443 : 80)}`;
}

async function checkTrust(opts: {
  trust: Trust | undefined;
  url: string;
  hostPort: string;
  fingerprint: string;
}): Promise<void> {
  const { trust } = opts;
  if (!trust)
    throw FsError.EINVAL(
      'connect',
      opts.url,
      'a wss:// connection needs a trust setting (known nodes file or fingerprint)',
    );
  if ('fingerprint' in trust) {
    if (trust.fingerprint.toUpperCase() !== opts.fingerprint) {
      throw FsError.EACCES(
        'connect',
        opts.url,
        `server certificate ${opts.fingerprint} is not the expected ${trust.fingerprint}`,
      );
    }
    return;
  }
  await trust.knownNodes.check({ hostPort: opts.hostPort, url: opts.url, fingerprint: opts.fingerprint });
}

function connectError(err: unknown, url: string): FsError {
  if (err instanceof FsError) return err;
  const code = (err as { code?: string }).code;
  if (code === 'ECONNREFUSED')
    return new FsError({
      code: 'ECONNREFUSED',
      op: 'connect',
      path: url,
      detail: 'nothing is listening there (is the node running?)',
    });
  const message = err instanceof Error ? err.message : String(err);
  if (/HTTP 404/.test(message))
    return FsError.EPROTO('connect', url, 'no Tessera node answers at this URL (HTTP 404)');
  const e = FsError.from(err, 'connect', url);
  return e.code === 'EIO'
    ? new FsError({ code: 'ECONNREFUSED', op: 'connect', path: url, detail: message, retryable: true })
    : e;
}
