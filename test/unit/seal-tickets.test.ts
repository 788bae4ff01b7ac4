import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Grant } from '../../src/namespace/authorization.ts';
import { SealTickets } from '../../src/node/seal-tickets.ts';

const grant = (credentialId: string): Grant => ({
  credentialId,
  principal: credentialId,
  exports: '*',
  caps: { show: true, read: true, write: true, execute: true },
});

describe('SealTickets', () => {
  it('issues tickets bound to their material, each taken once, and not after it expired', () => {
    let now = 1000;
    const tickets = new SealTickets({ ttlMs: 30_000, now: () => now });
    const contexts: string[] = [];
    const a = tickets.issue({
      grant: grant('c1'),
      material: (t) => {
        contexts.push(t.toString('hex'));
        return Buffer.alloc(64, 7);
      },
      issuedBy: 's1',
    });
    assert.match(a, /^[0-9a-f]{32}$/);
    assert.deepEqual(contexts, [a], 'the material is exported with the ticket as context');
    const taken = tickets.take(a);
    assert.equal(taken?.issuedBy, 's1');
    assert.equal(taken?.grant.credentialId, 'c1');
    assert.ok(taken?.material.equals(Buffer.alloc(64, 7)));
    assert.equal(tickets.take(a), undefined, 'a ticket is used once');
    const b = tickets.issue({ grant: grant('c1'), material: () => Buffer.alloc(64, 1), issuedBy: 's1' });
    now += 30_000;
    assert.equal(tickets.take(b), undefined, 'an expired ticket gives nothing');
    assert.equal(tickets.size, 0);
  });

  it('drops the tickets of revoked credentials, and wipes what it drops', () => {
    const tickets = new SealTickets();
    const material = Buffer.alloc(64, 9);
    const a = tickets.issue({ grant: grant('gone'), material: () => material, issuedBy: 's1' });
    const b = tickets.issue({ grant: grant('kept'), material: () => Buffer.alloc(64, 1), issuedBy: 's2' });
    tickets.retain((id) => id === 'kept');
    assert.equal(tickets.take(a), undefined);
    assert.ok(material.equals(Buffer.alloc(64)), 'the dropped material was zeroed');
    assert.ok(tickets.take(b));
    tickets.issue({ grant: grant('kept'), material: () => Buffer.alloc(64, 1), issuedBy: 's2' });
    tickets.clear();
    assert.equal(tickets.size, 0);
  });
});
