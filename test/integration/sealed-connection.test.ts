// Sealed connections end to end: a wss session moves to a plain connection keyed from its
// TLS session; tickets are single-use and bound to the node; a byte altered on the wire ends
// the session instead of reaching the reader; the sealed session keeps the TLS session's grant.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, connect as netConnect, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Connection } from '../../src/client/connection.ts';
import { RemoteSource } from '../../src/client/remote-source.ts';
import { WireSocket } from '../../src/client/wire-socket.ts';
import { FsError } from '../../src/core/fs-error.ts';
import { readOwnerCredential } from '../../src/node/credentials.ts';
import type { TesseraNode } from '../../src/node/node.ts';
import { AeadKey } from '../../src/protocol/aead.ts';
import { SEAL_TICKET_HEADER, SEALED_SUBPROTOCOL } from '../../src/protocol/sealed-messages.ts';
import { readFile, writeFile } from '../conformance/helpers.ts';
import { credential, startNode } from './node-harness.ts';

const MIB = 1024 * 1024;

/** Open a sealed upgrade with `ticket` (keys need not be right: the upgrade takes the ticket). */
function upgradeWith(url: string, ticket: string | undefined): Promise<WireSocket> {
  const plain = new URL(url);
  plain.protocol = 'ws:';
  const key = () => AeadKey.create({ key: randomBytes(32) });
  return WireSocket.connect({
    url: plain,
    protocol: SEALED_SUBPROTOCOL,
    maxMessage: MIB,
    timeoutMs: 5000,
    headers: ticket === undefined ? {} : { [SEAL_TICKET_HEADER]: ticket },
    seal: { send: key(), recv: key() },
  });
}

/**
 * A TCP proxy in front of the node that, once `armed`, flips one byte in the middle of the
 * next big chunk the node sends on a plain (sealed) connection. TLS passes untouched.
 */
class TamperProxy {
  armed = false;
  flipped = 0;
  readonly server: Server;

  constructor(target: number) {
    this.server = createServer((client: Socket) => {
      const upstream = netConnect(target, '127.0.0.1');
      let plain: boolean | undefined;
      client.on('data', (d: Buffer) => {
        plain ??= d[0] !== 0x16;
        upstream.write(d);
      });
      upstream.on('data', (d: Buffer) => {
        if (plain === true && this.armed && d.length > 4096) {
          this.armed = false;
          this.flipped++;
          const at = d.length >> 1;
          d[at] = d[at]! ^ 0x01;
        }
        client.write(d);
      });
      const end = () => {
        client.destroy();
        upstream.destroy();
      };
      for (const s of [client, upstream]) {
        s.on('error', end);
        s.on('close', end);
      }
    });
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }
}

describe('sealed connections', () => {
  let node: TesseraNode;
  let home: string;
  let stop: () => Promise<void>;
  let owner: { id: string; secret: string };
  const connect = (opts: { sealed?: boolean; cred?: { id: string; secret: string }; url?: string } = {}) =>
    Connection.connect({
      url: opts.url ?? node.url,
      credential: opts.cred ?? owner,
      trust: { fingerprint: node.fingerprint! },
      sealed: opts.sealed,
    });

  before(async () => {
    ({ node, home, stop } = await startNode());
    const c = await readOwnerCredential({ home });
    owner = { id: c.id, secret: c.secret };
  });
  after(() => stop());

  it('moves a wss session to a sealed connection, unless told not to', async () => {
    const sealed = await connect();
    assert.equal(sealed.sealed, true, sealed.sealError?.message);
    assert.equal(sealed.session.principal, 'owner');
    const names = (await sealed.call('EXPORTS', {})).result.exports.map((e) => e.name);
    assert.ok(names.includes('/alpha'));
    await sealed.close();
    const tls = await connect({ sealed: false });
    assert.equal(tls.sealed, false);
    assert.equal(tls.sealError, undefined);
    await tls.close();
  });

  it('keeps the grant of the credential that logged in over TLS', async () => {
    const cred = await credential({ home, name: 'alpha-reader', exports: ['alpha'], caps: { write: false } });
    const conn = await connect({ cred });
    assert.equal(conn.sealed, true);
    assert.equal(conn.session.principal, 'alpha-reader');
    const tls = await connect({ cred, sealed: false });
    assert.deepEqual(conn.session.caps, tls.session.caps);
    assert.notEqual(conn.session.caps.write, true);
    await tls.close();
    const names = (await conn.call('EXPORTS', {})).result.exports.map((e) => e.name);
    assert.ok(names.includes('/alpha'));
    assert.ok(!names.includes('/beta'), 'an export outside the grant stays invisible');
    await conn.close();
  });

  it('takes a ticket once, and refuses none, a malformed one or a made-up one', async () => {
    const tls = await connect({ sealed: false });
    const { ticket } = (await tls.call('SEAL', {})).result;
    const first = await upgradeWith(node.url, ticket);
    first.terminate();
    await assert.rejects(upgradeWith(node.url, ticket), /HTTP 401/);
    await assert.rejects(upgradeWith(node.url, randomBytes(16).toString('hex')), /HTTP 401/);
    await assert.rejects(upgradeWith(node.url, 'not-a-ticket'), /HTTP 400/);
    await assert.rejects(upgradeWith(node.url, undefined), /HTTP 400/);
    await tls.close();
  });

  it('answers plain HTTP on the TLS address with a clear refusal', async () => {
    const url = new URL(node.url);
    const sock = netConnect(Number(url.port), '127.0.0.1');
    sock.end('GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const chunks: Buffer[] = [];
    for await (const c of sock) chunks.push(c as Buffer);
    const answer = Buffer.concat(chunks).toString();
    assert.match(answer, /^HTTP\/1\.1 400/);
    assert.match(answer, /this node speaks TLS/);
  });

  /** A node started with `opts` offers no sealed connection: not in HELLO, and SEAL refused. */
  async function offersNothing(opts: { sealed?: boolean; insecure?: boolean }): Promise<void> {
    const other = await startNode(opts);
    try {
      const c = await readOwnerCredential({ home: other.home });
      const conn = await Connection.connect({
        url: other.node.url,
        credential: { id: c.id, secret: c.secret },
        trust: other.node.fingerprint ? { fingerprint: other.node.fingerprint } : undefined,
      });
      assert.equal(conn.sealed, false);
      assert.equal(conn.sealError, undefined, 'not offered, so not tried');
      const err = await conn.call('SEAL', {}).catch((e: unknown) => e);
      assert.ok(FsError.is(err, 'EOPNOTSUPP'), String(err));
      await conn.close();
    } finally {
      await other.stop();
    }
  }

  it('offers nothing sealed from a node told not to ([server] sealed = false)', () =>
    offersNothing({ sealed: false }));

  it('offers nothing sealed over plain ws://', () => offersNothing({ insecure: true }));

  it('ends the session when a byte is altered on the wire; the reader never sees it', async () => {
    const proxy = new TamperProxy(Number(new URL(node.url).port));
    proxy.server.listen(0, '127.0.0.1');
    await once(proxy.server, 'listening');
    const url = new URL(node.url);
    url.port = String(proxy.port);
    const src = new RemoteSource({
      connect: { url: url.href, credential: owner, trust: { fingerprint: node.fingerprint! } },
    });
    try {
      await src.open();
      assert.equal(src.connection.sealed, true);
      const root = (await src.listExports()).find((e) => e.name === '/alpha')!.root;
      const data = randomBytes(2 * MIB);
      const { id } = await writeFile(src, root, 'tamper.bin', data);
      assert.ok((await readFile(src, id)).equals(data), 'intact through the proxy while unarmed');
      proxy.armed = true;
      const got = await readFile(src, id).catch((e: unknown) => e);
      assert.equal(proxy.flipped, 1);
      assert.ok(
        got instanceof FsError,
        `the read failed (got ${got instanceof Buffer ? 'bytes' : String(got)})`,
      );
      assert.ok(src.connection.closed, 'the sealed connection is closed');
    } finally {
      await src.close().catch(() => undefined);
      proxy.server.close();
    }
  });
});
