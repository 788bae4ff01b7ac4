import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import type { AddressInfo, Socket } from 'node:net';
import { resolve } from 'node:path';
import { listenProblem, nodeNameOf, splitListen } from '../core/config.ts';
import { FsError } from '../core/fs-error.ts';
import type { HttpSurface, MountRequest, NodeStatus } from '../core/http-surface.ts';
import { type Home, logFileOf, openHome } from '../core/home.ts';
import { createLogger, type Logger } from '../core/log.ts';
import type { Grant } from '../namespace/authorization.ts';
import { AuthorizedSource } from '../namespace/authorized-source.ts';
import { Namespace } from '../namespace/namespace.ts';
import { Catalog } from '../catalog/catalog.ts';
import { catalogFileOf } from '../catalog/catalog-file.ts';
import { mountVirtualDirectories } from '../catalog/vfs/mount-vfs.ts';
import type { VirtualDirectories } from '../catalog/vfs/virtual-directories.ts';
import { MAX_FRAME_BYTES } from '../protocol/frames.ts';
import { OUR_VERSIONS } from '../protocol/version.ts';
import { MAX_EXPORT_INDEX } from '../core/ids.ts';
import type { Argon2Params } from '../protocol/scram.ts';
import { AuditLog } from './audit.ts';
import { AuthThrottle, type AuthThrottleOptions } from './auth-throttle.ts';
import { CredentialCache, ensureOwnerCredential, probeVerifier, readOwnerCredential } from './credentials.ts';
import { addMountEntry, removeMountEntry } from './mount-admin.ts';
import { ExportRegistry } from './export-registry.ts';
import { KeyedMutex } from './file-ops.ts';
import { DiagnosticsSource, RecentErrors } from './diagnostics-source.ts';
import { grantOfRecord, HttpAuthenticator } from './http-auth.ts';
import { NodeMetrics } from './metrics.ts';
import { MountManager, type MountStatus } from './mount-manager.ts';
import { ReadBufferPool } from './read-buffers.ts';
import { readRuntime, removeRuntime, writeRuntime } from './runtime.ts';
import { DEFAULT_SESSION_LIMITS, Session, type SessionEnv, type SessionLimits } from './session.ts';
import { type PayloadPlace, ServerWireSocket, UpgradeRefused } from './wire-server-socket.ts';
import { aeadAvailable } from '../protocol/aead.ts';
import { servePlainBesideTls } from './plain-beside-tls.ts';
import { type SealTicket, SealTickets } from './seal-tickets.ts';
import { acceptSealed } from './sealed-upgrade.ts';
import { loadServerTls } from './tls-ca.ts';

/** The WebSocket path of the protocol on the node's listening address. */
export const PROTOCOL_PATH = '/tessera';
/** How long shutdown lets connections close by themselves before cutting them off. */
const SOCKET_LINGER_MS = 2500;

/** The WebSocket subprotocol clients must ask for. */
export const SUBPROTOCOL = 'tessera';
/** READs up to this size are read into pooled buffers (clients read 1 MiB at a time). */
const READ_POOL_CHUNK = 1024 * 1024;
/** Pooled READ buffers kept when idle, node-wide (a window of 16 in flight plus the socket's queue). */
const READ_POOL_KEEP = 32;
/**
 * WRITE payloads from this size up to READ_POOL_CHUNK are received into pooled buffers, given
 * back once the write is done (clients write 1 MiB at a time, 16 in flight).
 */
const WRITE_POOL_MIN = 64 * 1024;
const WRITE_POOL_KEEP = 32;

/** What the node gives the HTTP surfaces it serves (see {@link CreateNodeOptions.surfaces}). */
export interface SurfaceHost {
  readonly namespace: Namespace;
  /** The catalog indexing the namespace (search, labels); undefined when `[catalog] enabled = false`. */
  readonly catalog: Catalog | undefined;
  /** Virtual directories (list/get/create/update/remove/preview/readdir); undefined without the catalog or `[catalog] vfs`. */
  readonly vfs: VirtualDirectories | undefined;
  readonly nodeId: string;
  readonly nodeName: string;
  readonly home: string;
  readonly logger: Logger;
  readonly metrics: NodeMetrics;
  readonly audit: AuditLog;
  /**
   * The grant of a credential's key id and secret, or `EKEYREJECTED` (audited, counted and
   * throttled per address like protocol logins). `surface` names the caller in the audit log.
   */
  authenticate(opts: { id: string; secret: string; address: string; surface: string }): Promise<Grant>;
  /** The namespace as `grant` may see and change it. */
  view(grant: Grant): AuthorizedSource;
  /** The current grant of a credential; undefined once it is disabled or removed. */
  grantOf(credentialId: string): Promise<Grant | undefined>;
  /** The node's status now. */
  status(): NodeStatus;
  /** Every metric in the Prometheus text exposition format. */
  metricsText(): string;
  /** Whether a credential is the node's owner credential (the one allowed to change mounts). */
  isOwner(credentialId: string): Promise<boolean>;
  /** Remote mounts and their state. */
  mounts(): MountStatus[];
  /** Record a remote mount in tessera.toml and mount it now; its status afterwards. */
  addMount(opts: MountRequest): Promise<MountStatus | undefined>;
  /** Remove a remote mount from tessera.toml and unmount it now (`ENOENT` if none). */
  removeMount(opts: { path: string }): Promise<void>;
}

/** Where the node's diagnostics tree is mounted in its namespace. */
export const DIAGNOSTICS_PATH = '/.tessera';

/** Options of {@link createNode}. */
export interface CreateNodeOptions {
  /** The node's home (an initialized one: `tessera init`). */
  home: string;
  /** `host:port` to listen on (default: `[server] listen` of tessera.toml); port 0 picks one. */
  listen?: string | undefined;
  /** Serve plain `ws://` instead of TLS. */
  insecure?: boolean | undefined;
  /**
   * Offer sealed connections to TLS sessions (default: `[server] sealed` of tessera.toml, itself
   * true; only where the tessera_seal addon loaded); see docs/protocol.md.
   */
  sealed?: boolean | undefined;
  /** Where the node logs (default: as tessera.toml's `[log]` says). */
  logger?: Logger | undefined;
  /** argon2id cost of an owner credential made now (tests use a cheap one). */
  argon2?: Argon2Params | undefined;
  /** Session limits (defaults: docs/protocol.md). */
  limits?: Partial<SessionLimits> | undefined;
  /** Authentication throttle settings (tests inject a clock). */
  throttle?: AuthThrottleOptions | undefined;
  /**
   * How often the credential store is checked for changes, so sessions of a credential that
   * was disabled or removed end (default 2 s).
   */
  credentialCheckMs?: number | undefined;
  /**
   * HTTP surfaces to serve beside the protocol on the same address (WebDAV, the REST API…),
   * built once the namespace is up. Requests no surface matches answer 404.
   */
  surfaces?: ((host: SurfaceHost) => HttpSurface[] | Promise<HttpSurface[]>) | undefined;
}

/** A running node. */
export interface TesseraNode extends AsyncDisposable {
  /** `wss://host:port/tessera` (or `ws://…` when insecure). */
  readonly url: string;
  readonly address: { host: string; port: number };
  /** SHA-256 of the server certificate (`AA:BB:…`); undefined when insecure. */
  readonly fingerprint: string | undefined;
  /** SHA-256 of the node CA certificate; undefined when insecure. */
  readonly caFingerprint: string | undefined;
  readonly namespace: Namespace;
  /** Remote mounts (`[[mount]]` in tessera.toml), kept in step with the config file. */
  readonly mounts: MountManager;
  /** The catalog indexing the namespace; undefined when `[catalog] enabled = false`. */
  readonly catalog: Catalog | undefined;
  /** Virtual directories, mounted at `[catalog] vfs`; undefined without the catalog or when hidden. */
  readonly vfs: VirtualDirectories | undefined;
  readonly nodeId: string;
  readonly nodeName: string;
  readonly home: string;
  readonly metrics: NodeMetrics;
  readonly audit: AuditLog;
  /** Sessions currently connected. */
  sessions(): { id: string; address: string; principal: string | undefined }[];
  /**
   * Stop: refuse new connections, say `bye` to every session, let requests in flight
   * finish within the grace period, close handles (unfinished writes are discarded), then
   * close the exports. Idempotent.
   */
  close(): Promise<void>;
}

function hostForUrl(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  401: 'Unauthorized',
  404: 'Not Found',
  503: 'Service Unavailable',
};

function refuseUpgrade(socket: Duplex, status: number, message: string): void {
  const body = JSON.stringify({ error: { code: status === 404 ? 'ENOENT' : 'EPROTO', message } });
  const reason = STATUS_TEXT[status] ?? 'Bad Request';
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** The path of a request's URL (without the query). */
function pathOf(req: IncomingMessage): string {
  try {
    return new URL(req.url ?? '/', 'http://node').pathname;
  } catch {
    return '/';
  }
}

/** Mount every export of the home at `/<name>`, in the slot of its export index. */
async function buildNamespace(opts: { registry: ExportRegistry; logger: Logger }): Promise<Namespace> {
  const namespace = new Namespace();
  await namespace.open();
  for (const { entry, source } of opts.registry.exports()) {
    if (!source) continue; // The registry logged why it could not open.
    try {
      await namespace.mount({ path: `/${entry.name}`, source, exportName: entry.name, slot: entry.index });
    } catch (err) {
      opts.logger.error('export could not be mounted', { export: entry.name, error: err });
    }
  }
  return namespace;
}

/**
 * Start a node: load the home (config, identity, exports), compose its namespace (each
 * export at `/<name>` in the slot of its export index, so ids stay stable across restarts),
 * and serve it on one address — the protocol as a WebSocket at `/tessera` (TLS 1.3 with a
 * certificate from the node's CA unless `insecure`), other HTTP paths answer 404 for now.
 * Records the address in the home's `runtime.json` and resolves once listening.
 */
export async function createNode(opts: CreateNodeOptions): Promise<TesseraNode> {
  const root = resolve(opts.home);
  const home: Home = await openHome({ root });
  const listen = opts.listen ?? home.config.server.listen;
  const problem = listenProblem(listen);
  if (problem !== undefined) throw FsError.EINVAL('serve', listen, `listen address: ${problem}`);
  const running = await readRuntime({ home: root });
  if (running !== undefined && running.pid !== process.pid) {
    throw FsError.EBUSY(
      'serve',
      root,
      `a node of this home already runs (pid ${running.pid}, ${running.url})`,
    );
  }
  const ownLogger = opts.logger === undefined;
  const logger =
    opts.logger ?? createLogger({ level: home.config.log.level, file: logFileOf(home.paths, home.config) });
  const log = logger.child({ component: 'node' });
  const recentErrors = new RecentErrors();
  const untap = logger.tap((line) => recentErrors.add(line));
  // What the start opened so far: closed again, last first, when a later step fails.
  const opened: (() => unknown)[] = [...(ownLogger ? [() => logger.close()] : []), untap];
  const abandon = async (err: unknown): Promise<never> => {
    for (const undo of opened.reverse()) await Promise.resolve(undo()).catch(() => undefined);
    throw err;
  };
  const startedAt = new Date();
  const nodeName = nodeNameOf(home.config);
  const { host, port } = splitListen(listen);

  await ensureOwnerCredential({ home: root, argon2: opts.argon2 }).catch(abandon);
  const tls =
    opts.insecure === true
      ? undefined
      : await loadServerTls({ home: root, nodeName, hosts: [host] }).catch(abandon);
  const registry = new ExportRegistry({ home, logger });
  await registry.open().catch(abandon);
  opened.push(() => registry.close());
  const namespace = await buildNamespace({ registry, logger: log }).catch(abandon);
  opened.push(() => namespace.close());

  // The catalog indexes the namespace in the background (its first crawl is not awaited).
  // Documents of a remote mount name the alias and export it mounts (set once mounts exist).
  const mountsRef: { current?: MountManager } = {};
  const catalog = home.config.catalog.enabled
    ? new Catalog({
        file: catalogFileOf(root),
        namespace,
        nodeName,
        logger,
        nodeOfMount: (m) => {
          const remote = mountsRef.current?.status().find((s) => s.path === m.path);
          return remote
            ? { node: remote.alias, export: remote.export }
            : { node: nodeName, export: m.export };
        },
      })
    : undefined;
  if (catalog) {
    await catalog.open().catch(abandon);
    opened.push(() => catalog.close());
  }
  // Virtual directories over the catalog, at [catalog] vfs in the namespace (docs/vfs.md).
  const vfs =
    catalog && home.config.catalog.vfs !== ''
      ? await mountVirtualDirectories({
          namespace,
          store: catalog.store,
          path: home.config.catalog.vfs,
        }).catch((err: unknown) => {
          log.error('virtual directories could not be mounted', {
            path: home.config.catalog.vfs,
            error: err,
          });
          return undefined;
        })
      : undefined;
  opened.push(() => vfs?.close());

  const metrics = new NodeMetrics();
  const audit = new AuditLog({
    home: root,
    onError: (err) => log.error('audit log write failed', { error: err }),
  });
  const credentials = new CredentialCache({ home: root });
  const env: SessionEnv = {
    source: namespace,
    exportOfSlot: (slot) => namespace.table.bySlot(slot)?.exp.name,
    nodeId: home.identity.id,
    nodeName,
    credentials: {
      find: (keyId) => credentials.find(keyId),
      probe: (keyId) => probeVerifier({ home: root, keyId }),
    },
    audit,
    throttle: new AuthThrottle(opts.throttle),
    takes: new KeyedMutex(),
    metrics,
    logger,
    limits: { ...DEFAULT_SESSION_LIMITS, ...opts.limits },
    readBuffers: new ReadBufferPool({ chunk: READ_POOL_CHUNK, keep: READ_POOL_KEEP }),
    // Sealed connections need TLS to key them and the addon to seal at speed.
    sealTickets:
      tls && aeadAvailable && (opts.sealed ?? home.config.server.sealed) ? new SealTickets() : undefined,
  };
  const sessions = new Set<Session>();
  let closing: Promise<void> | undefined;
  let url = '';
  const status = (): NodeStatus => ({
    id: home.identity.id,
    name: nodeName,
    url,
    protocol: { ...OUR_VERSIONS },
    started: startedAt.toISOString(),
    uptime_s: Math.round((Date.now() - startedAt.getTime()) / 1000),
    sessions: sessions.size,
    mounts: namespace
      .mounts()
      .map((m) => ({ path: m.path, export: m.export, source_kind: m.source_kind, ro: m.ro })),
  });
  metrics.addCollector(
    () =>
      `# HELP tessera_namespace_mounts Mounts in the namespace.\n# TYPE tessera_namespace_mounts gauge\n` +
      `tessera_namespace_mounts ${namespace.mounts().length}\n`,
  );
  const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;
  const diagnostics = new DiagnosticsSource({
    name: DIAGNOSTICS_PATH.slice(1),
    files: {
      'status.json': () => json(status()),
      'mounts.json': () => json(namespace.mounts()),
      'sessions.json': () =>
        json([...sessions].map((s) => ({ id: s.id, address: s.address, principal: s.principal ?? null }))),
      'errors.json': () => recentErrors.json(),
      'metrics.prom': () => metrics.prometheusText(),
    },
  });
  await diagnostics.open().catch(abandon);
  opened.push(() => diagnostics.close());
  await namespace
    .mount({
      path: DIAGNOSTICS_PATH,
      source: diagnostics,
      exportName: DIAGNOSTICS_PATH.slice(1),
      slot: MAX_EXPORT_INDEX,
      hidden: true,
    })
    .catch(abandon);

  const httpAuth = new HttpAuthenticator({
    find: (keyId) => credentials.find(keyId),
    exportOfSlot: env.exportOfSlot,
    throttle: env.throttle,
    audit,
    metrics,
    logger,
  });
  const surfaces: HttpSurface[] =
    (await (async () =>
      opts.surfaces?.({
        namespace,
        catalog,
        vfs: vfs?.vfs,
        nodeId: home.identity.id,
        nodeName,
        home: root,
        logger,
        metrics,
        audit,
        authenticate: (a) => httpAuth.authenticate(a),
        view: (grant) => new AuthorizedSource({ inner: namespace, authz: httpAuth.authorizer(grant) }),
        grantOf: async (credentialId) => {
          const record = await credentials.find(credentialId);
          return record === undefined || record.disabled ? undefined : grantOfRecord(record);
        },
        status,
        metricsText: () => metrics.prometheusText(),
        isOwner: async (credentialId) =>
          (await readOwnerCredential({ home: root }).catch(() => undefined))?.id === credentialId,
        mounts: () => mounts.status(),
        addMount: async (a) => {
          const { path } = await addMountEntry({ ...a, home: root });
          await mounts.reload();
          return mounts.status().find((m) => m.path === path);
        },
        removeMount: async (a) => {
          await removeMountEntry({ home: root, path: a.path });
          await mounts.reload();
        },
      }))().catch(abandon)) ?? [];
  const closeSurfaces = async () => {
    for (const surface of surfaces) {
      await surface.close?.().catch((err: unknown) => {
        log.warn('HTTP surface did not close cleanly', { surface: surface.name, error: err });
      });
    }
  };
  opened.push(closeSurfaces);

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const path = pathOf(req);
    if (path === '/health' && !surfaces.some((s) => s.matches(path))) {
      return sendJson(res, closing ? 503 : 200, { ok: closing === undefined });
    }
    const surface = surfaces.find((s) => s.matches(path));
    if (surface) {
      const failed = (err: unknown) => {
        log.error('HTTP surface failed', { surface: surface.name, path, error: err });
        if (!res.headersSent) sendJson(res, 500, { error: { code: 'EIO', message: 'internal error' } });
        else res.destroy();
      };
      try {
        const done = surface.handle(req, res);
        if (done) done.catch(failed);
      } catch (err) {
        failed(err);
      }
      return;
    }
    sendJson(res, 404, {
      error: { code: 'ENOENT', message: `ENOENT: nothing at ${path} (the protocol is at ${PROTOCOL_PATH})` },
    });
  };
  const server = tls
    ? createHttpsServer({ key: tls.key, cert: tls.cert, minVersion: 'TLSv1.3' }, onRequest)
    : createHttpServer(onRequest);
  const writeBuffers = new ReadBufferPool({ chunk: READ_POOL_CHUNK, keep: WRITE_POOL_KEEP });
  const payloadPlace: PayloadPlace = (length) => {
    if (length < WRITE_POOL_MIN) return undefined;
    const lease = writeBuffers.lease(length);
    return lease && { buf: lease.into, release: lease.release };
  };
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    const path = pathOf(req);
    if (closing) return refuseUpgrade(socket, 503, 'the node is shutting down');
    if (path !== PROTOCOL_PATH) {
      const surface = surfaces.find((s) => s.matches(path) && s.upgrade !== undefined);
      if (surface?.upgrade?.(req, socket, head) === true) return;
      return refuseUpgrade(socket, 404, `no WebSocket endpoint at ${path}`);
    }
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    if (!offered.includes(SUBPROTOCOL))
      return refuseUpgrade(socket, 400, `WebSocket subprotocol '${SUBPROTOCOL}' required`);
    let ws: ServerWireSocket;
    try {
      ws = ServerWireSocket.accept({
        req,
        socket,
        head,
        protocol: SUBPROTOCOL,
        maxMessage: MAX_FRAME_BYTES,
        payloadPlace,
      });
    } catch (err) {
      if (!(err instanceof UpgradeRefused)) throw err;
      return refuseUpgrade(socket, err.status, err.message);
    }
    startSession(ws, req);
  });
  const startSession = (ws: ServerWireSocket, req: IncomingMessage, resume?: SealTicket) => {
    const session = new Session({ ws, address: req.socket.remoteAddress ?? 'unknown', env, resume });
    sessions.add(session);
    void session.done.then(() => sessions.delete(session));
  };
  // Plain connections to a TLS node carry only sealed sessions (keyed by a TLS session).
  const tickets = env.sealTickets;
  if (tls && tickets) {
    const plain = createHttpServer((_req, res) =>
      sendJson(res, 400, {
        error: {
          code: 'EPROTO',
          message: 'this node speaks TLS (https://, wss://); plain connections carry only sealed sessions',
        },
      }),
    );
    plain.on('clientError', (_err, socket) => socket.destroy());
    plain.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', () => undefined);
      if (closing) return refuseUpgrade(socket, 503, 'the node is shutting down');
      if (pathOf(req) !== PROTOCOL_PATH)
        return refuseUpgrade(socket, 404, `no sealed endpoint at ${pathOf(req)}`);
      const accepted = acceptSealed({
        req,
        socket,
        head,
        tickets,
        maxMessage: MAX_FRAME_BYTES,
        payloadPlace,
      });
      if ('refused' in accepted)
        return refuseUpgrade(socket, accepted.refused.status, accepted.refused.message);
      startSession(accepted.ws, req, accepted.ticket);
    });
    servePlainBesideTls({ tls: server as HttpsServer, plain });
  }
  // Every raw connection, so shutdown can cut off the ones that never close by themselves
  // (a TLS handshake or an HTTP request left hanging) instead of waiting for their timeouts.
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('tlsClientError', (err) => log.debug('TLS handshake failed', { error: err }));
  server.on('clientError', (_err, socket) => socket.destroy());

  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen({ host, port }, () => {
      server.off('error', fail);
      ok();
    });
  }).catch((err: unknown) =>
    abandon(
      (err as NodeJS.ErrnoException).code === 'EADDRINUSE'
        ? FsError.EADDRINUSE('serve', listen, `${listen} is already in use`)
        : FsError.from(err, 'serve', listen),
    ),
  );
  opened.push(() => new Promise<void>((ok) => server.close(() => ok())));
  server.on('error', (err) => log.error('server error', { error: err }));
  const bound = server.address() as AddressInfo;
  const address = { host: bound.address, port: bound.port };
  url = `${tls ? 'wss' : 'ws'}://${hostForUrl(bound.address)}:${bound.port}${PROTOCOL_PATH}`;
  // Remote mounts come up once the node listens (a mount of the node's own address must not wait on it).
  const mounts = new MountManager({ home: root, namespace, logger });
  metrics.mounts = () => mounts.counters();
  mountsRef.current = mounts;
  await mounts.open().catch(abandon);
  opened.push(() => mounts.close());
  await writeRuntime({
    home: root,
    info: { url, pid: process.pid, fingerprint: tls?.fingerprint, started: new Date().toISOString() },
  }).catch(abandon);
  audit.record({ event: 'node-start', url, pid: process.pid });
  log.info('node listening', { url, fingerprint: tls?.fingerprint, exports: namespace.mounts().length });

  // A credential disabled or removed while its sessions run ends them (the store is a file
  // other processes edit, so it is polled cheaply: one stat, a read only when it changed).
  let storeStamp = '';
  let checking = false;
  const checkRevocations = async () => {
    if (checking || closing) return;
    checking = true;
    try {
      const store = await credentials.current();
      if (store.stamp === storeStamp) return;
      storeStamp = store.stamp;
      tickets?.retain((id) => store.credentials.some((c) => c.id === id && !c.disabled));
      for (const s of sessions) {
        const id = s.credentialId;
        if (id === undefined) continue;
        const record = store.credentials.find((c) => c.id === id);
        if (record && !record.disabled) continue;
        log.info('ending the sessions of a revoked credential', { session: s.id, credential: id });
        void s.revoke(record ? 'credential disabled' : 'credential removed');
      }
    } catch (err) {
      log.warn('credential check failed', { error: err });
    } finally {
      checking = false;
    }
  };
  await checkRevocations();
  const revocationTimer = setInterval(() => void checkRevocations(), opts.credentialCheckMs ?? 2000);
  revocationTimer.unref();

  const close = (): Promise<void> => {
    closing ??= (async () => {
      clearInterval(revocationTimer);
      tickets?.clear();
      log.info('node shutting down', { sessions: sessions.size });
      const stopped = new Promise<void>((ok) => server.close(() => ok()));
      await Promise.all([...sessions].map((s) => s.shutdown('the node is shutting down')));
      server.closeAllConnections();
      // Sessions' sockets are still flushing their last answers and close handshakes (each
      // cut off after 2 s); what is left after that never became a session: cut it off.
      const lingering = setTimeout(() => {
        for (const socket of sockets) socket.destroy();
      }, SOCKET_LINGER_MS);
      await stopped;
      clearTimeout(lingering);
      await closeSurfaces();
      await vfs?.close();
      await catalog?.close();
      await mounts.close();
      await namespace.close();
      await diagnostics.close();
      await registry.close();
      untap();
      await removeRuntime({ home: root, url });
      audit.record({ event: 'node-stop', url, pid: process.pid });
      await audit.flush();
      log.info('node stopped', { metrics: metrics.snapshot() });
      if (ownLogger) await logger.close();
    })();
    return closing;
  };

  return {
    url,
    address,
    fingerprint: tls?.fingerprint,
    caFingerprint: tls?.caFingerprint,
    namespace,
    mounts,
    catalog,
    vfs: vfs?.vfs,
    nodeId: home.identity.id,
    nodeName,
    home: root,
    metrics,
    audit,
    sessions: () => [...sessions].map((s) => ({ id: s.id, address: s.address, principal: s.principal })),
    close,
    [Symbol.asyncDispose]: close,
  };
}
