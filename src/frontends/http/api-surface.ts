import type { IncomingMessage, ServerResponse } from 'node:http';
import { FsError } from '../../core/fs-error.ts';
import type { HttpSurface } from '../../core/http-surface.ts';
import type { AuthorizedSource } from '../../namespace/authorized-source.ts';
import type { ApiHost } from './api-host.ts';
import { API_PREFIX, API_SURFACE, type ApiState } from './api-state.ts';
import { authRoutes } from './auth-routes.ts';
import { digestCache } from './file-content.ts';
import { EXTRA_SCHEMAS, fileRoutes } from './file-routes.ts';
import { labelRoutes } from './label-routes.ts';
import { LoginLimiter } from './login-limiter.ts';
import { mountRoutes } from './mount-routes.ts';
import { nodeRoutes } from './node-routes.ts';
import { searchRoutes } from './search-routes.ts';
import { vfsRoutes } from './vfs-routes.ts';
import { openApiDocument } from './openapi.ts';
import { PathIndex } from './paths.ts';
import { readJsonBody, sendError, sendJson } from './respond.ts';
import { type AnyRoute, type Principal, queryObject, validate } from './route.ts';
import { TokenStore } from './tokens.ts';

/** Version of the API in its OpenAPI document. */
export const API_VERSION = '1.0.0';

/** Options of {@link createApiSurface}. */
export interface ApiSurfaceOptions {
  host: ApiHost;
  /** Lifetime of bearer tokens (default 1 h). */
  tokenTtlMs?: number | undefined;
  /** Failed logins per address per minute before 429 (default 5). */
  loginFailures?: number | undefined;
  /** Clock (ms) for tokens and the login limit; tests inject one. */
  now?: (() => number) | undefined;
}

/** The REST API surface, with its route table (the OpenAPI document is made from it). */
export interface ApiSurface extends HttpSurface {
  readonly routes: readonly AnyRoute[];
  /** The OpenAPI document served at `/api/v1/openapi.json`. */
  document(): Record<string, unknown>;
}

function bearerOf(req: IncomingMessage): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return m?.[1];
}

/**
 * The REST API v1 (`/api/v1/…`, plus `/health` and `/metrics`) as an HTTP surface of a
 * node: a fixed route table whose zod schemas validate every query and body and generate
 * the OpenAPI document; bearer tokens from `POST /api/v1/auth/login`; every file operation
 * goes through the caller's authorized view of the namespace. See docs/api.md.
 */
export function createApiSurface(opts: ApiSurfaceOptions): ApiSurface {
  const { host } = opts;
  const log = host.logger.child({ component: 'api' });
  let closing = false;
  let stop: () => void = () => undefined;
  const state: ApiState = {
    host,
    tokens: new TokenStore({ ttlMs: opts.tokenTtlMs, now: opts.now }),
    limiter: new LoginLimiter({ max: opts.loginFailures, now: opts.now }),
    index: new PathIndex(),
    digests: digestCache(),
    stopping: new Promise<void>((resolve) => (stop = resolve)),
    closing: () => closing,
  };
  let doc: Record<string, unknown> | undefined;
  const document = () => (doc ??= openApiDocument({ routes, version: API_VERSION, schemas: EXTRA_SCHEMAS }));
  const routes: AnyRoute[] = [
    ...nodeRoutes(state, document),
    ...authRoutes(state),
    ...mountRoutes(state),
    ...fileRoutes(state),
    ...searchRoutes(state),
    ...labelRoutes(state),
    ...vfsRoutes(state),
  ];
  const byPath = new Map<string, Map<string, AnyRoute>>();
  for (const route of routes) {
    const methods = byPath.get(route.path) ?? new Map<string, AnyRoute>();
    if (methods.has(route.method)) throw new Error(`route ${route.method} ${route.path} defined twice`);
    methods.set(route.method, route);
    byPath.set(route.path, methods);
  }

  async function principalOf(req: IncomingMessage, op: string): Promise<Principal> {
    const token = bearerOf(req);
    if (token === undefined) {
      throw FsError.EKEYREJECTED(op, undefined, 'no bearer token: log in at POST /api/v1/auth/login');
    }
    const record = state.tokens.get(token);
    if (record === undefined) throw FsError.EKEYREJECTED(op, undefined, 'token unknown, expired or revoked');
    const grant = await host.grantOf(record.credentialId);
    if (grant === undefined) {
      state.tokens.revokeCredential(record.credentialId);
      throw FsError.EKEYREJECTED(op, undefined, 'the credential was disabled or removed');
    }
    return { grant, view: host.view(grant), expires: record.expires, token };
  }

  async function serve(req: IncomingMessage, res: ServerResponse, route: AnyRoute, url: URL): Promise<void> {
    const op = `${route.method} ${route.path}`;
    let view: AuthorizedSource | undefined;
    try {
      const query = route.query
        ? validate({ schema: route.query, value: queryObject(url, op), where: 'query parameter', op })
        : undefined;
      if (!route.query && url.search !== '')
        throw FsError.EINVAL(op, undefined, 'this route takes no query parameters');
      const principal = route.auth === 'token' ? await principalOf(req, op) : undefined;
      view = principal?.view;
      const body = route.body
        ? validate({ schema: route.body, value: await readJsonBody(req, op), where: 'body field', op })
        : undefined;
      await route.handle({
        req,
        res,
        query,
        body,
        principal,
        address: req.socket.remoteAddress ?? 'unknown',
      });
    } catch (err) {
      const error = sendError(res, err, op);
      if (error.code === 'EIO') log.error('request failed', { op, error });
      else log.debug('request refused', { op, error });
    } finally {
      await view?.close();
    }
  }

  return {
    name: API_SURFACE,
    routes,
    document,
    matches: (path) =>
      path === '/health' || path === '/metrics' || path === API_PREFIX || path.startsWith(`${API_PREFIX}/`),
    async handle(req, res) {
      const started = performance.now();
      const url = new URL(req.url ?? '/', 'http://node');
      const methods = byPath.get(url.pathname);
      const route = methods?.get(req.method ?? 'GET');
      try {
        if (methods === undefined) {
          sendError(res, FsError.ENOENT('api', url.pathname, `no API route at ${url.pathname}`), 'api');
        } else if (route === undefined) {
          const allow = [...methods.keys()].join(', ');
          const error = FsError.EINVAL(
            'api',
            url.pathname,
            `method ${req.method} not allowed (allowed: ${allow})`,
          );
          sendJson(res, 405, { error: error.toJSON() }, { allow });
        } else {
          await serve(req, res, route, url);
        }
      } finally {
        host.metrics.observeHttp({
          surface: API_SURFACE,
          route: route ? `${route.method} ${route.path}` : 'unmatched',
          status: res.statusCode,
          seconds: (performance.now() - started) / 1000,
        });
      }
    },
    close() {
      closing = true;
      stop();
      state.tokens.clear();
      return Promise.resolve();
    },
  };
}
