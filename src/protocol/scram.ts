import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { argon2id } from 'hash-wasm';

/**
 * Credential proof without the secret on the wire (SCRAM, RFC 5802, with argon2id as the
 * key-derivation function). The node stores only `storedKey = H(HMAC(argon2id(secret),
 * "Client Key"))` and `serverKey`; the client proves it knows the secret by sending
 * `clientKey XOR HMAC(storedKey, authMessage)`, and the server proves it holds the verifier
 * by returning `HMAC(serverKey, authMessage)`. A captured exchange cannot be replayed (fresh
 * nonces) and the stored verifier cannot be used to log in.
 */

/** argon2id cost: memory in KiB, iterations, parallelism (OWASP's baseline). */
export interface Argon2Params {
  m: number;
  t: number;
  p: number;
}

/** Default argon2id cost for new credentials. */
export const ARGON2_DEFAULTS: Argon2Params = { m: 19456, t: 2, p: 1 };

/** What a node keeps for a credential: no secret, only its argon2id-derived verifier. */
export interface Verifier {
  salt: string;
  argon2: Argon2Params;
  storedKey: string;
  serverKey: string;
}

/** argon2id(secret, salt): the salted key both sides derive from a secret. */
export async function saltedKey(opts: {
  secret: string;
  salt: string;
  argon2: Argon2Params;
}): Promise<Buffer> {
  const hex = await argon2id({
    password: opts.secret,
    salt: Buffer.from(opts.salt, 'base64url'),
    iterations: opts.argon2.t,
    memorySize: opts.argon2.m,
    parallelism: opts.argon2.p,
    hashLength: 32,
    outputType: 'hex',
  });
  return Buffer.from(hex, 'hex');
}

function hmac(key: Buffer, text: string): Buffer {
  return createHmac('sha256', key).update(text).digest();
}

function keysOf(salted: Buffer): { clientKey: Buffer; storedKey: Buffer; serverKey: Buffer } {
  const clientKey = hmac(salted, 'Client Key');
  return {
    clientKey,
    storedKey: createHash('sha256').update(clientKey).digest(),
    serverKey: hmac(salted, 'Server Key'),
  };
}

/** Make the verifier to store for a new secret. */
export async function makeVerifier(opts: { secret: string; argon2?: Argon2Params }): Promise<Verifier> {
  const argon2 = opts.argon2 ?? ARGON2_DEFAULTS;
  const salt = randomBytes(16).toString('base64url');
  const { storedKey, serverKey } = keysOf(await saltedKey({ secret: opts.secret, salt, argon2 }));
  return {
    salt,
    argon2,
    storedKey: storedKey.toString('base64url'),
    serverKey: serverKey.toString('base64url'),
  };
}

/** Check a secret directly against a verifier (for logins that carry the secret over TLS). */
export async function secretMatches(opts: { secret: string; verifier: Verifier }): Promise<boolean> {
  const { storedKey } = keysOf(await saltedKey({ secret: opts.secret, ...opts.verifier }));
  return safeEqual(storedKey, Buffer.from(opts.verifier.storedKey, 'base64url'));
}

/** A fresh nonce. */
export function nonce(): string {
  return randomBytes(24).toString('base64url');
}

/** The text both sides sign: binds the key id, both nonces and the negotiated version. */
export function authMessage(opts: {
  keyId: string;
  clientNonce: string;
  serverNonce: string;
  version: number;
}): string {
  return `tessera-auth/v${opts.version}|${opts.keyId}|${opts.clientNonce}|${opts.serverNonce}`;
}

/** Client side: the proof to send, and the server signature to expect back. */
export function clientProof(opts: { salted: Buffer; authMessage: string }): {
  proof: string;
  serverSignature: string;
} {
  const { clientKey, storedKey, serverKey } = keysOf(opts.salted);
  const signature = hmac(storedKey, opts.authMessage);
  const proof = Buffer.alloc(clientKey.length);
  for (let i = 0; i < proof.length; i++) proof[i] = clientKey[i]! ^ signature[i]!;
  return {
    proof: proof.toString('base64url'),
    serverSignature: hmac(serverKey, opts.authMessage).toString('base64url'),
  };
}

/** Server side: whether a proof shows knowledge of the secret behind `verifier`. */
export function proofValid(opts: { verifier: Verifier; authMessage: string; proof: string }): boolean {
  const storedKey = Buffer.from(opts.verifier.storedKey, 'base64url');
  const proof = Buffer.from(opts.proof, 'base64url');
  if (proof.length !== 32) return false;
  const signature = hmac(storedKey, opts.authMessage);
  const clientKey = Buffer.alloc(32);
  for (let i = 0; i < 32; i++) clientKey[i] = proof[i]! ^ signature[i]!;
  return safeEqual(createHash('sha256').update(clientKey).digest(), storedKey);
}

/** Server side: the signature that proves the server holds the verifier. */
export function serverSignature(opts: { verifier: Verifier; authMessage: string }): string {
  return hmac(Buffer.from(opts.verifier.serverKey, 'base64url'), opts.authMessage).toString('base64url');
}

/** Constant-time comparison of two base64url strings or buffers. */
export function safeEqual(a: Buffer | string, b: Buffer | string): boolean {
  const x = typeof a === 'string' ? Buffer.from(a) : a;
  const y = typeof b === 'string' ? Buffer.from(b) : b;
  return x.length === y.length && timingSafeEqual(x, y);
}
