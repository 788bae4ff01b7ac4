import type { IncomingMessage, ServerResponse } from 'node:http';
import { httpStatusOf } from '../../core/errno.ts';
import { FsError } from '../../core/fs-error.ts';
import type { HttpSurface } from '../../core/http-surface.ts';
import type { Logger } from '../../core/log.ts';
import type { Grant } from '../../namespace/authorization.ts';
import type { Source } from '../../sources/source.ts';
import { handleGet } from './dav-get.ts';
import { handleLock, handleUnlock } from './dav-lock-methods.ts';
import { DavLockManager } from './dav-locks.ts';
import { parseDavPath } from './dav-paths.ts';
import { handlePropfind } from './dav-propfind.ts';
import { handlePropPatch } from './dav-proppatch.ts';
import { handlePut } from './dav-put.ts';
import { DavRequest, DavStatusError } from './dav-request.ts';
import { handleCopyMove, handleDelete, handleMkcol } from './dav-tree.ts';

/**
 * What the WebDAV surface needs from the node (the node's `SurfaceHost` has it; declared here
 * because front-ends may not import the node, DESIGN §3).
 */
export interface WebDavHost {
  /** The grant of a credential's key id and secret, or `EKEYREJECTED`. */
  authenticate(opts: { id: string; secret: string; address: string; surface: string }): Promise<Grant>;
  /** The namespace as `grant` may see and change it; closed after each request. */
  view(grant: Grant): Source;
  readonly logger?: Logger | undefined;
}

/** Where WebDAV is served on the node's address. */
export const WEBDAV_PREFIX = '/dav';

/** The handler of each method but OPTIONS (answered here), by method name. */
const HANDLERS = new Map<string, (dav: DavRequest) => Promise<void>>([
  ['GET', (dav) => handleGet(dav, { head: false })],
  ['HEAD', (dav) => handleGet(dav, { head: true })],
  ['PUT', handlePut],
  ['DELETE', handleDelete],
  ['MKCOL', handleMkcol],
  ['COPY', (dav) => handleCopyMove(dav, false)],
  ['MOVE', (dav) => handleCopyMove(dav, true)],
  ['PROPFIND', handlePropfind],
  ['PROPPATCH', handlePropPatch],
  ['LOCK', handleLock],
  ['UNLOCK', handleUnlock],
]);
const METHODS = ['OPTIONS', ...HANDLERS.keys()].join(', ');
const REALM = 'Basic realm="Tessera", charset="UTF-8"';
/** Unread request bodies up to this size are drained before an error answer. */
const DRAIN_LIMIT = 1024 * 1024;

/** The key id and secret of a Basic `Authorization` header, if there is one. */
function basicCredentials(header: string | undefined): { id: string; secret: string } | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!m?.[1]) return undefined;
  const text = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0) return undefined;
  return { id: text.slice(0, colon), secret: text.slice(colon + 1) };
}

/**
 * WebDAV (RFC 4918, classes 1 and 2) served by the node under `/dav/`: the namespace as the
 * request's credential sees it (HTTP Basic: user = access key id, password = secret). Every
 * method works through the Source contract, streaming; errors answer through the errno table.
 * See docs/webdav.md.
 */
export function createWebDavSurface(opts: { host: WebDavHost; prefix?: string }): HttpSurface {
  const { host } = opts;
  const prefix = opts.prefix ?? WEBDAV_PREFIX;
  const locks = new DavLockManager();
  const log = host.logger?.child({ component: 'webdav' });
  const active = new Set<ServerResponse>();

  const fail = (req: IncomingMessage, res: ServerResponse, err: unknown): void => {
    let status: number;
    let message: string;
    if (err instanceof DavStatusError) {
      status = err.status;
      message = err.message;
    } else {
      const e = FsError.from(err, 'webdav');
      if (e.code === 'EIO' && !(err instanceof FsError))
        log?.error('WebDAV request failed', { method: req.method, url: req.url, error: err });
      status = httpStatusOf(e.code);
      message = e.message;
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const headers: Record<string, string> = { 'Content-Type': 'text/plain; charset=utf-8' };
    if (status === 401) headers['WWW-Authenticate'] = REALM;
    const answer = () => {
      if (!res.headersSent && !res.destroyed) res.writeHead(status, headers).end(`${message}\n`);
    };
    if (req.complete) return answer();
    // The body was not read. A small one is drained so the connection stays usable (clients
    // often send it whole before reading the answer); a large one is cut off instead.
    const length = Number(req.headers['content-length'] ?? NaN);
    if (!(length <= DRAIN_LIMIT) || req.readableEnded) {
      headers.Connection = 'close';
      return answer();
    }
    req.once('end', answer);
    req.once('error', () => res.destroy());
    req.resume();
  };

  async function dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const creds = basicCredentials(req.headers.authorization);
    if (!creds) throw FsError.EKEYREJECTED('webdav', req.url, 'credentials required (HTTP Basic)');
    const grant = await host.authenticate({
      ...creds,
      address: req.socket.remoteAddress ?? 'unknown',
      surface: 'webdav',
    });
    const pathname = new URL(req.url ?? '/', 'http://request.invalid').pathname;
    const path = parseDavPath({ pathname, prefix });
    if (!path) throw FsError.ENOENT('webdav', pathname);
    if (req.method === 'OPTIONS') {
      res.writeHead(200, { DAV: '1, 2', Allow: METHODS, 'MS-Author-Via': 'DAV', 'Content-Length': 0 }).end();
      return;
    }
    const handler = HANDLERS.get(req.method ?? '');
    if (!handler) {
      res.setHeader('Allow', METHODS);
      throw new DavStatusError(405, `method ${req.method} is not supported`);
    }
    const view = host.view(grant);
    try {
      await handler(new DavRequest({ req, res, view, grant, path, prefix, locks }));
    } finally {
      // Handles a failed request left open are discarded (an upload never half-appears).
      await view.close();
    }
  }

  return {
    name: 'webdav',
    matches: (path) => path === prefix || path.startsWith(`${prefix}/`),
    async handle(req, res) {
      active.add(res);
      res.once('close', () => active.delete(res));
      try {
        await dispatch(req, res);
      } catch (err) {
        fail(req, res, err);
      }
    },
    async close() {
      for (const res of active) res.destroy();
      active.clear();
    },
  };
}
