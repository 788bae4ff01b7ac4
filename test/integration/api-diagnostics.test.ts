// Diagnostics: the read-only /.tessera tree in the namespace (over the API, the protocol and a
// remote mount), recent errors, and Prometheus metrics at /metrics.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RemoteSource } from '../../src/client/remote-source.ts';
import { resolvePath } from '../../src/frontends/http/paths.ts';
import { Namespace } from '../../src/namespace/namespace.ts';
import type { TesseraNode } from '../../src/node/node.ts';
import type { Source } from '../../src/sources/source.ts';
import { readFile } from '../conformance/helpers.ts';
import { ApiClient, startApiWithOwner } from './api-harness.ts';
import { credential, session } from './node-harness.ts';

async function readAll(source: Source, path: string): Promise<string> {
  const file = await resolvePath({ source, path, op: 'test' });
  return (await readFile(source, file.id)).toString();
}

describe('diagnostics and metrics', () => {
  let node: TesseraNode;
  let home: string;
  let base: string;
  let stop: () => Promise<void>;
  let api: ApiClient;

  before(async () => {
    ({ node, home, base, stop, api } = await startApiWithOwner());
  });
  after(() => stop());

  it('serves /.tessera with status, mounts, sessions, errors and metrics', async () => {
    // Not listed at / (walks and copies of the namespace skip it), yet there by name.
    const root = await api.json<{ entries: { name: string }[] }>('/api/v1/files/list?path=/');
    const names = root.entries.map((e) => e.name);
    assert.ok(names.includes('alpha') && names.includes('beta'), names.join());
    assert.ok(!names.includes('.tessera'), names.join());
    assert.equal((await api.json('/api/v1/files/stat?path=/.tessera')).kind, 'dir');
    const list = await api.json<{ entries: { name: string; kind: string; mode: string }[] }>(
      '/api/v1/files/list?path=/.tessera',
    );
    assert.deepEqual(
      list.entries.map((e) => [e.name, e.kind, e.mode]),
      ['errors.json', 'metrics.prom', 'mounts.json', 'sessions.json', 'status.json'].map((n) => [
        n,
        'file',
        '0444',
      ]),
    );
    const status = JSON.parse(await (await api.get('/.tessera/status.json')).text()) as Record<
      string,
      unknown
    >;
    assert.equal(status.id, node.nodeId);
    assert.equal(status.url, node.url);
    const mounts = JSON.parse(await (await api.get('/.tessera/mounts.json')).text()) as { path: string }[];
    const mountPaths = mounts.map((m) => m.path);
    for (const p of ['/alpha', '/beta', '/.tessera']) assert.ok(mountPaths.includes(p), mountPaths.join());
    assert.deepEqual(
      mountPaths,
      node.namespace.mounts().map((m) => m.path),
    );
    const denied = await api.put('/.tessera/status.json', 'x');
    assert.equal(denied.status, 403);
    assert.equal(((await denied.json()) as { error: { code: string } }).error.code, 'EROFS');

    // A failed login is logged as a warning (the test logger writes nothing) and kept.
    const failed = await fetch(`${base}/api/v1/auth/login`, {
      method: 'POST',
      body: JSON.stringify({ id: 'tk_nobody', secret: 'guess' }),
    });
    assert.equal(failed.status, 401);
    const errors = JSON.parse(await (await api.get('/.tessera/errors.json')).text()) as Record<
      string,
      unknown
    >[];
    const last = errors.at(-1)!;
    assert.equal(last.msg, 'authentication failed');
    assert.equal(last.keyId, 'tk_nobody');
    assert.equal(last.level, 'warn');
  });

  it('keeps /.tessera from credentials scoped to some exports', async () => {
    const { client } = await ApiClient.forNew({ base, home, name: 'scoped', exports: ['alpha'] });
    assert.equal((await client.fetch('/api/v1/files/stat?path=/.tessera')).status, 404);
  });

  it('is served over the protocol, so a node mounting another sees its /.tessera', async () => {
    const cred = await credential({ home, name: 'mirror' });
    const remote = new RemoteSource({ connect: { url: node.url, credential: cred } });
    await remote.open();
    const ns = new Namespace();
    await ns.open();
    try {
      await ns.mount({ path: '/other/.tessera', source: remote, exportName: '/.tessera', ro: true });
      const status = JSON.parse(await readAll(ns, '/other/.tessera/status.json')) as {
        id: string;
        sessions: number;
      };
      assert.equal(status.id, node.nodeId);
      assert.equal(status.sessions, 1, 'the mirror reads the live status, its own session included');
    } finally {
      await ns.close();
      await remote.close();
    }
  });

  it('exposes Prometheus metrics: RPC latency, HTTP requests, auth failures', async () => {
    const client = await session(node, await credential({ home, name: 'rpc' }));
    await client.call('EXPORTS', {});
    await client.fails('LOOKUP', { parent: '1', name: 'missing' });
    client.close();
    await api.fetch('/api/v1/files/stat?path=/alpha');
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const value = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
    assert.ok(value(/^tessera_rpc_duration_seconds_count\{op="EXPORTS"\} (\d+)$/m) >= 1);
    assert.ok(value(/^tessera_rpc_duration_seconds_bucket\{op="EXPORTS",le="\+Inf"\} (\d+)$/m) >= 1);
    assert.ok(value(/^tessera_rpc_errors_total\{op="LOOKUP",code="ENOENT"\} (\d+)$/m) >= 1);
    assert.ok(
      value(
        /^tessera_http_requests_total\{surface="api",route="GET \/api\/v1\/files\/stat",status="200"\} (\d+)$/m,
      ) >= 1,
    );
    assert.equal(value(/^tessera_auth_failures_total (\d+)$/m), node.metrics.authFailures);
    assert.equal(value(/^tessera_namespace_mounts (\d+)$/m), node.namespace.mounts().length);
    // Every sample line is `name{labels} number`, every family has HELP and TYPE.
    for (const line of text.split('\n').filter((l) => l !== '' && !l.startsWith('#'))) {
      assert.match(line, /^[a-z_]+(\{[^}]*\})? [0-9.e+-]+$/, line);
    }
  });
});
