// Remote mounts with real nodes on loopback: an alias over two nodes serving the same
// directory fails over in the middle of a read (the serving node is SIGKILLed) and the read
// completes byte-identical; an alias reconnects to a restarted node (a new session, caches
// told to revalidate, a woken waiter can retry); renames between sources give EXDEV unless
// the mount's policy allows copy + unlink.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { RemoteSource } from '../../src/client/remote-source.ts';
import type { ConnectOptions } from '../../src/client/connection.ts';
import { FsError } from '../../src/core/fs-error.ts';
import { addExport } from '../../src/core/home.ts';
import { rootId } from '../../src/core/ids.ts';
import { AliasSource } from '../../src/namespace/alias-source.ts';
import { Namespace } from '../../src/namespace/namespace.ts';
import { readOwnerCredential } from '../../src/node/credentials.ts';
import { createNode } from '../../src/node/node.ts';
import { MemorySource } from '../../src/sources/memory/memory-source.ts';
import type { Invalidation, Source } from '../../src/sources/source.ts';
import { CHEAP_ARGON2, makeHome, quietLogger } from './node-harness.ts';

const MiB = 1024 * 1024;

/** A node in a child process (so it can be killed), serving `dir` as export `disk`. */
interface ChildNode {
  home: string;
  url: string;
  fingerprint: string;
  child: ChildProcess;
}

async function diskHome(dir: string): Promise<{ home: string; cleanup: () => Promise<void> }> {
  const made = await makeHome({ exports: [] });
  await addExport({
    root: made.home,
    entry: { name: 'disk', kind: 'linux', path: dir, ro: false, desc: '', options: {} },
  });
  return made;
}

async function spawnNode(home: string, listen?: string): Promise<ChildNode> {
  const args = ['--import', 'tsx', join(import.meta.dirname, 'fixtures/serve-child.ts'), home];
  if (listen) args.push(listen);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`node exited early (${code})`)));
  });
  const { url, fingerprint } = JSON.parse(line) as { url: string; fingerprint: string };
  return { home, url, fingerprint, child };
}

async function kill(node: ChildNode): Promise<void> {
  if (node.child.exitCode !== null || node.child.signalCode !== null) return;
  const exited = new Promise((r) => node.child.once('exit', r));
  node.child.kill('SIGKILL');
  await exited;
}

async function endpointOf(node: { home: string; url: string; fingerprint: string }): Promise<ConnectOptions> {
  const cred = await readOwnerCredential({ home: node.home });
  return {
    url: node.url,
    credential: { id: cred.id, secret: cred.secret },
    trust: { fingerprint: node.fingerprint },
  };
}

async function readAll(
  src: Source,
  handle: number,
  size: number,
  onChunk?: (offset: number) => Promise<void>,
) {
  const hash = createHash('sha256');
  for (let offset = 0; offset < size; offset += MiB) {
    await onChunk?.(offset);
    const bytes = await src.read({ handle, offset, length: MiB });
    hash.update(bytes);
  }
  return hash.digest('hex');
}

describe('remote mounts: alias failover and reconnect', () => {
  let dir: string;
  const cleanups: (() => Promise<void>)[] = [];
  const size = 12 * MiB;
  let digest: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-alias-'));
    const data = randomBytes(size);
    digest = createHash('sha256').update(data).digest('hex');
    await writeFile(join(dir, 'big.bin'), data);
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c();
    await rm(dir, { recursive: true, force: true });
  });

  it('a read completes byte-identical across a killed serving endpoint', async () => {
    const homes = [await diskHome(dir), await diskHome(dir)];
    cleanups.push(...homes.map((h) => h.cleanup));
    const nodes = [await spawnNode(homes[0]!.home), await spawnNode(homes[1]!.home)];
    cleanups.push(...nodes.map((n) => () => kill(n)));
    const alias = new AliasSource({
      alias: 'pair',
      exportName: '/disk',
      endpoints: [await endpointOf(nodes[0]!), await endpointOf(nodes[1]!)],
      logger: quietLogger(),
      backoff: { baseMs: 100, maxMs: 1000 },
    });
    await alias.open();
    cleanups.push(() => alias.close());
    const events: Invalidation[] = [];
    alias.watch((ev) => events.push(ev));
    const f = await alias.lookup({ parent: rootId(1), name: 'big.bin' });
    const { handle } = await alias.openFile({ id: f.id, flags: { read: true, write: false } });
    let killed: string | undefined;
    const got = await readAll(alias, handle, size, async (offset) => {
      if (offset !== 4 * MiB) return;
      killed = alias.status().serving;
      const victim = nodes.find((n) => n.url === killed);
      assert.ok(victim, `serving endpoint ${killed} is one of the nodes`);
      await kill(victim);
    });
    assert.equal(got, digest, 'the bytes read across the failover are the file');
    await alias.closeFile({ handle });
    const status = alias.status();
    assert.notEqual(status.serving, killed);
    assert.equal(status.movedHandles, 1);
    assert.ok(status.switchCount >= 1);
    assert.match(status.switches.at(-1)!.reason, /failover/);
    assert.equal(status.switches.at(-1)!.from, killed);
    assert.equal(status.endpoints.find((e) => e.url === killed)?.state === 'up', false);
    assert.ok(
      events.some((ev) => ev.kind === 'tree' && ev.id === rootId(1)),
      'a switch tells caches to revalidate',
    );
    // Other operations keep working on the survivor without an error.
    assert.equal((await alias.getattr({ id: f.id })).size, size);
  });

  it('reconnects to a restarted node: a new session, a tree invalidation, and a woken waiter can retry', async () => {
    const made = await diskHome(dir);
    cleanups.push(made.cleanup);
    let node = await spawnNode(made.home);
    cleanups.push(() => kill(node));
    const port = new URL(node.url).port;
    const alias = new AliasSource({
      alias: 'solo',
      exportName: '/disk',
      endpoints: [await endpointOf(node)],
      logger: quietLogger(),
      backoff: { baseMs: 100, maxMs: 800 },
      waitMs: 20_000,
    });
    await alias.open();
    cleanups.push(() => alias.close());
    const events: Invalidation[] = [];
    alias.watch((ev) => events.push(ev));
    const f = await alias.lookup({ parent: rootId(1), name: 'big.bin' });
    const { handle } = await alias.openFile({ id: f.id, flags: { read: true, write: false } });
    const first = Buffer.from(await alias.read({ handle, offset: 0, length: 4096 }));

    // Another session holds a write lock; the alias's lock request waits for it.
    const other = new RemoteSource({ connect: await endpointOf(node) });
    await other.open();
    const root = (await other.listExports()).find((e) => e.name === '/disk')!.root;
    const of = await other.lookup({ parent: root, name: 'big.bin' });
    const oh = (await other.openFile({ id: of.id, flags: { read: true, write: true } })).handle;
    await other.lock({ handle: oh, cmd: 'set', type: 'write', start: 0, length: 0 });
    const waiter = alias.lock({ handle, cmd: 'wait', type: 'read', start: 0, length: 1 });
    const woken = waiter.then(
      () => undefined,
      (err: unknown) => err,
    );
    await new Promise((r) => setTimeout(r, 100));
    await kill(node);
    const err = await woken;
    assert.ok(FsError.is(err) && err.retryable, `the waiter is woken with a retryable error: ${String(err)}`);
    await other.close().catch(() => undefined);
    assert.notEqual(alias.endpoints[0]!.state, 'up');

    // The node comes back on the same address; calls made meanwhile wait for the new session.
    const pending = alias.getattr({ id: f.id });
    node = await spawnNode(made.home, `127.0.0.1:${port}`);
    assert.equal((await pending).size, size);
    assert.equal(alias.status().endpoints[0]!.sessions, 2, 'a new session, not a resumed one');
    assert.ok(
      events.some((ev) => ev.kind === 'tree' && ev.id === rootId(1)),
      'caches told to revalidate',
    );
    // The waiter retries and gets its lock (the old holder's session is gone); the read handle moved.
    assert.equal(await alias.lock({ handle, cmd: 'wait', type: 'read', start: 0, length: 1 }), null);
    assert.deepEqual(Buffer.from(await alias.read({ handle, offset: 0, length: 4096 })), first);
    await alias.closeFile({ handle });
  });
});

describe('remote mounts: renames between sources', () => {
  it('give EXDEV, or move by copy + unlink when the policy allows, never losing the source', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-xdev-'));
    const made = await diskHome(dir);
    const node = await createNode({
      home: made.home,
      listen: '127.0.0.1:0',
      logger: quietLogger(),
      argon2: CHEAP_ARGON2,
    });
    const alias = new AliasSource({
      alias: 'b',
      exportName: '/disk',
      endpoints: [await endpointOf({ home: made.home, url: node.url, fingerprint: node.fingerprint! })],
      logger: quietLogger(),
    });
    const mem = new MemorySource({ name: 'mem', exportIndex: 1 });
    try {
      await alias.open();
      await mem.open();
      const mount = async (rename: 'exdev' | 'copy') => {
        const ns = new Namespace();
        await ns.open();
        await ns.mount({ path: '/b/disk', source: alias, exportName: '/disk' });
        await ns.mount({ path: '/local', source: mem, exportName: 'mem', rename });
        return ns;
      };
      const put = async (ns: Namespace, parent: bigint, name: string, text: string) => {
        const c = await ns.create({ parent, name, mode: 0o640 });
        await ns.write({ handle: c.handle, offset: 0, data: Buffer.from(text) });
        await ns.closeFile({ handle: c.handle });
      };
      const text = async (ns: Namespace, parent: bigint, name: string) => {
        const e = await ns.lookup({ parent, name });
        const { handle } = await ns.openFile({ id: e.id, flags: { read: true, write: false } });
        const bytes = await ns.read({ handle, offset: 0, length: 1 << 20 });
        await ns.closeFile({ handle });
        return Buffer.from(bytes).toString();
      };

      const strict = await mount('exdev');
      const local = (await strict.resolve({ path: '/local' })).id;
      const remote = (await strict.resolve({ path: '/b/disk' })).id;
      await put(strict, local, 'a.txt', 'move me');
      await assert.rejects(
        strict.rename({ parent: local, name: 'a.txt', newParent: remote, newName: 'a.txt' }),
        (e: unknown) => FsError.is(e, 'EXDEV'),
      );
      assert.equal(await text(strict, local, 'a.txt'), 'move me');
      await strict.close();

      const lenient = await mount('copy');
      const l2 = (await lenient.resolve({ path: '/local' })).id;
      const r2 = (await lenient.resolve({ path: '/b/disk' })).id;
      await lenient.rename({ parent: l2, name: 'a.txt', newParent: r2, newName: 'moved.txt' });
      assert.equal(await text(lenient, r2, 'moved.txt'), 'move me');
      await assert.rejects(lenient.lookup({ parent: l2, name: 'a.txt' }), (e: unknown) =>
        FsError.is(e, 'ENOENT'),
      );
      assert.equal((await lenient.lookup({ parent: r2, name: 'moved.txt' })).attr.mode & 0o777, 0o640);
      // And back the other way (out of the remote mount into the copy-policy mount).
      await lenient.rename({ parent: r2, name: 'moved.txt', newParent: l2, newName: 'back.txt' });
      assert.equal(await text(lenient, l2, 'back.txt'), 'move me');

      // The destination-exists guard: refused, both files as they were, no staging left over.
      await put(lenient, r2, 'taken.txt', 'remote copy');
      await assert.rejects(
        lenient.rename({ parent: l2, name: 'back.txt', newParent: r2, newName: 'taken.txt' }),
        (e: unknown) => FsError.is(e, 'EEXIST'),
      );
      assert.equal(await text(lenient, l2, 'back.txt'), 'move me');
      assert.equal(await text(lenient, r2, 'taken.txt'), 'remote copy');
      const names = (await lenient.readdirp({ dir: r2, cookie: '', max: 100 })).entries.map((e) => e.name);
      assert.deepEqual(
        names.filter((n) => n.startsWith('.tessera-move-')),
        [],
      );

      // Directories are not moved between sources.
      await lenient.mkdir({ parent: l2, name: 'tree', mode: 0o755 });
      await assert.rejects(
        lenient.rename({ parent: l2, name: 'tree', newParent: r2, newName: 'tree' }),
        (e: unknown) => FsError.is(e, 'EXDEV'),
      );
      await lenient.close();
    } finally {
      await alias.close();
      await mem.close();
      await node.close();
      await made.cleanup();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
