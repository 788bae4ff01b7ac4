import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { rootId } from '../../src/core/ids.ts';
import { readOwnerCredential } from '../../src/node/credentials.ts';
import { encodeCancel, type ServerMessage } from '../../src/protocol/messages.ts';
import { credential, type RawClient, session, startNode } from './node-harness.ts';

const ALPHA = rootId(1).toString();
const BETA = rootId(2).toString();

async function put(c: RawClient, parent: string, name: string, data: Buffer): Promise<string> {
  const created = (await c.call('CREATE', { parent, name, mode: 0o644 })).r as { id: string; handle: number };
  for (let off = 0; off < data.length || off === 0; off += 1024 * 1024) {
    await c.call('WRITE', { handle: created.handle, offset: off }, data.subarray(off, off + 1024 * 1024));
    if (data.length === 0) break;
  }
  await c.call('CLOSE', { handle: created.handle });
  return created.id;
}

async function mkdir(c: RawClient, parent: string, name: string): Promise<string> {
  return ((await c.call('MKDIR', { parent, name, mode: 0o755 })).r as { id: string }).id;
}

type Push = Extract<ServerMessage, { t: 'push' }>;

describe('node ops', () => {
  let ctx: Awaited<ReturnType<typeof startNode>>;
  let c: RawClient;
  before(async () => {
    ctx = await startNode();
    c = await session(ctx.node, await readOwnerCredential(ctx.home));
  });
  after(async () => {
    c.close();
    await ctx.stop();
  });

  it('HASH is the sha256 of the bytes the node holds', async () => {
    const data = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
    const id = await put(c, ALPHA, 'hashed', data);
    const r = (await c.call('HASH', { id, algo: 'sha256' })).r as { algo: string; hex: string; size: number };
    assert.deepEqual(r, {
      algo: 'sha256',
      hex: createHash('sha256').update(data).digest('hex'),
      size: data.length,
    });
    assert.equal((await c.fails('HASH', { id: ALPHA })).code, 'EISDIR');
  });

  it('SUBSCRIBE pushes batched INVALIDATE events, only for visible exports', async () => {
    const scoped = await session(
      ctx.node,
      await credential({ home: ctx.home, name: 'sub', exports: ['alpha'] }),
    );
    const { sub } = (await scoped.call('SUBSCRIBE', {})).r as { sub: number };
    await put(c, BETA, 'invisible.txt', Buffer.from('x'));
    await put(c, ALPHA, 'one.txt', Buffer.from('1'));
    await put(c, ALPHA, 'two.txt', Buffer.from('2'));
    const seen = new Set<string>();
    while (!seen.has('two.txt')) {
      const push = (await scoped.waitFor(
        (m) => m.t === 'push' && !(m as Push & { seen?: boolean }).seen,
      )) as Push & { seen?: boolean };
      push.seen = true;
      assert.equal(push.ev, 'INVALIDATE');
      assert.equal(push.body.sub, sub);
      for (const ev of push.body.events as { kind: string; parent?: string; name?: string }[]) {
        assert.notEqual(ev.parent, BETA, 'no events of an export the credential cannot see');
        if (ev.kind === 'entry' && ev.name) seen.add(ev.name);
      }
    }
    assert.ok(seen.has('one.txt'));
    assert.ok(!seen.has('invisible.txt'));
    await scoped.call('UNSUBSCRIBE', { sub });
    assert.equal((await scoped.fails('UNSUBSCRIBE', { sub })).code, 'EINVAL');
    scoped.close();
  });

  it('WAIT answers on a change, on timeout, and on cancel', async () => {
    const dir = await mkdir(c, ALPHA, 'waited');
    const waiting = c.send('WAIT', { id: dir, timeoutMs: 60_000 });
    await c.call('PING', {}); // the WAIT is registered before the change
    await put(c, dir, 'poke', Buffer.from('!'));
    const res = await c.response(waiting);
    assert.ok(res.ok);
    const r = res.r as { changed: boolean; events: { kind: string; parent: string; name: string }[] };
    assert.equal(r.changed, true);
    assert.deepEqual(r.events[0], { kind: 'entry', parent: dir, name: 'poke' });

    const quiet = (await c.call('WAIT', { id: dir, timeoutMs: 1 })).r as { changed: boolean };
    assert.equal(quiet.changed, false);

    const cancelled = c.send('WAIT', { id: dir, timeoutMs: 60_000 });
    c.sendRaw(encodeCancel(cancelled));
    const cres = await c.response(cancelled);
    assert.equal(!cres.ok && cres.err.code, 'ECANCELED');
  });

  it('TAKE hands out the oldest entry once, waits for new ones, and says EAGAIN when empty', async () => {
    const q = await mkdir(c, ALPHA, 'queue');
    assert.equal((await c.fails('TAKE', { dir: q })).code, 'EAGAIN');
    for (const name of ['003', '001', '002']) await put(c, q, name, Buffer.from(`job ${name}`));
    const other = await session(ctx.node, await readOwnerCredential(ctx.home));
    // Four takers race for three entries: each entry goes to exactly one of them.
    const ids = [c.send('TAKE', { dir: q }), other.send('TAKE', { dir: q }), c.send('TAKE', { dir: q })];
    const late = other.send('TAKE', { dir: q });
    const got = await Promise.all([c.response(ids[0]!), other.response(ids[1]!), c.response(ids[2]!)]);
    const names = got.map((g) => (g.ok ? (g.r as { name: string }).name : g.err.code));
    assert.deepEqual([...names].sort(), ['001', '002', '003']);
    assert.equal(names[0], '001', 'the first TAKE gets the oldest name');
    for (const g of got) {
      assert.ok(g.ok);
      assert.equal(g.payload?.toString(), `job ${(g.r as { name: string }).name}`);
    }
    const lateRes = await other.response(late);
    assert.equal(!lateRes.ok && lateRes.err.code, 'EAGAIN');
    // A waiting TAKE is woken by a new entry.
    const waiting = other.send('TAKE', { dir: q, timeoutMs: 60_000 });
    await other.call('PING', {});
    await put(c, q, '004', Buffer.from('job 004'));
    const woke = await other.response(waiting);
    assert.ok(woke.ok);
    assert.deepEqual(woke.r, { name: '004', size: 7 });
    const list = (await c.call('READDIRP', { dir: q, cookie: '', max: 10 })).r as { entries: unknown[] };
    assert.equal(list.entries.length, 0, 'taken entries are gone');
    const timedOut = (await other.fails('TAKE', { dir: q, timeoutMs: 1 })).code;
    assert.equal(timedOut, 'EAGAIN');
    other.close();
  });

  it('answers every one of many more than 256 requests in flight', async () => {
    const id = await put(c, ALPHA, 'small', Buffer.from('0123456789'));
    const { handle } = (await c.call('OPEN', { id, flags: { read: true, write: false } })).r as {
      handle: number;
    };
    const sent = Array.from({ length: 1500 }, (_, i) =>
      c.send('READ', { handle, offset: i % 10, length: 1 }),
    );
    const answers = await Promise.all(sent.map((rid) => c.response(rid)));
    answers.forEach((a, i) => {
      assert.ok(a.ok);
      assert.equal(a.payload?.toString(), String(i % 10));
    });
    await c.call('CLOSE', { handle });
  });

  it('moves large files through pipelined reads and writes', async () => {
    const data = Buffer.alloc(24 * 1024 * 1024);
    for (let i = 0; i < data.length; i += 4096) data.writeUInt32BE(i, i);
    const created = (await c.call('CREATE', { parent: ALPHA, name: 'large', mode: 0o644 })).r as {
      id: string;
      handle: number;
    };
    const chunk = 1024 * 1024;
    const writes = [];
    for (let off = 0; off < data.length; off += chunk)
      writes.push(c.send('WRITE', { handle: created.handle, offset: off }, data.subarray(off, off + chunk)));
    for (const w of writes) assert.ok((await c.response(w)).ok);
    await c.call('CLOSE', { handle: created.handle });
    const { handle } = (await c.call('OPEN', { id: created.id, flags: { read: true, write: false } })).r as {
      handle: number;
    };
    const reads = [];
    for (let off = 0; off < data.length; off += chunk)
      reads.push(c.send('READ', { handle, offset: off, length: chunk }));
    const parts = await Promise.all(reads.map(async (r) => (await c.response(r)) as { payload?: Buffer }));
    assert.ok(Buffer.concat(parts.map((p) => p.payload!)).equals(data));
    assert.equal((await c.fails('READ', { handle, offset: 0, length: 32 * 1024 * 1024 })).code, 'EINVAL');
    await c.call('CLOSE', { handle });
  });

  it('keeps lock owners of different sessions apart, and a cancelled lock wait takes nothing', async () => {
    const id = await put(c, ALPHA, 'locked', Buffer.from('data'));
    const other = await session(ctx.node, await readOwnerCredential(ctx.home));
    const h1 = ((await c.call('OPEN', { id, flags: { read: true, write: true } })).r as { handle: number })
      .handle;
    const h2 = (
      (await other.call('OPEN', { id, flags: { read: true, write: true } })).r as { handle: number }
    ).handle;
    const lock = { cmd: 'set', type: 'write', start: 0, length: 0, owner: 'me' };
    await c.call('LOCK', { handle: h1, ...lock });
    // Same owner name in another session is another owner.
    assert.equal((await other.fails('LOCK', { handle: h2, ...lock })).code, 'EAGAIN');
    const conflict = (await other.call('LOCK', { handle: h2, ...lock, cmd: 'test' })).r as {
      conflict: { owner: string } | null;
    };
    assert.equal(conflict.conflict?.owner, 'another owner');
    const mine = (await c.call('LOCK', { handle: h1, ...lock, cmd: 'test', owner: 'you' })).r as {
      conflict: { owner: string } | null;
    };
    assert.equal(mine.conflict?.owner, 'me', 'a session sees its own owner names');
    const waiting = other.send('LOCK', { handle: h2, ...lock, cmd: 'wait' });
    await other.call('PING', {});
    other.sendRaw(encodeCancel(waiting));
    const res = await other.response(waiting);
    assert.equal(!res.ok && res.err.code, 'ECANCELED');
    await c.call('CLOSE', { handle: h1 }); // releases "me" of this session
    await other.call('PING', {});
    // The cancelled wait did not keep the lock: a third try gets it at once.
    await other.call('LOCK', { handle: h2, ...lock, owner: 'again' });
    await other.call('CLOSE', { handle: h2 });
    other.close();
  });
});

describe('node backpressure', () => {
  it('runs at most maxInFlight requests of a session at once', async () => {
    const ctx = await startNode({ limits: { maxInFlight: 4 } });
    try {
      const c = await session(ctx.node, await readOwnerCredential(ctx.home));
      const order: number[] = [];
      const waits = Array.from({ length: 4 }, () => c.send('WAIT', { id: ALPHA, timeoutMs: 150 }));
      const ping = c.send('PING', {});
      await Promise.all(
        [...waits, ping].map(async (id) => {
          await c.response(id);
          order.push(id);
        }),
      );
      assert.notEqual(order[0], ping, 'the fifth request waited for a slot');
      c.close();
    } finally {
      await ctx.stop();
    }
  });

  it('a reader that stops reading holds back only its own session', async () => {
    const ctx = await startNode();
    try {
      const owner = await readOwnerCredential(ctx.home);
      const slow = await session(ctx.node, owner);
      const fast = await session(ctx.node, owner);
      const id = await put(fast, ALPHA, 'blob', Buffer.alloc(1024 * 1024, 3));
      const { handle } = (await slow.call('OPEN', { id, flags: { read: true, write: false } })).r as {
        handle: number;
      };
      slow.ws.pause();
      const reads = Array.from({ length: 64 }, () =>
        slow.send('READ', { handle, offset: 0, length: 1024 * 1024 }),
      );
      for (let i = 0; i < 20; i++) await fast.call('PING', {});
      await put(fast, ALPHA, 'meanwhile', Buffer.from('still working'));
      slow.ws.resume();
      for (const r of reads) {
        const res = await slow.response(r);
        assert.equal(res.ok && res.payload?.length, 1024 * 1024);
      }
      slow.close();
      fast.close();
    } finally {
      await ctx.stop();
    }
  });
});
