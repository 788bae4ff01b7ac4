import { createPrivateKey, randomBytes, webcrypto, X509Certificate } from 'node:crypto';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
import { chmod, mkdir, readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { writeFileAtomic } from '../core/atomic-file.ts';
import { withFileLock } from '../core/file-lock.ts';
import type * as X509 from '@peculiar/x509';
import { FsError } from '../core/fs-error.ts';
import { installReflectMetadata } from './reflect-shim.ts';

/**
 * The node's own certificate authority and the server certificate it issues. The CA (an
 * ECDSA P-256 key and a self-signed certificate, valid 10 years) is made once, at
 * `tessera init` or on the first `serve`; the server certificate is signed by it and kept
 * until it nears expiry, so the fingerprint clients pin stays the same across restarts.
 * Everything lives in `<home>/tls/` (mode 0700, keys 0600).
 */

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;
/** CA lifetime. */
const CA_DAYS = 3650;
/** A server certificate is reissued when it expires within this many days. */
const RENEW_DAYS = 30;

/** Files of the TLS material in a home. */
export interface TlsPaths {
  dir: string;
  caKey: string;
  caCert: string;
  serverKey: string;
  serverCert: string;
  lockFile: string;
}

/** What an https server needs, plus the fingerprints clients pin. */
export interface ServerTls {
  /** PEM private key of the server certificate. */
  key: string;
  /** PEM server certificate. */
  cert: string;
  /** PEM CA certificate. */
  ca: string;
  /** SHA-256 of the server certificate's DER, `AA:BB:…`. */
  fingerprint: string;
  /** SHA-256 of the CA certificate's DER, `AA:BB:…`. */
  caFingerprint: string;
}

/** The TLS paths of the home at `home`. */
export function tlsPaths(home: string): TlsPaths {
  const dir = join(home, 'tls');
  return {
    dir,
    caKey: join(dir, 'ca.key'),
    caCert: join(dir, 'ca.crt'),
    serverKey: join(dir, 'server.key'),
    serverCert: join(dir, 'server.crt'),
    lockFile: join(dir, '.lock'),
  };
}

/** SHA-256 fingerprint of a PEM certificate, uppercase hex with colons. */
export function certFingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

type X509Module = typeof X509;
let x509Module: Promise<X509Module> | undefined;

/** `@peculiar/x509`, loaded on first use with the metadata shim it needs and node's WebCrypto. */
function loadX509(): Promise<X509Module> {
  x509Module ??= (async () => {
    installReflectMetadata();
    const mod = await import('@peculiar/x509');
    mod.cryptoProvider.set(webcrypto as unknown as Parameters<typeof mod.cryptoProvider.set>[0]);
    return mod;
  })();
  return x509Module;
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw FsError.from(err, 'tls', file);
  }
}

function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f; // positive (RFC 5280 §4.1.2.2)
  return bytes.toString('hex');
}

function toPem(der: ArrayBuffer, label: string): string {
  const b64 = Buffer.from(der).toString('base64');
  return `-----BEGIN ${label}-----\n${b64.replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END ${label}-----\n`;
}

async function newKeyPair(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  return toPem(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

async function importSigningKey(pem: string, file: string): Promise<CryptoKey> {
  let der: Buffer;
  try {
    der = createPrivateKey(pem).export({ type: 'pkcs8', format: 'der' });
  } catch {
    throw FsError.EINVAL('tls', file, 'not a readable private key');
  }
  return webcrypto.subtle.importKey('pkcs8', der, ALGORITHM, false, ['sign']);
}

function parseCert(pem: string, file: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch {
    throw FsError.EINVAL('tls', file, 'not a readable certificate');
  }
}

async function ensureDir(paths: TlsPaths): Promise<void> {
  try {
    await mkdir(paths.dir, { recursive: true, mode: 0o700 });
    await chmod(paths.dir, 0o700);
  } catch (err) {
    throw FsError.from(err, 'tls', paths.dir);
  }
}

async function makeCa(opts: { paths: TlsPaths; nodeName: string; now: Date }): Promise<void> {
  const x509 = await loadX509();
  const keys = await newKeyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: `CN=Tessera node CA ${opts.nodeName.replace(/[,+="<>#;\\]/g, '-')}`,
    notBefore: new Date(opts.now.getTime() - 60_000),
    notAfter: new Date(opts.now.getTime() + CA_DAYS * DAY_MS),
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  // Key first, certificate last: a certificate on disk always has its key beside it.
  await writeFileAtomic({ file: opts.paths.caKey, data: await exportKeyPem(keys.privateKey), mode: 0o600 });
  await writeFileAtomic({ file: opts.paths.caCert, data: cert.toString('pem') + '\n', mode: 0o644 });
}

async function loadCa(
  paths: TlsPaths,
): Promise<{ cert: X509Certificate; pem: string; key: string } | undefined> {
  const pem = await readOptional(paths.caCert);
  if (pem === undefined) return undefined;
  const key = await readOptional(paths.caKey);
  if (key === undefined) {
    throw FsError.ENOENT('tls', paths.caKey, 'the CA certificate is there but its key is missing');
  }
  return { cert: parseCert(pem, paths.caCert), pem, key };
}

/**
 * Make the node CA if the home has none (idempotent). Resolves to whether it was created and
 * the CA certificate's fingerprint.
 */
export async function ensureNodeCa(opts: {
  home: string;
  nodeName?: string | undefined;
}): Promise<{ created: boolean; caFingerprint: string }> {
  const paths = tlsPaths(opts.home);
  await ensureDir(paths);
  return withFileLock({ lockFile: paths.lockFile }, async () => {
    let ca = await loadCa(paths);
    let created = false;
    if (ca === undefined) {
      await makeCa({ paths, nodeName: opts.nodeName ?? hostname(), now: new Date() });
      ca = await loadCa(paths);
      created = true;
    }
    return { created, caFingerprint: ca!.cert.fingerprint256 };
  });
}

/** Why the server certificate on disk cannot be used (or undefined when it can). */
function serverCertProblem(opts: {
  cert: X509Certificate;
  keyPem: string;
  ca: X509Certificate;
  now: Date;
}): string | undefined {
  const { cert, ca } = opts;
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return 'not issued by the node CA';
  if (new Date(cert.validTo).getTime() - opts.now.getTime() < RENEW_DAYS * DAY_MS) return 'near expiry';
  try {
    if (!cert.checkPrivateKey(createPrivateKey(opts.keyPem))) return 'key does not match';
  } catch {
    return 'unreadable key';
  }
  return undefined;
}

/** The names a server certificate covers: loopback, localhost, this host and `hosts`. */
function subjectAltNames(hosts: readonly string[]): { type: 'ip' | 'dns'; value: string }[] {
  const names = new Set(['127.0.0.1', '::1', 'localhost', hostname(), ...hosts]);
  names.delete('');
  names.delete('0.0.0.0');
  names.delete('::');
  return [...names].map((value) => ({ type: isIP(value) === 0 ? 'dns' : 'ip', value }));
}

async function issueServerCert(opts: {
  paths: TlsPaths;
  ca: { cert: X509Certificate; key: string };
  hosts: readonly string[];
  now: Date;
}): Promise<void> {
  const x509 = await loadX509();
  const keys = await newKeyPair();
  const caCert = new x509.X509Certificate(opts.ca.cert.raw);
  const notAfter = Math.min(new Date(opts.ca.cert.validTo).getTime(), opts.now.getTime() + CA_DAYS * DAY_MS);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: `CN=${hostname().replace(/[,+="<>#;\\]/g, '-') || 'localhost'}`,
    issuer: caCert.subject,
    notBefore: new Date(opts.now.getTime() - 60_000),
    notAfter: new Date(notAfter),
    publicKey: keys.publicKey,
    signingKey: await importSigningKey(opts.ca.key, opts.paths.caKey),
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(subjectAltNames(opts.hosts)),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  await writeFileAtomic({
    file: opts.paths.serverKey,
    data: await exportKeyPem(keys.privateKey),
    mode: 0o600,
  });
  await writeFileAtomic({ file: opts.paths.serverCert, data: cert.toString('pem') + '\n', mode: 0o644 });
}

/**
 * The server's TLS material: the CA (made if missing) and a server certificate issued by it
 * (made if missing, unusable or within 30 days of expiry; otherwise the same one as last
 * time, so pinned fingerprints keep matching). `hosts` are extra names or addresses put in
 * a newly issued certificate (the listen host, say).
 */
export async function loadServerTls(opts: {
  home: string;
  nodeName?: string | undefined;
  hosts?: readonly string[] | undefined;
}): Promise<ServerTls> {
  const paths = tlsPaths(opts.home);
  await ensureDir(paths);
  return withFileLock({ lockFile: paths.lockFile }, async () => {
    const now = new Date();
    let ca = await loadCa(paths);
    if (ca === undefined) {
      await makeCa({ paths, nodeName: opts.nodeName ?? hostname(), now });
      ca = (await loadCa(paths))!;
    }
    const certPem = await readOptional(paths.serverCert);
    const keyPem = await readOptional(paths.serverKey);
    let usable = false;
    if (certPem !== undefined && keyPem !== undefined) {
      let cert: X509Certificate | undefined;
      try {
        cert = new X509Certificate(certPem);
      } catch {
        cert = undefined;
      }
      usable = cert !== undefined && serverCertProblem({ cert, keyPem, ca: ca.cert, now }) === undefined;
    }
    if (!usable) await issueServerCert({ paths, ca, hosts: opts.hosts ?? [], now });
    const cert = await readFile(paths.serverCert, 'utf8');
    const key = await readFile(paths.serverKey, 'utf8');
    return {
      key,
      cert,
      ca: ca.pem,
      fingerprint: certFingerprint(cert),
      caFingerprint: ca.cert.fingerprint256,
    };
  });
}
