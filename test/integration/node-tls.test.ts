import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { get } from 'node:https';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { FsError } from '../../src/core/fs-error.ts';
import { readOwnerCredential } from '../../src/node/credentials.ts';
import { createNode } from '../../src/node/node.ts';
import { readRuntime } from '../../src/node/runtime.ts';
import { tlsPaths } from '../../src/node/tls-ca.ts';
import { makeHome, quietLogger, RawClient, session, startNode } from './node-harness.ts';

function httpsGet(url: string, ca: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, { ca }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

describe('node transport', () => {
  let ctx: Awaited<ReturnType<typeof startNode>>;
  let ca: Buffer;
  before(async () => {
    ctx = await startNode();
    ca = await readFile(tlsPaths(ctx.home).caCert);
  });
  after(async () => {
    await ctx.stop();
  });

  it('serves TLS 1.3 with a certificate that chains to the home CA', async () => {
    const sock = await new Promise<TLSSocket>((resolve, reject) => {
      const s = tlsConnect(
        { host: '127.0.0.1', port: ctx.node.address.port, ca, servername: 'localhost' },
        () => resolve(s),
      );
      s.on('error', reject);
    });
    assert.equal(sock.authorized, true, 'verified against the CA alone');
    assert.equal(sock.getProtocol(), 'TLSv1.3');
    assert.equal(sock.getPeerCertificate().fingerprint256, ctx.node.fingerprint);
    sock.destroy();
  });

  it('refuses TLS 1.2', async () => {
    await assert.rejects(
      new Promise<void>((resolve, reject) => {
        const s = tlsConnect(
          {
            host: '127.0.0.1',
            port: ctx.node.address.port,
            ca,
            servername: 'localhost',
            maxVersion: 'TLSv1.2',
          },
          () => {
            s.destroy();
            resolve();
          },
        );
        s.on('error', reject);
      }),
      /protocol|version/i,
    );
  });

  it('answers /health, 404 elsewhere, and only upgrades /tessera with the tessera subprotocol', async () => {
    const port = ctx.node.address.port;
    const health = await httpsGet(`https://localhost:${port}/health`, ca);
    assert.deepEqual([health.status, JSON.parse(health.body)], [200, { ok: true }]);
    const other = await httpsGet(`https://localhost:${port}/webdav/x`, ca);
    assert.equal(other.status, 404);
    assert.equal((JSON.parse(other.body) as { error: { code: string } }).error.code, 'ENOENT');
    await assert.rejects(RawClient.connect(ctx.node.url.replace('/tessera', '/other')), /HTTP 404/);
    await assert.rejects(RawClient.connect(ctx.node.url, { protocols: ['chat'] }), /HTTP 400/);
  });

  it('records where it listens in runtime.json', async () => {
    const rt = await readRuntime(ctx.home);
    assert.deepEqual(rt && { url: rt.url, pid: rt.pid, fingerprint: rt.fingerprint }, {
      url: ctx.node.url,
      pid: process.pid,
      fingerprint: ctx.node.fingerprint,
    });
    assert.match(ctx.node.url, /^wss:\/\/127\.0\.0\.1:\d+\/tessera$/);
  });

  it('stops promptly even with connections that never became sessions', async () => {
    const { node, stop } = await startNode();
    const idle = [
      // A TCP connection that never starts TLS, and a TLS one that never sends a request.
      netConnect({ host: '127.0.0.1', port: node.address.port }),
      tlsConnect({
        host: '127.0.0.1',
        port: node.address.port,
        ca,
        servername: 'localhost',
        rejectUnauthorized: false,
      }),
    ];
    const closed = idle.map((s) => new Promise<void>((resolve) => s.on('close', () => resolve())));
    for (const s of idle) s.on('error', () => undefined);
    await new Promise<void>((resolve) => idle[1]!.once('secureConnect', () => resolve()));
    await stop(); // without cutting them off this would wait for the TLS and HTTP timeouts (minutes)
    await Promise.all(closed);
  });

  it('serves plain ws:// only when asked to, and refuses a second node on the same address', async () => {
    const { home, cleanup } = await makeHome();
    const node = await createNode({ home, listen: '127.0.0.1:0', insecure: true, logger: quietLogger() });
    try {
      assert.match(node.url, /^ws:\/\//);
      assert.equal(node.fingerprint, undefined);
      const c = await session(node, await readOwnerCredential(home));
      await c.call('PING', {});
      c.close();
      const { home: home2, cleanup: cleanup2 } = await makeHome();
      try {
        await assert.rejects(
          createNode({ home: home2, listen: `127.0.0.1:${node.address.port}`, logger: quietLogger() }),
          (e: unknown) => FsError.is(e, 'EADDRINUSE'),
        );
      } finally {
        await cleanup2();
      }
    } finally {
      await node.close();
      await cleanup();
    }
  });
});
