import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  authMessage,
  clientProof,
  makeVerifier,
  nonce,
  proofValid,
  saltedKey,
  secretMatches,
  serverSignature,
} from '../../src/protocol/scram.ts';
import { CHEAP_ARGON2 as cheap } from '../helpers/argon2.ts';

describe('scram-argon2id', () => {
  it('accepts the right secret, refuses a wrong one and a replayed proof', async () => {
    const verifier = await makeVerifier({ secret: 'correct horse', argon2: cheap });
    assert.ok(!JSON.stringify(verifier).includes('correct horse'));
    const msg = authMessage({ keyId: 'tk_1', clientNonce: nonce(), serverNonce: nonce(), version: 1 });
    const good = clientProof({
      salted: await saltedKey({ secret: 'correct horse', ...verifier }),
      authMessage: msg,
    });
    assert.equal(proofValid({ verifier, authMessage: msg, proof: good.proof }), true);
    assert.equal(serverSignature({ verifier, authMessage: msg }), good.serverSignature);
    const bad = clientProof({
      salted: await saltedKey({ secret: 'wrong horse', ...verifier }),
      authMessage: msg,
    });
    assert.equal(proofValid({ verifier, authMessage: msg, proof: bad.proof }), false);
    const other = authMessage({ keyId: 'tk_1', clientNonce: nonce(), serverNonce: nonce(), version: 1 });
    assert.equal(
      proofValid({ verifier, authMessage: other, proof: good.proof }),
      false,
      'a proof is bound to its nonces',
    );
    assert.equal(proofValid({ verifier, authMessage: msg, proof: 'short' }), false);
    assert.equal(await secretMatches({ secret: 'correct horse', verifier }), true);
    assert.equal(await secretMatches({ secret: 'correct horsf', verifier }), false);
  });
});
