import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { certFingerprint, ensureNodeCa, loadServerTls, tlsPaths } from '../../src/node/tls-ca.ts';

describe('node CA and server certificate', () => {
  let home: string;
  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'tessera-tls-'));
  });
  after(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('makes the CA once, with private files', async () => {
    const first = await ensureNodeCa({ home, nodeName: 'box' });
    const second = await ensureNodeCa({ home, nodeName: 'box' });
    assert.equal(first.created, true);
    assert.equal(second.created, false);
    assert.equal(first.caFingerprint, second.caFingerprint);
    const paths = tlsPaths(home);
    assert.equal((await stat(paths.dir)).mode & 0o777, 0o700);
    assert.equal((await stat(paths.caKey)).mode & 0o777, 0o600);
    const ca = new X509Certificate(await readFile(paths.caCert));
    assert.equal(ca.ca, true);
    const years = (new Date(ca.validTo).getTime() - Date.now()) / (365 * 86_400_000);
    assert.ok(years > 9.9 && years < 10.1, `CA valid ~10 years, got ${years}`);
  });

  it('issues a server certificate signed by the CA, kept across loads', async () => {
    const tls = await loadServerTls({ home, nodeName: 'box' });
    const cert = new X509Certificate(tls.cert);
    const ca = new X509Certificate(tls.ca);
    assert.equal(cert.checkIssued(ca), true);
    assert.equal(cert.verify(ca.publicKey), true);
    assert.equal(cert.ca, false);
    assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(cert.checkIP('::1'), '::1');
    assert.equal(cert.checkHost('localhost'), 'localhost');
    assert.ok(cert.subjectAltName?.includes(hostname()));
    assert.equal(tls.fingerprint, certFingerprint(tls.cert));
    assert.match(tls.fingerprint, /^[0-9A-F]{2}(:[0-9A-F]{2}){31}$/);
    assert.equal((await stat(tlsPaths(home).serverKey)).mode & 0o777, 0o600);
    const again = await loadServerTls({ home });
    assert.equal(again.fingerprint, tls.fingerprint, 'the same certificate: pins keep matching');
  });

  it('reissues a missing server certificate from the same CA', async () => {
    const before = await loadServerTls({ home });
    await rm(tlsPaths(home).serverCert);
    const after = await loadServerTls({ home });
    assert.notEqual(after.fingerprint, before.fingerprint);
    assert.equal(after.caFingerprint, before.caFingerprint);
    assert.equal(new X509Certificate(after.cert).checkIssued(new X509Certificate(after.ca)), true);
  });
});
