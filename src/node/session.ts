import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { FsError } from '../core/fs-error.ts';
import type { Logger } from '../core/log.ts';
import {
  BadRequest,
  type ClientMessage,
  decodeClientMessage,
  encodeBye,
  encodeFailure,
  encodeProtocolError,
  encodePush,
  encodeResult,
  encodeResultInPlace,
  type Request,
} from '../protocol/messages.ts';
import type { OpName } from '../protocol/ops.ts';
import { type Argon2Params, authMessage, nonce, proofValid, serverSignature } from '../protocol/scram.ts';
import { negotiateVersion } from '../protocol/version.ts';
import type { Handle, Source } from '../sources/source.ts';
import type { AuditLog, SessionEnd } from './audit.ts';
import type { AuthThrottle } from './auth-throttle.ts';
import { Authorizer, type Grant } from '../namespace/authorization.ts';
import type { CredentialRecord } from './credentials.ts';
import { grantOfRecord } from './http-auth.ts';
import { dispatch, unlockOwners } from './dispatch.ts';
import type { KeyedMutex } from './file-ops.ts';
import type { NodeMetrics } from './metrics.ts';
import { READ_HEADROOM, type ReadBufferPool, type ReadLease } from './read-buffers.ts';
import type { SealTicket, SealTickets } from './seal-tickets.ts';
import { SEAL_EXPORTER_LABEL, SEAL_KEYING_BYTES } from '../protocol/sealed-messages.ts';
import { SessionHandles } from './session-handles.ts';
import { Subscriptions } from './subscriptions.ts';
import { OPEN as WS_OPEN, type ServerWireSocket } from './wire-server-socket.ts';

/** Limits of one session. */
export interface SessionLimits {
  /** Requests run at once; beyond this the socket is not read (default 256). */
  maxInFlight: number;
  /** Bytes buffered in the socket above which answers wait for it to drain (default 8 MiB). */
  highWaterBytes: number;
  /** Protocol errors tolerated before the session is dropped (default 16). */
  maxProtocolErrors: number;
  /** How long a closing session waits for its requests in flight (default 5 s). */
  graceMs: number;
  /** Time allowed from connecting to a successful AUTH (default 30 s). */
  handshakeTimeoutMs: number;
  /** Files a session may hold open (default 4096). */
  maxHandles: number;
  /**
   * The peer is pinged this often; one that sent nothing (not even the pong) since the last
   * ping is cut off, so a vanished peer's handles do not stay open forever (default 30 s).
   */
  heartbeatMs: number;
}

/** Default session limits (the values docs/protocol.md gives). */
export const DEFAULT_SESSION_LIMITS: SessionLimits = {
  maxInFlight: 256,
  highWaterBytes: 8 * 1024 * 1024,
  maxProtocolErrors: 16,
  graceMs: 5000,
  handshakeTimeoutMs: 30_000,
  maxHandles: 4096,
  heartbeatMs: 30_000,
};

/** What a session needs from its node. */
export interface SessionEnv {
  /** The served Source (the node's namespace). */
  source: Source;
  /** Export name mounted at a namespace slot. */
  exportOfSlot: (slot: number) => string | undefined;
  nodeId: string;
  nodeName: string;
  credentials: {
    find(keyId: string): Promise<CredentialRecord | undefined>;
    probe(keyId: string): Promise<{ salt: string; argon2: Argon2Params }>;
  };
  audit: AuditLog;
  throttle: AuthThrottle;
  takes: KeyedMutex;
  metrics: NodeMetrics;
  logger: Logger;
  limits: SessionLimits;
  /** Pooled buffers READ answers are read into (optional: without it every READ allocates). */
  readBuffers?: ReadBufferPool | undefined;
  /** Where sealed-connection tickets are kept; undefined: the node offers none. */
  sealTickets?: SealTickets | undefined;
}

/** The handshake: the op each state accepts (anything else ends the session), and what follows. */
const HANDSHAKE = {
  HELLO: { next: 'AUTH', why: 'send HELLO first' },
  AUTH: { next: 'OPS', why: 'authenticate (AUTH) before any other op' },
  RESUME: { next: 'OPS', why: 'send RESUME first on a sealed connection' },
} as const;

/** Ops that wait for something outside the session; a closing session cancels them at once. */
const WAITING_OPS: ReadonlySet<OpName> = new Set<OpName>(['WAIT', 'TAKE', 'LOCK']);

interface InFlight {
  op: OpName;
  /**
   * Made when the op asks for its signal or the request is aborted, whichever comes first:
   * most ops never look at it, and an AbortSignal is costly to make for every request.
   */
  ctl: AbortController | undefined;
  answered: boolean;
}

/** The request's abort signal (its controller made on first use). */
function signalOf(entry: InFlight): AbortSignal {
  return (entry.ctl ??= new AbortController()).signal;
}

/** Abort a request in flight (whether or not its op asked for its signal yet). */
function abortEntry(entry: InFlight, reason: FsError): void {
  (entry.ctl ??= new AbortController()).abort(reason);
}

interface PendingAuth {
  keyId: string;
  clientNonce: string;
  serverNonce: string;
  version: number;
  client: string | undefined;
  known: boolean;
}

/** A request waiting for room, with the hand-back of the lent buffer its payload is in. */
interface Queued {
  req: Request;
  release: (() => void) | undefined;
}

function shutdownError(detail: string): FsError {
  return new FsError({ code: 'ESHUTDOWN', op: 'session', detail, retryable: true });
}

/**
 * One client connection: HELLO and AUTH (SCRAM over the credential's argon2id verifier),
 * then authorized requests against the served Source, many at once. Every frame is
 * validated; a bad one gets an `EPROTO` answer, and only this session is affected. However
 * the session ends, its handles are closed with their unfinished writes discarded, its
 * subscriptions and waits end, and one audit line records it.
 */
export class Session {
  readonly id = `s_${randomBytes(12).toString('base64url')}`;
  readonly address: string;
  /** Resolves once the session is over and cleaned up. */
  readonly done: Promise<void>;

  readonly #ws: ServerWireSocket;
  readonly #env: SessionEnv;
  readonly #log: Logger;
  readonly #limits: SessionLimits;
  readonly #handles: SessionHandles;
  readonly #subs: Subscriptions;
  readonly #lockOwners = new Map<Handle, Set<string>>();
  readonly #inflight = new Map<number, InFlight>();
  readonly #life = new AbortController();
  #backlog: Queued[] = [];
  #drainWaiters: (() => void)[] = [];
  #idleWaiters: (() => void)[] = [];
  #expect: 'HELLO' | 'AUTH' | 'RESUME' | 'OPS' = 'HELLO';
  /** The ticket a sealed connection presented (its session starts with RESUME). */
  readonly #resumeTicket: SealTicket | undefined;
  #handshake: Promise<void> = Promise.resolve();
  #pending: PendingAuth | undefined;
  #authz: Authorizer | undefined;
  #closingDown = false;
  #how: SessionEnd | undefined;
  #reason: string | undefined;
  #finishing: Promise<void> | undefined;
  #resolveDone!: () => void;
  #handshakeTimer: NodeJS.Timeout | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #heardFrom = true;
  #protocolErrors = 0;
  #bytesIn = 0;
  #bytesOut = 0;
  #requests = 0;
  readonly #opened = new Date();
  #started: Date | undefined;

  /** `resume`: the ticket a sealed connection presented; the session then starts with RESUME. */
  constructor(opts: { ws: ServerWireSocket; address: string; env: SessionEnv; resume?: SealTicket }) {
    this.#ws = opts.ws;
    this.#resumeTicket = opts.resume;
    if (opts.resume) this.#expect = 'RESUME';
    this.#env = opts.env;
    this.address = opts.address;
    this.#limits = opts.env.limits;
    this.#log = opts.env.logger.child({
      component: 'session',
      fields: { session: this.id, address: this.address },
    });
    this.done = new Promise((resolve) => {
      this.#resolveDone = resolve;
    });
    this.#handles = new SessionHandles({ source: opts.env.source, max: this.#limits.maxHandles });
    this.#subs = new Subscriptions({
      source: opts.env.source,
      visible: (ev) => this.#authz?.showsEvent(ev) ?? false,
      push: (body) => this.#send(encodePush(body)),
    });
    opts.env.metrics.connections++;
    opts.env.metrics.connectionsOpen++;
    this.#handshakeTimer = setTimeout(() => {
      this.#fatal(FsError.ETIMEDOUT('AUTH', undefined, 'no successful authentication in time'), undefined);
    }, this.#limits.handshakeTimeoutMs);
    this.#handshakeTimer.unref();
    this.#heartbeat = setInterval(() => this.#beat(), this.#limits.heartbeatMs);
    this.#heartbeat.unref();
    this.#ws.on('pong', () => {
      this.#heardFrom = true;
    });
    // A big binary message (a WRITE) arrives as [prefix and header, bytes], the bytes in a
    // pooled buffer that goes back (`release`) once its request is done.
    this.#ws.on('message', (data: Buffer | Buffer[], isBinary: boolean, release?: () => void) =>
      this.#onMessage(data, isBinary, release),
    );
    this.#ws.on('close', () => {
      this.#setHow('abrupt', 'connection closed without bye');
      void this.#finish();
    });
    this.#ws.on('error', (err: Error) => this.#log.debug('socket error', { error: err }));
  }

  /** The principal once authenticated. */
  get principal(): string | undefined {
    return this.#authz?.grant.principal;
  }

  /** The access key id once authenticated. */
  get credentialId(): string | undefined {
    return this.#authz?.grant.credentialId;
  }

  /** End the session because its credential was disabled or removed. */
  revoke(reason: string): Promise<void> {
    return this.#closeGracefully({ how: 'revoked', reason, sendBye: true });
  }

  /** End the session because the node shuts down: bye, let requests finish, close. */
  shutdown(reason: string): Promise<void> {
    return this.#closeGracefully({ how: 'server-shutdown', reason, sendBye: true });
  }

  #beat(): void {
    // While reading is paused for backpressure a pong may sit unread: that is not silence.
    if (this.#ws.isPaused || this.#ws.readyState !== WS_OPEN) return;
    if (!this.#heardFrom) {
      this.#setHow('abrupt', 'the peer stopped answering pings');
      this.#ws.terminate();
      return;
    }
    this.#heardFrom = false;
    this.#ws.ping();
  }

  #setHow(how: SessionEnd, reason: string | undefined): void {
    if (this.#how !== undefined) return;
    this.#how = how;
    this.#reason = reason;
  }

  // Inbound -------------------------------------------------------------------------------

  #onMessage(buf: Buffer | Buffer[], isBinary: boolean, release: (() => void) | undefined): void {
    const length = Array.isArray(buf) ? buf.reduce((n, b) => n + b.length, 0) : buf.length;
    this.#heardFrom = true;
    this.#bytesIn += length;
    this.#env.metrics.bytesIn += length;
    if (this.#finishing) return release?.();
    let msg: ClientMessage;
    try {
      msg = decodeClientMessage(buf, isBinary);
    } catch (err) {
      release?.();
      if (err instanceof BadRequest) this.#protocolError(err.error, err.id);
      else this.#protocolError(FsError.from(err, 'frame'), undefined);
      return;
    }
    if (msg.t !== 'req') release?.();
    switch (msg.t) {
      case 'bye':
        if (this.#authz === undefined) {
          this.#setHow('graceful', `client said bye before authenticating: ${msg.reason}`);
          this.#ws.close(1000, 'bye');
          void this.#finish();
        } else {
          void this.#closeGracefully({ how: 'graceful', reason: msg.reason, sendBye: false });
        }
        return;
      case 'cancel':
        this.#onCancel(msg.id);
        return;
      case 'req':
        this.#onRequest(msg.req, release);
        return;
    }
  }

  #onCancel(id: number): void {
    if (this.#expect !== 'OPS') {
      this.#protocolError(FsError.EPROTO('cancel', undefined, 'cancel before authentication'), undefined);
      return;
    }
    const queued = this.#backlog.findIndex((q) => q.req.id === id);
    if (queued >= 0) {
      const [{ req, release }] = this.#backlog.splice(queued, 1) as [Queued];
      release?.();
      void this.#send(encodeFailure({ id, error: FsError.ECANCELED(req.op, undefined, 'cancelled') }));
      this.#updatePause();
      return;
    }
    // Unknown ids are requests already answered: the cancel crossed the answer.
    const entry = this.#inflight.get(id);
    if (entry) abortEntry(entry, FsError.ECANCELED(entry.op, undefined, 'cancelled'));
  }

  #onRequest(req: Request, release: (() => void) | undefined): void {
    if (this.#expect !== 'OPS' || this.#closingDown) release?.();
    if (this.#closingDown) {
      void this.#send(encodeFailure({ id: req.id, error: shutdownError('the session is closing') }));
      return;
    }
    if (this.#expect !== 'OPS') {
      const step = HANDSHAKE[this.#expect];
      if (req.op !== this.#expect) return this.#fatal(FsError.EPROTO(req.op, undefined, step.why), req.id);
      this.#expect = step.next;
      this.#handshake = this.#handshake.then(() => this.#handshakeStep(req));
      return;
    }
    if (this.#inflight.has(req.id) || this.#backlog.some((q) => q.req.id === req.id)) {
      release?.();
      this.#protocolError(
        FsError.EPROTO(req.op, undefined, `request id ${req.id} is already in flight`),
        undefined,
      );
      return;
    }
    // Requests sent after AUTH but before its answer wait for it.
    if (this.#authz === undefined || this.#inflight.size >= this.#limits.maxInFlight)
      this.#backlog.push({ req, release });
    else this.#start(req, release);
    this.#updatePause();
  }

  #protocolError(error: FsError, id: number | undefined): void {
    this.#env.metrics.protocolErrors++;
    this.#protocolErrors++;
    if (this.#authz === undefined) return this.#fatal(error, id);
    const answerable =
      id !== undefined && !this.#inflight.has(id) && !this.#backlog.some((q) => q.req.id === id);
    void this.#send(answerable ? encodeFailure({ id, error }) : encodeProtocolError(error));
    if (this.#protocolErrors > this.#limits.maxProtocolErrors) {
      this.#fatal(
        FsError.EPROTO('session', undefined, `more than ${this.#limits.maxProtocolErrors} protocol errors`),
        undefined,
      );
    }
  }

  /** Answer with `error` and drop the session as a protocol error. */
  #fatal(error: FsError, id: number | undefined): void {
    if (this.#finishing) return;
    this.#setHow('protocol-error', error.message);
    void this.#send(id === undefined ? encodeProtocolError(error) : encodeFailure({ id, error }));
    this.#closeSocket(1002, error.code);
    void this.#finish();
  }

  #updatePause(): void {
    const busy = this.#inflight.size + this.#backlog.length >= this.#limits.maxInFlight;
    if (busy && !this.#ws.isPaused) this.#ws.pause();
    else if (!busy && this.#ws.isPaused) this.#ws.resume();
  }

  // Handshake -----------------------------------------------------------------------------

  /** Who answers: the node and the version agreed (HELLO's and RESUME's results). */
  #nodeInfo(version: number): { version: number; node_id: string; node_name: string } {
    return { version, node_id: this.#env.nodeId, node_name: this.#env.nodeName };
  }

  /** Run one handshake op (the state machine let it through). */
  #handshakeStep(req: Request): Promise<void> {
    switch (req.op) {
      case 'HELLO':
        return this.#hello(req);
      case 'AUTH':
        return this.#auth(req);
      case 'RESUME':
        return this.#resume(req);
      default:
        return Promise.resolve();
    }
  }

  async #hello(req: Extract<Request, { op: 'HELLO' }>): Promise<void> {
    if (this.#finishing) return;
    const { versions, auth, client } = req.args;
    let version: number;
    try {
      version = negotiateVersion({ client: versions });
    } catch (err) {
      return this.#fatal(FsError.from(err, 'HELLO'), req.id);
    }
    try {
      const record = await this.#env.credentials.find(auth.key_id);
      const { salt, argon2 } = record ? record.verifier : await this.#env.credentials.probe(auth.key_id);
      this.#pending = {
        keyId: auth.key_id,
        clientNonce: auth.client_nonce,
        serverNonce: nonce(),
        version,
        client,
        known: record !== undefined,
      };
      await this.#send(
        encodeResult({
          id: req.id,
          result: {
            ...this.#nodeInfo(version),
            salt,
            argon2,
            server_nonce: this.#pending.serverNonce,
            ...(req.args.caps?.sealed === true ? { sealed: this.#canSeal } : {}),
          },
        }),
      );
    } catch (err) {
      this.#log.error('HELLO failed', { error: err });
      this.#setHow('protocol-error', 'HELLO failed on the node');
      void this.#send(encodeFailure({ id: req.id, error: FsError.from(err, 'HELLO') }));
      this.#closeSocket(1011, 'internal error');
      void this.#finish();
    }
  }

  async #auth(req: Extract<Request, { op: 'AUTH' }>): Promise<void> {
    const pending = this.#pending;
    if (this.#finishing || pending === undefined) return;
    const { throttle, audit, metrics } = this.#env;
    const delay = throttle.delayFor(this.address);
    if (delay > 0) {
      this.#log.info('authentication throttled', { delayMs: delay });
      try {
        await sleep(delay, undefined, { signal: this.#life.signal });
      } catch {
        return; // The session ended while it waited.
      }
    }
    // Read again: a credential disabled or removed since HELLO no longer logs in.
    const record = pending.known ? await this.#env.credentials.find(pending.keyId) : undefined;
    const message = authMessage({
      keyId: pending.keyId,
      clientNonce: pending.clientNonce,
      serverNonce: pending.serverNonce,
      version: pending.version,
    });
    const valid =
      record !== undefined &&
      proofValid({ verifier: record.verifier, authMessage: message, proof: req.args.proof });
    const reason =
      record === undefined
        ? 'unknown access key id'
        : !valid
          ? record.disabled
            ? 'wrong secret (credential disabled)'
            : 'wrong secret'
          : record.disabled
            ? 'credential disabled'
            : undefined;
    if (reason !== undefined || record === undefined) {
      throttle.recordFailure(this.address);
      metrics.authFailures++;
      audit.record({
        event: 'auth-failure',
        session: this.id,
        address: this.address,
        keyId: pending.keyId,
        reason: reason ?? 'unknown access key id',
      });
      this.#log.warn('authentication failed', { keyId: pending.keyId, reason });
      this.#setHow('auth-failed', reason);
      // The same answer whatever the reason: a caller learns nothing about the key id.
      await this.#send(
        encodeFailure({
          id: req.id,
          error: FsError.EKEYREJECTED(
            'AUTH',
            pending.keyId,
            'credential rejected (unknown key id, wrong secret or disabled)',
          ),
        }),
      );
      this.#closeSocket(1008, 'EKEYREJECTED');
      void this.#finish();
      return;
    }
    await this.#begin({
      id: req.id,
      grant: grantOfRecord(record),
      version: pending.version,
      client: pending.client,
      result: { server_signature: serverSignature({ verifier: record.verifier, authMessage: message }) },
    });
  }

  /**
   * The session starts with `grant` (after AUTH, or RESUME on a sealed connection): recorded
   * in the audit log and the log, answered with `result` and the session's id, principal and
   * capabilities; requests that waited for it run.
   */
  async #begin(opts: {
    id: number;
    grant: Grant;
    version: number;
    client: string | undefined;
    sealedFrom?: string;
    result: Record<string, unknown>;
  }): Promise<void> {
    const { grant, client, sealedFrom } = opts;
    clearTimeout(this.#handshakeTimer);
    this.#authz = new Authorizer({ grant, exportOfSlot: this.#env.exportOfSlot });
    this.#started = new Date();
    this.#env.metrics.sessionsStarted++;
    this.#env.audit.record({
      event: 'session-start',
      session: this.id,
      principal: grant.principal,
      credential: grant.credentialId,
      address: this.address,
      version: opts.version,
      client,
      sealedFrom,
    });
    this.#log.info('session started', {
      principal: grant.principal,
      credential: grant.credentialId,
      client,
      ...(sealedFrom !== undefined ? { sealedFrom } : {}),
    });
    await this.#send(
      encodeResult({
        id: opts.id,
        result: {
          ...opts.result,
          session_id: this.id,
          principal: grant.principal,
          caps: this.#authz.capsJSON(),
        },
      }),
    );
    this.#pump();
  }

  /** Whether this session can hand out sealed-connection tickets (TLS, and the node seals). */
  get #canSeal(): boolean {
    return this.#env.sealTickets !== undefined && this.#ws.encrypted;
  }

  #sealTicket(): string {
    return this.#env.sealTickets!.issue({
      grant: this.#authz!.grant,
      material: (context) =>
        this.#ws.exportKeyingMaterial({ length: SEAL_KEYING_BYTES, label: SEAL_EXPORTER_LABEL, context })!,
      issuedBy: this.id,
    });
  }

  /** A sealed connection's first op: the session its ticket grants starts. */
  async #resume(req: Extract<Request, { op: 'RESUME' }>): Promise<void> {
    const ticket = this.#resumeTicket!;
    let version: number;
    try {
      version = negotiateVersion({ client: req.args.versions });
    } catch (err) {
      return this.#fatal(FsError.from(err, 'RESUME'), req.id);
    }
    await this.#begin({
      id: req.id,
      grant: ticket.grant,
      version,
      client: req.args.client,
      sealedFrom: ticket.issuedBy,
      result: this.#nodeInfo(version),
    });
  }

  // Requests ------------------------------------------------------------------------------

  #pump(): void {
    while (
      this.#authz !== undefined &&
      !this.#closingDown &&
      this.#backlog.length > 0 &&
      this.#inflight.size < this.#limits.maxInFlight
    ) {
      const { req, release } = this.#backlog.shift()!;
      this.#start(req, release);
    }
    this.#updatePause();
  }

  #start(req: Request, release: (() => void) | undefined): void {
    const entry: InFlight = { op: req.op, ctl: undefined, answered: false };
    this.#inflight.set(req.id, entry);
    this.#requests++;
    this.#env.metrics.requests++;
    void this.#run(req, entry).finally(release);
  }

  /** Run a request and answer it; resolves once the op is done with the request's payload. */
  async #run(req: Request, entry: InFlight): Promise<void> {
    let frame: string | Buffer[] | Buffer;
    let lease: ReadLease | undefined;
    const started = performance.now();
    let failed: string | undefined;
    try {
      const out = await dispatch(
        {
          source: this.#env.source,
          authz: this.#authz!,
          handles: this.#handles,
          subs: this.#subs,
          takes: this.#env.takes,
          get signal() {
            return signalOf(entry);
          },
          lockPrefix: `${this.id}:`,
          lockOwners: this.#lockOwners,
          readLease: this.#env.readBuffers ? (length) => this.#env.readBuffers!.lease(length) : undefined,
          sealTicket: this.#canSeal ? () => this.#sealTicket() : undefined,
        },
        req,
      );
      lease = out.lease;
      const p = out.payload;
      // Bytes read into the pooled buffer: the header goes in front of them, one buffer out.
      const inPlace =
        lease !== undefined &&
        p !== undefined &&
        p.buffer === lease.buf.buffer &&
        p.byteOffset === lease.buf.byteOffset + READ_HEADROOM
          ? encodeResultInPlace({
              id: req.id,
              result: out.result,
              buf: lease.buf,
              payloadStart: READ_HEADROOM,
              payloadLength: p.byteLength,
            })
          : undefined;
      frame = inPlace ?? encodeResult({ id: req.id, result: out.result, payload: p });
    } catch (err) {
      const error = FsError.from(err, req.op.toLowerCase());
      if (error.code === 'EIO') this.#log.warn('request failed', { op: req.op, error });
      failed = error.code;
      frame = encodeFailure({ id: req.id, error });
    }
    this.#env.metrics.observeRpc({
      op: req.op,
      seconds: (performance.now() - started) / 1000,
      error: failed,
    });
    try {
      if (!entry.answered) {
        entry.answered = true;
        await this.#send(frame, lease);
      } else lease?.release();
    } finally {
      this.#inflight.delete(req.id);
      if (this.#inflight.size === 0) {
        const waiters = this.#idleWaiters;
        this.#idleWaiters = [];
        for (const wake of waiters) wake();
      }
      this.#pump();
    }
  }

  /** Resolves true when nothing is in flight, or false after `ms`. */
  #waitIdle(ms: number): Promise<boolean> {
    if (this.#inflight.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      this.#idleWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  // Outbound ------------------------------------------------------------------------------

  /**
   * Send one frame, first waiting while the socket holds more than the high-water mark (so
   * a slow reader holds back only its own session). A READ answer built in a pooled buffer
   * goes out as that buffer (the WebSocket header in the room left in front of it), and
   * `lease.release` gives it back once the socket took it.
   */
  async #send(frame: string | Buffer[] | Buffer, lease?: ReadLease): Promise<void> {
    const ws = this.#ws;
    while (ws.readyState === WS_OPEN && ws.bufferedAmount > this.#limits.highWaterBytes) {
      await new Promise<void>((resolve) => this.#drainWaiters.push(resolve));
    }
    if (ws.readyState !== WS_OPEN) {
      lease?.release();
      return;
    }
    const wake = () => {
      lease?.release();
      this.#wakeDrain();
    };
    if (typeof frame === 'string') {
      this.#countOut(ws.sendText(frame, wake));
      return;
    }
    // Parts (prefix, header, bytes a Source returned) are joined by the socket, into the frame.
    if (!Buffer.isBuffer(frame)) {
      this.#countOut(frame.reduce((n, b) => n + b.length, 0));
      ws.sendBinary(frame, {}, wake);
      return;
    }
    this.#countOut(frame.length);
    const headroom = lease !== undefined ? frame.byteOffset - lease.buf.byteOffset : 0;
    ws.sendBinary(frame, { headroom }, wake);
  }

  #countOut(bytes: number): void {
    this.#bytesOut += bytes;
    this.#env.metrics.bytesOut += bytes;
  }

  #wakeDrain(): void {
    if (this.#ws.readyState === WS_OPEN && this.#ws.bufferedAmount > this.#limits.highWaterBytes) return;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const wake of waiters) wake();
  }

  #closeSocket(code: number, reason: string): void {
    if (this.#ws.readyState !== WS_OPEN) return;
    this.#ws.close(code, reason.slice(0, 120));
    // A peer that never answers the close handshake is cut off.
    setTimeout(() => this.#ws.terminate(), 2000).unref();
  }

  // Ending --------------------------------------------------------------------------------

  /** Stop taking requests, let those in flight finish (within the grace period), then close. */
  #closeGracefully(opts: { how: SessionEnd; reason: string; sendBye: boolean }): Promise<void> {
    if (this.#closingDown || this.#finishing) return this.done;
    this.#closingDown = true;
    this.#setHow(opts.how, opts.reason);
    void (async () => {
      if (opts.sendBye) await this.#send(encodeBye(opts.reason));
      const closing = shutdownError(
        opts.how === 'server-shutdown' ? 'the node is shutting down' : 'the session is closing',
      );
      for (const { req, release } of this.#backlog) {
        release?.();
        void this.#send(encodeFailure({ id: req.id, error: closing }));
      }
      this.#backlog = [];
      for (const f of this.#inflight.values()) if (WAITING_OPS.has(f.op)) abortEntry(f, closing);
      if (!(await this.#waitIdle(this.#limits.graceMs))) {
        // Still running after the grace period: answer them now, clearly, before closing.
        for (const [id, f] of this.#inflight) {
          abortEntry(f, closing);
          if (!f.answered) {
            f.answered = true;
            await this.#send(encodeFailure({ id, error: closing }));
          }
        }
      }
      this.#closeSocket(1000, opts.how === 'server-shutdown' ? 'server shutdown' : 'bye');
      await this.#finish();
    })();
    return this.done;
  }

  /** Release everything the session holds and write its audit line; idempotent. */
  #finish(): Promise<void> {
    this.#finishing ??= (async () => {
      this.#setHow('abrupt', undefined);
      clearTimeout(this.#handshakeTimer);
      clearInterval(this.#heartbeat);
      this.#life.abort();
      this.#subs.close();
      for (const q of this.#backlog) q.release?.();
      this.#backlog = [];
      const gone = new FsError({
        code: 'ECONNRESET',
        op: 'session',
        detail: 'the session ended',
        retryable: true,
      });
      for (const f of this.#inflight.values()) if (WAITING_OPS.has(f.op)) abortEntry(f, gone);
      this.#wakeDrain();
      // Let running requests settle before their handles go, so none is left behind.
      await this.#waitIdle(this.#limits.graceMs);
      for (const f of this.#inflight.values()) abortEntry(f, gone);
      await this.#releaseNamedLocks();
      await this.#handles.abortAll();
      if (this.#ws.readyState === WS_OPEN) this.#closeSocket(1000, 'closed');
      const how = this.#how ?? 'abrupt';
      const { metrics } = this.#env;
      metrics.connectionsOpen--;
      metrics.ended[how]++;
      if (this.#pending !== undefined) {
        this.#env.audit.record({
          event: 'session-end',
          session: this.id,
          principal: this.#authz?.grant.principal ?? null,
          credential: this.#authz?.grant.credentialId ?? null,
          address: this.address,
          start: (this.#started ?? this.#opened).toISOString(),
          end: new Date().toISOString(),
          how,
          reason: this.#reason,
          bytesIn: this.#bytesIn,
          bytesOut: this.#bytesOut,
          requests: this.#requests,
        });
      }
      this.#log.info('session ended', {
        how,
        reason: this.#reason,
        principal: this.#authz?.grant.principal,
        bytesIn: this.#bytesIn,
        bytesOut: this.#bytesOut,
      });
      this.#resolveDone();
    })();
    return this.#finishing;
  }

  /** Locks taken under owner names the client chose are not tied to a handle: release them. */
  async #releaseNamedLocks(): Promise<void> {
    for (const [wire, owners] of this.#lockOwners) {
      let inner: Handle;
      try {
        inner = this.#handles.get(wire, 'lock').inner;
      } catch {
        continue;
      }
      await unlockOwners(this.#env.source, inner, owners);
    }
    this.#lockOwners.clear();
  }
}
