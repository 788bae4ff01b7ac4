import type { ConnectOptions } from '../client/connection.ts';
import { RemoteSource } from '../client/remote-source.ts';
import { FsError } from '../core/fs-error.ts';
import type { Logger } from '../core/log.ts';
import type { ExportInfo, InvalidationListener } from '../sources/source.ts';

/** Reconnect pacing: exponential from `baseMs`, capped at `maxMs`, with jitter. */
export interface Backoff {
  baseMs: number;
  maxMs: number;
}

/** Default reconnect pacing. */
export const DEFAULT_BACKOFF: Backoff = { baseMs: 200, maxMs: 15_000 };

/**
 * The delay before reconnect attempt `attempt` (0 for the first): `min(max, base·2^attempt)`,
 * of which a random half is dropped ("equal jitter"), so endpoints dropped together do not
 * all come back at the same instant and none waits less than half its step.
 */
export function backoffDelay(opts: { attempt: number; backoff: Backoff; random?: () => number }): number {
  const step = Math.min(opts.backoff.maxMs, opts.backoff.baseMs * 2 ** Math.min(opts.attempt, 30));
  return step / 2 + (opts.random ?? Math.random)() * (step / 2);
}

/** Where an endpoint is. */
export type EndpointState = 'connecting' | 'up' | 'down' | 'closed';

/** An endpoint as status reports show it (never its credential). */
export interface EndpointStatus {
  url: string;
  state: EndpointState;
  /** Sessions opened so far (1 after the first connect; each reconnect adds one). */
  sessions: number;
  /** Smoothed round-trip time of its pings, ms. */
  latencyMs: number;
  /** Recent transport errors (decaying: halves every {@link ERROR_HALF_LIFE_MS}). */
  recentErrors: number;
  writable: boolean;
  lastError?: string | undefined;
  /** When the next reconnect attempt is due (ISO time), while down. */
  retryAt?: string | undefined;
}

/** Recent errors count half as much after this long. */
export const ERROR_HALF_LIFE_MS = 30_000;
const PING_EVERY_MS = 5000;

/**
 * One URL of an alias: a session with the node there, replaced by a new one (fresh HELLO,
 * no silent resume) whenever it drops, after an exponential backoff with jitter. It keeps
 * the health the router scores it by: smoothed latency of its pings, and a decaying
 * count of transport errors. Watch listeners are re-attached to every new session.
 */
export class Endpoint {
  readonly url: string;
  readonly #connect: ConnectOptions;
  readonly #exportName: string;
  readonly #backoff: Backoff;
  readonly #log: Logger;
  readonly #changeListeners = new Set<() => void>();
  readonly #watchers = new Set<InvalidationListener>();
  #state: EndpointState = 'down';
  #remote: RemoteSource | undefined;
  #exp: ExportInfo | undefined;
  #sessions = 0;
  #attempt = 0;
  #timer: NodeJS.Timeout | undefined;
  #pinger: NodeJS.Timeout | undefined;
  #latency = 0;
  #errors = 0;
  #errorsAt = Date.now();
  #lastError: FsError | undefined;
  #retryAt: number | undefined;
  #unwatch: (() => void) | undefined;

  constructor(opts: {
    connect: ConnectOptions;
    exportName: string;
    logger: Logger;
    backoff?: Backoff | undefined;
  }) {
    this.url = opts.connect.url;
    this.#connect = opts.connect;
    this.#exportName = opts.exportName;
    this.#backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.#log = opts.logger.child({ fields: { endpoint: this.url } });
  }

  get state(): EndpointState {
    return this.#state;
  }

  /** The current session (while up). */
  get remote(): RemoteSource | undefined {
    return this.#state === 'up' ? this.#remote : undefined;
  }

  /** The served export, as the current (or last) session described it. */
  get exp(): ExportInfo | undefined {
    return this.#exp;
  }

  /** Number of the current session; changes with every reconnect. */
  get session(): number {
    return this.#sessions;
  }

  get latencyMs(): number {
    return this.#latency;
  }

  /** Transport errors, decayed by age. */
  get recentErrors(): number {
    return this.#errors * 0.5 ** ((Date.now() - this.#errorsAt) / ERROR_HALF_LIFE_MS);
  }

  get writable(): boolean {
    return this.#exp !== undefined && !this.#exp.ro && this.#exp.caps.writable;
  }

  /** Be told of every state change. */
  onChange(listener: () => void): () => void {
    this.#changeListeners.add(listener);
    return () => this.#changeListeners.delete(listener);
  }

  /** Receive the invalidations of every session (ids are this endpoint's own). */
  watch(listener: InvalidationListener): () => void {
    this.#watchers.add(listener);
    return () => this.#watchers.delete(listener);
  }

  /** Start connecting (and reconnecting whenever the session drops). */
  start(): void {
    if (this.#state === 'down' && this.#timer === undefined) void this.#tryConnect();
  }

  #recordLatency(ms: number): void {
    this.#latency = this.#latency === 0 ? ms : this.#latency * 0.8 + ms * 0.2;
  }

  /** A call failed for a reason of the endpoint's (transport, or its own upstream). */
  recordError(err: FsError): void {
    this.#errors = this.recentErrors + 1;
    this.#errorsAt = Date.now();
    this.#lastError = err;
  }

  status(): EndpointStatus {
    return {
      url: this.url,
      state: this.#state,
      sessions: this.#sessions,
      latencyMs: Math.round(this.#latency * 100) / 100,
      recentErrors: Math.round(this.recentErrors * 100) / 100,
      writable: this.writable,
      lastError: this.#lastError?.message,
      retryAt: this.#retryAt === undefined ? undefined : new Date(this.#retryAt).toISOString(),
    };
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#setState('closed');
    clearTimeout(this.#timer);
    clearInterval(this.#pinger);
    this.#unwatch?.();
    await this.#remote?.close().catch(() => undefined);
    this.#remote = undefined;
    this.#changeListeners.clear();
    this.#watchers.clear();
  }

  /** A method, so checks after an await are not narrowed away by the compiler. */
  #isClosed(): boolean {
    return this.#state === 'closed';
  }

  #setState(state: EndpointState): void {
    if (this.#state === state) return;
    this.#state = state;
    for (const l of [...this.#changeListeners]) l();
  }

  async #tryConnect(): Promise<void> {
    this.#timer = undefined;
    this.#retryAt = undefined;
    if (this.#state === 'closed') return;
    this.#setState('connecting');
    const remote = new RemoteSource({ connect: { client: 'tessera-mount', ...this.#connect } });
    try {
      await remote.open();
      const exp = (await remote.listExports()).find((e) => e.name === this.#exportName);
      if (!exp) {
        throw FsError.ENOENT(
          'mount',
          this.#exportName,
          `${this.url} has no export named '${this.#exportName}'`,
        );
      }
      if (this.#isClosed()) {
        await remote.close();
        return;
      }
      this.#exp = exp;
      this.#remote = remote;
      this.#sessions++;
      this.#attempt = 0;
      this.#unwatch = remote.watch((ev) => {
        for (const w of this.#watchers) w(ev);
      });
      await remote.subscribed();
      remote.connection.onClose((err) => this.#dropped(remote, err));
      this.#pinger ??= setInterval(() => void this.#ping(), PING_EVERY_MS);
      this.#pinger.unref();
      this.#log.info('endpoint connected', {
        session: remote.connection.session.id,
        sessions: this.#sessions,
      });
      this.#setState('up');
    } catch (err) {
      await remote.close().catch(() => undefined);
      if (this.#isClosed()) return;
      const e = FsError.from(err, 'connect', this.url);
      this.recordError(e);
      this.#scheduleReconnect(e);
    }
  }

  #dropped(remote: RemoteSource, err: FsError): void {
    if (this.#remote !== remote || this.#state === 'closed') return;
    this.#unwatch?.();
    this.#unwatch = undefined;
    this.#remote = undefined;
    this.recordError(err);
    void remote.close().catch(() => undefined);
    this.#log.warn('endpoint session lost', { error: err.message });
    this.#scheduleReconnect(err);
  }

  #scheduleReconnect(err: FsError): void {
    const delay = backoffDelay({ attempt: this.#attempt++, backoff: this.#backoff });
    this.#retryAt = Date.now() + delay;
    this.#log.debug('endpoint reconnect scheduled', { inMs: Math.round(delay), error: err.message });
    this.#timer = setTimeout(() => void this.#tryConnect(), delay);
    this.#timer.unref();
    this.#setState('down');
  }

  async #ping(): Promise<void> {
    const remote = this.remote;
    if (!remote) return;
    try {
      this.#recordLatency(await remote.ping());
    } catch {
      // A dropped session reports itself through onClose.
    }
  }
}
