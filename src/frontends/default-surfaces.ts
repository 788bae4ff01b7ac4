import type { HttpSurface } from '../core/http-surface.ts';
import type { ApiHost } from './http/api-host.ts';
import { createApiSurface } from './http/api-surface.ts';
import { createWebDavSurface, type WebDavHost } from './webdav/webdav-surface.ts';

/**
 * What the default surfaces need from the node: the node's `SurfaceHost` satisfies it
 * (declared structurally, since front-ends may not import the node).
 */
export type DefaultSurfaceHost = WebDavHost & ApiHost;

/**
 * The HTTP surfaces a node serves beside the protocol by default (the CLI's `serve`, the
 * library's `createNode`, the benchmarks): WebDAV at `/dav/`, the REST API at `/api/v1/`
 * (with `/health` and `/metrics`).
 */
export function defaultSurfaces(host: DefaultSurfaceHost): HttpSurface[] {
  return [createWebDavSurface({ host }), createApiSurface({ host })];
}
