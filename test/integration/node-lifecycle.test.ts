import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { rootId } from '../../src/core/ids.ts';
import { auditFile } from '../../src/node/audit.ts';
import type { FsError } from '../../src/core/fs-error.ts';
import { disableCredential, readOwnerCredential, removeCredential } from '../../src/node/credentials.ts';
import { readRuntime } from '../../src/node/runtime.ts';
import { encodeBye } from '../../src/protocol/messages.ts';
import type { MemorySource } from '../../src/sources/memory/memory-source.ts';
import { credential, RawClient, session, startNode } from './node-harness.ts';
import { until } from '../helpers/until.ts';

const ALPHA = rootId(1).toString();

async function writeFile(c: RawClient, name: string, data: Buffer): Promise<string> {
  const created = (await c.call('CREATE', { parent: ALPHA, name, mode: 0o644 })).r as {
    id: string;
    handle: number;
  };
  for (let off = 0; off < data.length; off += 1024 * 1024) {
    await c.call('WRITE', { handle: created.handle, offset: off }, data.subarray(off, off + 1024 * 1024));
  }
  await c.call('CLOSE', { handle: created.handle });
  return created.id;
}

describe('node lifecycle', () => {
  it('an abruptly dropped session leaves no half-written file behind', async () => {
    const { node, home, stop } = await startNode();
    try {
      const owner = await readOwnerCredential(home);
      const watcher = await session(node, owner);
      const keptId = await writeFile(watcher, 'kept.txt', Buffer.from('old content'));

      const dropper = await session(node, owner);
      const created = (await dropper.call('CREATE', { parent: ALPHA, name: 'half.txt', mode: 0o644 })).r as {
        id: string;
        handle: number;
      };
      await dropper.call('WRITE', { handle: created.handle, offset: 0 }, Buffer.alloc(100_000, 1));
      const rewrite = (
        await dropper.call('OPEN', { id: keptId, flags: { read: false, write: true, truncate: true } })
      ).r as { handle: number };
      await dropper.call('WRITE', { handle: rewrite.handle, offset: 0 }, Buffer.from('new half'));
      const abruptBefore = node.metrics.ended.abrupt;
      dropper.terminate();
      await until(() => node.metrics.ended.abrupt > abruptBefore, 'the session to end');

      assert.equal((await watcher.fails('LOOKUP', { parent: ALPHA, name: 'half.txt' })).code, 'ENOENT');
      const list = (await watcher.call('READDIRP', { dir: ALPHA, cookie: '', max: 10 })).r as {
        entries: { name: string }[];
      };
      assert.deepEqual(
        list.entries.map((e) => e.name),
        ['kept.txt'],
      );
      const { handle } = (await watcher.call('OPEN', { id: keptId, flags: { read: true, write: false } }))
        .r as {
        handle: number;
      };
      assert.equal(
        (await watcher.call('READ', { handle, offset: 0, length: 100 })).payload?.toString(),
        'old content',
      );
      watcher.close();
      await node.audit.flush();
      const ends = (await readFile(auditFile(home), 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { event: string; how?: string; bytesIn?: number });
      const abrupt = ends.find((l) => l.event === 'session-end' && l.how === 'abrupt');
      assert.ok(abrupt, 'the drop is audited as abrupt');
      assert.ok((abrupt.bytesIn ?? 0) > 100_000, 'with the bytes it moved');
    } finally {
      await stop();
    }
  });

  it('disabling or removing a credential ends its running sessions', async () => {
    const { node, home, stop } = await startNode({ credentialCheckMs: 10 });
    try {
      const a = await credential({ home, name: 'a' });
      const b = await credential({ home, name: 'b' });
      const ca = await session(node, a);
      const cb = await session(node, b);
      const bystander = await session(node, await readOwnerCredential(home));
      await disableCredential({ home, id: a.id });
      await removeCredential({ home, id: b.id });
      for (const c of [ca, cb]) {
        assert.ok(await c.waitFor((m) => m.t === 'bye'), 'told why');
        assert.equal((await c.closed).code, 1000);
      }
      await until(() => node.metrics.ended.revoked === 2, 'both sessions to end');
      await bystander.call('PING', {});
      bystander.close();
      assert.equal(
        await RawClient.connect(node.url).then((c) => c.login(a).catch((e: FsError) => e.code)),
        'EKEYREJECTED',
      );
    } finally {
      await stop();
    }
  });

  it('cuts off a peer that stops answering pings, and only that one', async () => {
    const { node, home, stop } = await startNode({ limits: { heartbeatMs: 40 } });
    try {
      const owner = await readOwnerCredential(home);
      const silent = await session(node, owner);
      const lively = await session(node, owner);
      silent.ws.pause(); // reads nothing more: no pongs
      await until(() => node.metrics.ended.abrupt === 1, 'the silent peer to be cut off');
      await lively.call('PING', {});
      assert.equal(node.sessions().length, 1);
      lively.close();
      silent.ws.resume();
      await silent.closed;
    } finally {
      await stop();
    }
  });

  it('a client bye ends the session gracefully', async () => {
    const { node, home, stop } = await startNode();
    try {
      const c = await session(node, await readOwnerCredential(home));
      const before = node.metrics.ended.graceful;
      c.sendRaw(encodeBye('done'));
      assert.equal((await c.closed).code, 1000);
      await until(() => node.metrics.ended.graceful > before, 'the graceful end');
    } finally {
      await stop();
    }
  });

  it('closing the node answers requests in flight, cancels waits, says bye, and discards open writes', async () => {
    const { node, home, stop } = await startNode();
    let stopped = false;
    try {
      const owner = await readOwnerCredential(home);
      const setup = await session(node, owner);
      const bigId = await writeFile(setup, 'big', Buffer.alloc(4 * 1024 * 1024, 7));
      const queue = (await setup.call('MKDIR', { parent: ALPHA, name: 'queue', mode: 0o755 })).r as {
        id: string;
      };
      setup.close();
      assert.equal((await readRuntime(home))?.url, node.url);

      const c = await session(node, owner);
      const { handle } = (await c.call('OPEN', { id: bigId, flags: { read: true, write: false } })).r as {
        handle: number;
      };
      const writer = (await c.call('CREATE', { parent: ALPHA, name: 'unfinished', mode: 0o644 })).r as {
        handle: number;
      };
      await c.call('WRITE', { handle: writer.handle, offset: 0 }, Buffer.from('never visible'));
      const wait = c.send('WAIT', { id: queue.id, timeoutMs: 60_000 });
      const take = c.send('TAKE', { dir: queue.id, timeoutMs: 60_000 });
      const requestsBefore = node.metrics.requests;
      const reads = Array.from({ length: 40 }, () =>
        c.send('READ', { handle, offset: 0, length: 4 * 1024 * 1024 }),
      );
      // Close once the node has taken every read in (they are in flight, not yet answered).
      await until(() => node.metrics.requests >= requestsBefore + reads.length, 'the reads to start');
      const closing = node.close();
      const answers = await Promise.all(reads.map((id) => c.response(id)));
      for (const a of answers) {
        assert.equal(a.ok, true, 'an in-flight read is answered');
        assert.equal(a.ok && a.payload?.length, 4 * 1024 * 1024);
      }
      for (const id of [wait, take]) {
        const res = await c.response(id);
        assert.equal(res.ok, false);
        assert.equal(!res.ok && res.err.code, 'ESHUTDOWN');
        assert.equal(!res.ok && res.err.retryable, true);
      }
      assert.ok(await c.waitFor((m) => m.t === 'bye'), 'the node said bye');
      assert.equal((await c.closed).code, 1000);
      await closing;
      stopped = true;
      assert.equal(await readRuntime(home), undefined, 'runtime.json is removed');
      assert.equal(node.metrics.ended['server-shutdown'], 1);

      // The export's data outlives the node object: the unfinished file never got a name.
      const store = (node.namespace.table.bySlot(1)!.source as MemorySource).store;
      const names = [...store.dir(1n, 'test').children.keys()].sort();
      assert.deepEqual(names, ['big', 'queue']);
    } finally {
      if (!stopped) await node.close();
      await stop();
    }
  });
});
