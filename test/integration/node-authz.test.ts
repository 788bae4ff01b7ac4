import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FsError } from '../../src/core/fs-error.ts';
import { rootId } from '../../src/core/ids.ts';
import { readOwnerCredential } from '../../src/node/credentials.ts';
import { credential, type RawClient, session, startNode } from './node-harness.ts';

interface WireEntry {
  name?: string;
  id: string;
  attr: { kind: string; mode: number; size: number };
}

const ROOT = '1';
const ALPHA = rootId(1).toString();
const BETA = rootId(2).toString();

describe('node authorization', () => {
  let ctx: Awaited<ReturnType<typeof startNode>>;
  let owner: RawClient;
  let fileId: string;
  before(async () => {
    ctx = await startNode();
    owner = await session(ctx.node, await readOwnerCredential(ctx.home));
    // alpha/tool (0755, "#!/bin/sh"), beta/b.txt
    const created = (await owner.call('CREATE', { parent: ALPHA, name: 'tool', mode: 0o755 }))
      .r as WireEntry & {
      handle: number;
    };
    fileId = created.id;
    await owner.call('WRITE', { handle: created.handle, offset: 0 }, Buffer.from('#!/bin/sh\n'));
    await owner.call('CLOSE', { handle: created.handle });
    const b = (await owner.call('CREATE', { parent: BETA, name: 'b.txt', mode: 0o644 })).r as {
      handle: number;
    };
    await owner.call('CLOSE', { handle: b.handle });
  });
  after(async () => {
    owner.close();
    await ctx.stop();
  });

  it('a read-only credential reads but every write op answers EACCES', async () => {
    const cred = await credential({ home: ctx.home, name: 'reader', caps: { write: false } });
    const c = await session(ctx.node, cred);
    const { handle } = (await c.call('OPEN', { id: fileId, flags: { read: true, write: false } })).r as {
      handle: number;
    };
    const read = await c.call('READ', { handle, offset: 0, length: 100 });
    assert.equal(read.payload?.toString(), '#!/bin/sh\n');
    await c.call('CLOSE', { handle });
    const denied: [string, unknown, Buffer?][] = [
      ['CREATE', { parent: ALPHA, name: 'new', mode: 0o644 }],
      ['MKDIR', { parent: ALPHA, name: 'd', mode: 0o755 }],
      ['UNLINK', { parent: ALPHA, name: 'tool' }],
      ['RENAME', { parent: ALPHA, name: 'tool', newParent: ALPHA, newName: 'tool2' }],
      ['SETATTR', { id: fileId, size: 0 }],
      ['OPEN', { id: fileId, flags: { read: true, write: true } }],
      ['OPEN', { id: fileId, flags: { read: false, write: false, truncate: true } }],
      ['SETXATTR', { id: fileId, name: 'user.x' }, Buffer.from('v')],
      ['TAKE', { dir: ALPHA }],
    ];
    for (const [op, args, payload] of denied) {
      const err = await c.fails(op as 'CREATE', args, payload);
      assert.equal(err.code, 'EACCES', `${op} ${JSON.stringify(args)}: ${err.message}`);
    }
    const exports = (await c.call('EXPORTS', {})).r as {
      exports: { name: string; ro: boolean; caps: { writable: boolean } }[];
    };
    assert.ok(
      exports.exports.every((e) => e.ro && !e.caps.writable),
      'exports are reported read-only',
    );
    // Nothing changed.
    const list = (await owner.call('READDIRP', { dir: ALPHA, cookie: '', max: 100 })).r as {
      entries: WireEntry[];
    };
    assert.deepEqual(
      list.entries.map((e) => e.name),
      ['tool'],
    );
    c.close();
  });

  it('a credential scoped to one export does not see the other at all', async () => {
    const cred = await credential({ home: ctx.home, name: 'scoped', exports: ['alpha'] });
    const c = await session(ctx.node, cred);
    const exports = (await c.call('EXPORTS', {})).r as { exports: { name: string }[] };
    assert.deepEqual(
      exports.exports.map((e) => e.name),
      ['/', '/alpha'],
    );
    const root = (await c.call('READDIRP', { dir: ROOT, cookie: '', max: 100 })).r as {
      entries: WireEntry[];
    };
    assert.deepEqual(
      root.entries.map((e) => e.name),
      ['alpha'],
    );
    const lookup = await c.fails('LOOKUP', { parent: ROOT, name: 'beta' });
    assert.equal(lookup.code, 'ENOENT');
    for (const [op, args] of [
      ['GETATTR', { id: BETA }],
      ['READDIRP', { dir: BETA, cookie: '', max: 10 }],
      ['LOOKUP', { parent: BETA, name: 'b.txt' }],
      ['CREATE', { parent: BETA, name: 'x', mode: 0o644 }],
      ['WAIT', { id: BETA, timeoutMs: 10 }],
      ['RENAME', { parent: ALPHA, name: 'tool', newParent: BETA, newName: 'tool' }],
    ] as const) {
      const err: FsError = await c.fails(op, args);
      assert.equal(err.code, 'ESTALE', `${op}: ${err.message}`);
    }
    // Its own export works.
    const tool = (await c.call('LOOKUP', { parent: ALPHA, name: 'tool' })).r as WireEntry;
    assert.equal(tool.id, fileId);
    c.close();
  });

  it('without execute, x bits are cleared from files and cannot be set', async () => {
    const cred = await credential({ home: ctx.home, name: 'noexec', caps: { execute: false } });
    const c = await session(ctx.node, cred);
    const tool = (await c.call('LOOKUP', { parent: ALPHA, name: 'tool' })).r as WireEntry;
    assert.equal(tool.attr.mode, 0o644);
    const attr = (await c.call('GETATTR', { id: fileId })).r as WireEntry['attr'];
    assert.equal(attr.mode, 0o644);
    const listed = (await c.call('READDIRP', { dir: ALPHA, cookie: '', max: 10 })).r as {
      entries: WireEntry[];
    };
    assert.equal(listed.entries[0]?.attr.mode, 0o644);
    const root = (await c.call('GETATTR', { id: ALPHA })).r as WireEntry['attr'];
    assert.equal(root.mode & 0o111, 0o111, 'directories keep their search bits');
    const err = await c.fails('SETATTR', { id: fileId, mode: 0o700 });
    assert.equal(err.code, 'EACCES');
    await c.call('SETATTR', { id: fileId, mode: 0o640 });
    const created = (await c.call('CREATE', { parent: ALPHA, name: 'script', mode: 0o777 }))
      .r as WireEntry & {
      handle: number;
    };
    await c.call('CLOSE', { handle: created.handle });
    const seenByOwner = (await owner.call('GETATTR', { id: created.id })).r as WireEntry['attr'];
    assert.equal(seenByOwner.mode & 0o111, 0, 'created without x bits');
    const ownerView = (await owner.call('GETATTR', { id: fileId })).r as WireEntry['attr'];
    assert.equal(ownerView.mode, 0o640);
    c.close();
  });

  it('handles belong to their session', async () => {
    const { handle } = (await owner.call('OPEN', { id: fileId, flags: { read: true, write: false } })).r as {
      handle: number;
    };
    const other = await session(ctx.node, await credential({ home: ctx.home, name: 'other' }));
    for (const [op, args] of [
      ['READ', { handle, offset: 0, length: 10 }],
      ['CLOSE', { handle }],
      ['FLUSH', { handle }],
    ] as const) {
      const err = await other.fails(op, args);
      assert.equal(err.code, 'EBADF', op);
    }
    await owner.call('CLOSE', { handle });
    other.close();
  });
});
