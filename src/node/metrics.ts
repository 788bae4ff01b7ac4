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

/** Histogram bucket bounds (seconds) for request latencies. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** A latency histogram (cumulative buckets are computed when exposed). */
class Histogram {
  readonly counts = new Array<number>(LATENCY_BUCKETS.length + 1).fill(0);
  sum = 0;
  count = 0;

  observe(seconds: number): void {
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]!) i++;
    this.counts[i]!++;
    this.sum += seconds;
    this.count++;
  }
}

/** Escape a Prometheus label value. */
function esc(value: string): string {
  return value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');
}

function labels(pairs: Record<string, string>): string {
  const parts = Object.entries(pairs).map(([k, v]) => `${k}="${esc(v)}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

/** Lines of one metric family in the Prometheus text format. */
export function promFamily(opts: {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  samples: { labels?: Record<string, string>; value: number }[];
}): string {
  const lines = [`# HELP ${opts.name} ${opts.help}`, `# TYPE ${opts.name} ${opts.type}`];
  for (const s of opts.samples) lines.push(`${opts.name}${labels(s.labels ?? {})} ${s.value}`);
  return lines.join('\n') + '\n';
}

function histogramFamily(opts: {
  name: string;
  help: string;
  series: Map<string, { labels: Record<string, string>; h: Histogram }>;
}): string {
  const lines = [`# HELP ${opts.name} ${opts.help}`, `# TYPE ${opts.name} histogram`];
  for (const { labels: base, h } of opts.series.values()) {
    let cumulative = 0;
    LATENCY_BUCKETS.forEach((le, i) => {
      cumulative += h.counts[i]!;
      lines.push(`${opts.name}_bucket${labels({ ...base, le: String(le) })} ${cumulative}`);
    });
    lines.push(`${opts.name}_bucket${labels({ ...base, le: '+Inf' })} ${h.count}`);
    lines.push(`${opts.name}_sum${labels(base)} ${h.sum}`);
    lines.push(`${opts.name}_count${labels(base)} ${h.count}`);
  }
  return lines.join('\n') + '\n';
}

/**
 * Counters and latency histograms of a running node, exposed in the Prometheus text format
 * at `/metrics` and in `/.tessera/metrics.prom`. Other parts of the node add their own
 * families with {@link NodeMetrics.addCollector}.
 */
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
  readonly #rpc = new Map<string, { labels: Record<string, string>; h: Histogram }>();
  readonly #rpcErrors = new Map<string, { labels: Record<string, string>; value: number }>();
  readonly #http = new Map<string, { labels: Record<string, string>; h: Histogram }>();
  readonly #httpStatus = new Map<string, { labels: Record<string, string>; value: number }>();
  readonly #collectors = new Set<() => string>();

  /** Record one protocol request: its op, how long it took, and its error code if it failed. */
  observeRpc(opts: { op: string; seconds: number; error?: string | undefined }): void {
    let series = this.#rpc.get(opts.op);
    if (!series) this.#rpc.set(opts.op, (series = { labels: { op: opts.op }, h: new Histogram() }));
    series.h.observe(opts.seconds);
    if (opts.error !== undefined) {
      const key = `${opts.op}\0${opts.error}`;
      const c = this.#rpcErrors.get(key);
      if (c) c.value++;
      else this.#rpcErrors.set(key, { labels: { op: opts.op, code: opts.error }, value: 1 });
    }
  }

  /** Record one answered HTTP request of a surface. */
  observeHttp(opts: { surface: string; route: string; status: number; seconds: number }): void {
    const key = `${opts.surface}\0${opts.route}`;
    let series = this.#http.get(key);
    if (!series) {
      series = { labels: { surface: opts.surface, route: opts.route }, h: new Histogram() };
      this.#http.set(key, series);
    }
    series.h.observe(opts.seconds);
    const skey = `${key}\0${opts.status}`;
    const c = this.#httpStatus.get(skey);
    if (c) c.value++;
    else {
      const l = { surface: opts.surface, route: opts.route, status: String(opts.status) };
      this.#httpStatus.set(skey, { labels: l, value: 1 });
    }
  }

  /** Add metric families (Prometheus text) to every exposition; returns the remover. */
  addCollector(collect: () => string): () => void {
    this.#collectors.add(collect);
    return () => this.#collectors.delete(collect);
  }

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

  /** Every metric in the Prometheus text exposition format (0.0.4). */
  prometheusText(): string {
    const counter = (name: string, help: string, value: number) =>
      promFamily({ name, help, type: 'counter', samples: [{ value }] });
    const parts = [
      counter('tessera_connections_total', 'Protocol connections accepted.', this.connections),
      promFamily({
        name: 'tessera_connections_open',
        help: 'Protocol connections open now.',
        type: 'gauge',
        samples: [{ value: this.connectionsOpen }],
      }),
      counter(
        'tessera_sessions_started_total',
        'Protocol sessions that authenticated.',
        this.sessionsStarted,
      ),
      promFamily({
        name: 'tessera_sessions_ended_total',
        help: 'Protocol connections ended, by how (graceful, abrupt, revoked…).',
        type: 'counter',
        samples: Object.entries(this.ended).map(([how, value]) => ({ labels: { how }, value })),
      }),
      counter(
        'tessera_auth_failures_total',
        'Failed authentications (protocol and HTTP).',
        this.authFailures,
      ),
      counter('tessera_rpc_requests_total', 'Protocol requests started.', this.requests),
      counter(
        'tessera_protocol_errors_total',
        'Malformed or out-of-order protocol traffic.',
        this.protocolErrors,
      ),
      counter('tessera_protocol_bytes_received_total', 'Protocol bytes received.', this.bytesIn),
      counter('tessera_protocol_bytes_sent_total', 'Protocol bytes sent.', this.bytesOut),
      histogramFamily({
        name: 'tessera_rpc_duration_seconds',
        help: 'Protocol request latency, by op.',
        series: this.#rpc,
      }),
      promFamily({
        name: 'tessera_rpc_errors_total',
        help: 'Protocol requests that failed, by op and errno.',
        type: 'counter',
        samples: [...this.#rpcErrors.values()],
      }),
      histogramFamily({
        name: 'tessera_http_request_duration_seconds',
        help: 'HTTP surface request latency, by surface and route.',
        series: this.#http,
      }),
      promFamily({
        name: 'tessera_http_requests_total',
        help: 'HTTP surface requests answered, by surface, route and status.',
        type: 'counter',
        samples: [...this.#httpStatus.values()],
      }),
    ];
    if (this.mounts) {
      const m = this.mounts();
      parts.push(
        promFamily({
          name: 'tessera_remote_mounts_active',
          help: 'Remote mounts mounted now.',
          type: 'gauge',
          samples: [{ value: m.active }],
        }),
        counter(
          'tessera_remote_mount_switches_total',
          'Endpoint switches (failovers) of remote mounts.',
          m.switches,
        ),
        counter('tessera_remote_mount_reconnects_total', 'Reconnects of remote mounts.', m.reconnects),
        counter(
          'tessera_remote_mount_moved_handles_total',
          'Open handles moved to another endpoint.',
          m.movedHandles,
        ),
      );
      if (m.cache) {
        const c = m.cache;
        parts.push(
          counter('tessera_cache_hits_total', 'Reads served wholly from the client data cache.', c.hits),
          counter(
            'tessera_cache_misses_total',
            'Reads that needed a fetch into the client data cache.',
            c.misses,
          ),
          counter(
            'tessera_cache_fetched_bytes_total',
            'Bytes fetched (and verified) into the client data cache.',
            c.fetchedBytes,
          ),
          counter(
            'tessera_cache_rejected_fills_total',
            'Cache fills rejected: failed verification or transfer.',
            c.rejected,
          ),
          counter('tessera_cache_evictions_total', 'Files evicted from the client data cache.', c.evictions),
          promFamily({
            name: 'tessera_cache_bytes',
            help: 'Bytes held by the client data cache.',
            type: 'gauge',
            samples: [{ value: c.bytes }],
          }),
        );
      }
    }
    for (const collect of this.#collectors) parts.push(collect());
    return parts.join('');
  }
}
