import type { SessionEnd } from './audit.ts';

/** Remote mounts: how many are mounted, and their endpoint switches, reconnects and moved handles. */
export interface MountCounters {
  active: number;
  switches: number;
  reconnects: number;
  movedHandles: number;
  /** The client cache behind the mounts (one data cache for all), when any mount uses it. */
  cache?: {
    hits: number;
    misses: number;
    fetchedBytes: number;
    rejected: number;
    evictions: number;
    bytes: number;
  };
}

/** Counters of a running node (a Prometheus endpoint can read these later). */
export class NodeMetrics {
  /** Connections that reached the protocol (WebSocket upgrade done). */
  connections = 0;
  /** Sessions that authenticated. */
  sessionsStarted = 0;
  /** Connections currently open. */
  connectionsOpen = 0;
  /** How connections ended, by kind; graceful and abrupt ends are counted apart. */
  readonly ended: Record<SessionEnd, number> = {
    graceful: 0,
    abrupt: 0,
    'server-shutdown': 0,
    'protocol-error': 0,
    'auth-failed': 0,
    revoked: 0,
  };
  authFailures = 0;
  requests = 0;
  protocolErrors = 0;
  bytesIn = 0;
  bytesOut = 0;
  /** Remote mount counters, read when a snapshot is taken (the node sets this). */
  mounts: (() => MountCounters) | undefined;

  /** A plain copy of the counters. */
  snapshot(): Record<string, unknown> {
    return {
      connections: this.connections,
      sessionsStarted: this.sessionsStarted,
      connectionsOpen: this.connectionsOpen,
      ended: { ...this.ended },
      authFailures: this.authFailures,
      requests: this.requests,
      protocolErrors: this.protocolErrors,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      ...(this.mounts ? { mounts: this.mounts() } : {}),
    };
  }
}
