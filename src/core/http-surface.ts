import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * An HTTP surface served on the node's one listening address beside the protocol (WebDAV at
 * `/dav/`, the REST API at `/api/v1/`, the web UI at `/`…). The node owns the server and
 * routes each request to the first surface whose `matches` accepts its path; surfaces are
 * built by the composition root (the CLI's `serve`, the library's `createNode`) because the
 * node may not import front-ends (DESIGN §3).
 */
export interface HttpSurface {
  /** A short name for logs and metrics (`webdav`, `api`). */
  readonly name: string;
  /** Whether this surface answers requests for `path` (the URL's decoded-free pathname). */
  matches(path: string): boolean;
  /** Answer one request. A rejection becomes a 500 the node logs. */
  handle(req: IncomingMessage, res: ServerResponse): void | Promise<void>;
  /**
   * Take a WebSocket (or other) upgrade of a matching path; return false to refuse it (the
   * node answers 404 then).
   */
  upgrade?(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** Stop: end streams and connections of this surface. Called once when the node closes. */
  close?(): Promise<void>;
}

/** A node's status, as surfaces report it (`GET /api/v1/node`, `/.tessera/status.json`). */
export interface NodeStatus {
  id: string;
  name: string;
  /** Where the node listens (`wss://host:port/tessera`). */
  url: string;
  /** Wire protocol version range the node speaks. */
  protocol: { min: number; max: number };
  /** When the node started (ISO 8601). */
  started: string;
  uptime_s: number;
  /** Protocol sessions connected now. */
  sessions: number;
  /** Mounts of the namespace (exports and mounted sources). */
  mounts: { path: string; export: string; source_kind: string; ro: boolean }[];
}

/** A remote mount to record and mount (`POST /api/v1/mounts`, `tessera mount`). */
export interface MountRequest {
  /** The other node: `wss://host:port/tessera`. */
  url: string;
  /** The export on that node, e.g. `/files`. */
  exportName: string;
  alias: string;
  /** Where in this namespace (default `/<alias>/<export>`). */
  path?: string | undefined;
  ro: boolean;
  rename: 'exdev' | 'copy';
  /** A client cache in front of the mount (docs/cache.md). */
  cache: boolean;
  credential: { id: string; secret: string };
  /** Accept only this certificate (else it is pinned on first contact). */
  fingerprint?: string | undefined;
}
