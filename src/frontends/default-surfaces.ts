import type { HttpSurface } from '../core/http-surface.ts';
import { createWebDavSurface, type WebDavHost } from './webdav/webdav-surface.ts';

/**
 * What the default surfaces need from the node: the node's `SurfaceHost` satisfies it
 * (declared structurally, since front-ends may not import the node).
 */
export type DefaultSurfaceHost = WebDavHost;

/**
 * The HTTP surfaces a node serves beside the protocol by default (the CLI's `serve`, the
 * benchmarks): WebDAV at `/dav/`.
 */
export function defaultSurfaces(host: DefaultSurfaceHost): HttpSurface[] {
  return [createWebDavSurface({ host })];
}
