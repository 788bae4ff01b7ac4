import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FsError } from '../../src/core/fs-error.ts';
import { auditFile } from '../../src/node/audit.ts';
import {
  createCredential,
  CredentialCache,
  credentialsFile,
  disableCredential,
  ensureOwnerCredential,
  findCredential,
  listCredentials,
  ownerCredentialFile,
  probeVerifier,
  readOwnerCredential,
  removeCredential,
} from '../../src/node/credentials.ts';
import { secretMatches } from '../../src/protocol/scram.ts';
import { CHEAP_ARGON2 as cheap } from '../helpers/argon2.ts';

describe('credential store', () => {
  let home: string;
  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'tessera-cred-'));
  });
  after(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('creates a credential, shows the secret once and stores only its verifier', async () => {
    const { id, secret } = await createCredential({ home, name: 'alice', argon2: cheap });
    assert.match(id, /^tk_[a-z2-7]{20}$/);
    assert.ok(secret.length >= 32);
    const text = await readFile(credentialsFile(home), 'utf8');
    assert.ok(!text.includes(secret), 'the secret is not stored');
    assert.equal((await stat(credentialsFile(home))).mode & 0o777, 0o600);
    const record = await findCredential({ home, id });
    assert.ok(record);
    assert.equal(record.name, 'alice');
    assert.equal(record.exports, '*');
    assert.deepEqual(record.caps, { show: true, read: true, write: true, execute: true });
    assert.equal(await secretMatches({ secret, verifier: record.verifier }), true);
    assert.equal(await secretMatches({ secret: secret + 'x', verifier: record.verifier }), false);
    const listed = await listCredentials({ home });
    assert.ok(listed.some((c) => c.id === id));
    assert.ok(!JSON.stringify(listed).includes('storedKey'), 'listings carry no verifier');
  });

  it('scopes exports and capabilities, disables and removes, auditing each change', async () => {
    const { id } = await createCredential({
      home,
      name: 'reader',
      exports: ['work', 'work'],
      caps: { show: true, read: true, write: false, execute: false },
      argon2: cheap,
    });
    const rec = await findCredential({ home, id });
    assert.deepEqual(rec?.exports, ['work']);
    assert.equal(rec?.caps.write, false);
    assert.equal((await disableCredential({ home, id })).disabled, true);
    assert.equal((await findCredential({ home, id }))?.disabled, true);
    await removeCredential({ home, id });
    assert.equal(await findCredential({ home, id }), undefined);
    await assert.rejects(removeCredential({ home, id }), (e: unknown) => FsError.is(e, 'ENOENT'));
    await assert.rejects(disableCredential({ home, id }), (e: unknown) => FsError.is(e, 'ENOENT'));
    const audit = (await readFile(auditFile(home), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; id: string });
    const mine = audit.filter((a) => a.id === id).map((a) => a.event);
    assert.deepEqual(mine, ['credential-created', 'credential-disabled', 'credential-removed']);
  });

  it('a running node reads the store again only once it changed, and sees every change', async () => {
    const cache = new CredentialCache({ home });
    const { id } = await createCredential({ home, name: 'cached', argon2: cheap });
    const first = await cache.find(id);
    assert.equal(first?.name, 'cached');
    assert.equal(first?.disabled, false);
    assert.equal(await cache.find(id), first, 'an unchanged store is not read again');
    assert.equal(await cache.find('not-a-key-id'), undefined);
    await disableCredential({ home, id });
    assert.equal((await cache.find(id))?.disabled, true, 'a disable by another writer is seen at once');
    const { stamp } = await cache.current();
    await removeCredential({ home, id });
    const now = await cache.current();
    assert.notEqual(now.stamp, stamp);
    assert.equal(
      now.credentials.find((c) => c.id === id),
      undefined,
      'a removal is seen at once',
    );
  });

  it('refuses bad names and empty export lists', async () => {
    await assert.rejects(createCredential({ home, name: 'has space', argon2: cheap }), (e: unknown) =>
      FsError.is(e, 'EINVAL'),
    );
    await assert.rejects(createCredential({ home, name: 'x', exports: [], argon2: cheap }), (e: unknown) =>
      FsError.is(e, 'EINVAL'),
    );
  });

  it('answers a stable, per-id salt for unknown key ids', async () => {
    const a1 = await probeVerifier({ home, keyId: 'tk_aaaaaaaaaaaaaaaaaaaa' });
    const a2 = await probeVerifier({ home, keyId: 'tk_aaaaaaaaaaaaaaaaaaaa' });
    const b = await probeVerifier({ home, keyId: 'tk_bbbbbbbbbbbbbbbbbbbb' });
    assert.equal(a1.salt, a2.salt);
    assert.notEqual(a1.salt, b.salt);
    assert.equal(Buffer.from(a1.salt, 'base64url').length, 16, 'as long as a real salt');
    assert.deepEqual(a1.argon2, cheap, 'with the cost real credentials use');
  });

  it('keeps an owner credential for the local CLI, made once', async () => {
    await assert.rejects(readOwnerCredential(home), (e: unknown) => FsError.is(e, 'ENOENT'));
    const first = await ensureOwnerCredential({ home, argon2: cheap });
    assert.equal(first.created, true);
    assert.equal((await stat(ownerCredentialFile(home))).mode & 0o777, 0o600);
    const again = await ensureOwnerCredential({ home, argon2: cheap });
    assert.equal(again.created, false);
    assert.equal(again.id, first.id);
    const read = await readOwnerCredential({ home });
    assert.deepEqual(read, { id: first.id, secret: first.secret });
    const rec = await findCredential({ home, id: first.id });
    assert.equal(rec?.owner, true);
    assert.equal(rec?.exports, '*');
    // Removed from the store: a new one replaces it.
    await removeCredential({ home, id: first.id });
    const replaced = await ensureOwnerCredential({ home, argon2: cheap });
    assert.equal(replaced.created, true);
    assert.notEqual(replaced.id, first.id);
  });
});
