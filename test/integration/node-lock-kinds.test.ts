// LOCK's `kind` over the wire: a session that negotiated v2 keeps flocks apart from POSIX
// locks; a client that speaks v1 only never sends the field (a v1 node would refuse it), so
// its flocks are whole-file POSIX locks as before v2, and its locks still work.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import type { RemoteSource } from '../../src/client/remote-source.ts';
import type { TesseraNode } from '../../src/node/node.ts';
import { PROTOCOL_VERSION } from '../../src/protocol/version.ts';
import type { Handle, LockType } from '../../src/sources/source.ts';
import { expectErr, writeFile } from '../conformance/helpers.ts';
import { connect, startNode } from '../helpers/remote-node.ts';

describe('LOCK kinds over the wire', () => {
  let node: TesseraNode;
  let home: string;
  let v2: RemoteSource;
  let v1: RemoteSource;
  before(async () => {
    ({ node, home } = await startNode({ memory: true }));
    v2 = await connect(node, home);
    v1 = await connect(node, home, { versions: { min: 1, max: 1 } });
  });
  after(async () => {
    await v1.close();
    await v2.close();
    await node.close();
    await rm(home, { recursive: true, force: true });
  });

  it('a v1 session still locks; its flock falls back to a whole-file POSIX lock', async () => {
    assert.equal(v2.connection.session.version, PROTOCOL_VERSION);
    assert.equal(v1.connection.session.version, 1);
    const root = (await v2.listExports()).find((e) => e.name === '/mem')!.root;
    const f = await writeFile(v2, root, 'f', 'data');
    const open = async (src: RemoteSource) =>
      (await src.openFile({ id: f.id, flags: { read: true, write: false } })).handle;
    const lock = (src: RemoteSource, handle: Handle, type: LockType, kind?: 'flock') =>
      src.lock({ handle, cmd: 'set', type, start: 0, length: 0, kind });
    const [a, b, c] = [await open(v2), await open(v2), await open(v1)];
    try {
      await lock(v2, a, 'read');
      await lock(v2, b, 'write', 'flock'); // v2: another lock space
      await lock(v2, b, 'unlock', 'flock');
      await expectErr('EAGAIN', lock(v1, c, 'write', 'flock')); // v1: meets a's POSIX lock
      await lock(v1, c, 'read', 'flock');
      // It sits in the POSIX space: a v2 POSIX writer sees it, a v2 flock does not.
      await lock(v2, a, 'unlock');
      assert.equal(
        (await v2.lock({ handle: b, cmd: 'test', type: 'write', start: 0, length: 1 }))?.type,
        'read',
      );
      await lock(v2, b, 'write', 'flock');
      await lock(v1, c, 'unlock', 'flock');
      await lock(v2, a, 'write');
    } finally {
      for (const h of [a, b]) await v2.closeFile({ handle: h }).catch(() => undefined);
      await v1.closeFile({ handle: c }).catch(() => undefined);
    }
  });
});
