// `tessera mount | mounts | unmount` against real nodes on loopback: node A mounts node B's
// export through the CLI (which edits A's tessera.toml), the running node A picks it up, the
// mount is listed with the endpoint serving it, survives a restart of A, and goes away on
// unmount. The secret never appears in the config or in any output.
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../../src/cli/cli.ts';
import type { CliIO } from '../../src/cli/io.ts';
import { FsError } from '../../src/core/fs-error.ts';
import { createNode, type TesseraNode } from '../../src/node/node.ts';
import { mountCredentialsFile } from '../../src/node/mount-credentials.ts';
import type { MountCounters } from '../../src/node/metrics.ts';
import { CHEAP_ARGON2, credential, makeHome, quietLogger, startNode } from './node-harness.ts';

async function cli(home: string, argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIO = {
    out: (t) => void (out += t),
    err: (t) => void (err += t),
    env: { TESSERA_HOME: home },
    cwd: home,
  };
  const code = await runCli({ argv, io });
  return { code, out, err };
}

async function eventually<T>(what: string, fn: () => Promise<T>, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${what}: ${String(err)}`, { cause: err });
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function readText(node: TesseraNode, path: string): Promise<string> {
  const ns = node.namespace;
  const e = await ns.resolve({ path });
  const { handle } = await ns.openFile({ id: e.id, flags: { read: true, write: false } });
  const bytes = await ns.read({ handle, offset: 0, length: 4096 });
  await ns.closeFile({ handle });
  return Buffer.from(bytes).toString();
}

describe('tessera mount, mounts, unmount', () => {
  let b: Awaited<ReturnType<typeof startNode>>;
  let aHome: { home: string; cleanup: () => Promise<void> };
  let a: TesseraNode | undefined;
  const startA = () =>
    createNode({ home: aHome.home, listen: '127.0.0.1:0', logger: quietLogger(), argon2: CHEAP_ARGON2 });

  before(async () => {
    b = await startNode({ exports: ['alpha'] });
    const root = (await b.node.namespace.resolve({ path: '/alpha' })).id;
    const f = await b.node.namespace.create({ parent: root, name: 'hello.txt', mode: 0o644 });
    await b.node.namespace.write({ handle: f.handle, offset: 0, data: Buffer.from('hello from B') });
    await b.node.namespace.closeFile({ handle: f.handle });
    aHome = await makeHome({ exports: [] });
    a = await startA();
  });
  after(async () => {
    await a?.close();
    await b.stop();
    await aHome.cleanup();
  });

  it('mounts through the CLI, lists the serving endpoint, persists across a restart, unmounts', async () => {
    const cred = await credential({ home: b.home, name: 'for-a', exports: ['alpha'] });
    const target = `${b.node.url.replace(/\/tessera$/, '')}/alpha`;
    const bad = await cli(aHome.home, [
      'mount',
      target.replace(/alpha$/, 'nope'),
      '--credential',
      `${cred.id}:${cred.secret}`,
    ]);
    assert.equal(bad.code, 2, bad.err);
    assert.match(bad.err, /no such export/);

    const res = await cli(aHome.home, [
      'mount',
      target,
      '--alias',
      'b',
      '--credential',
      `${cred.id}:${cred.secret}`,
    ]);
    assert.equal(res.code, 0, res.err);
    assert.match(res.out, /mounted b:\/alpha at \/b\/alpha/);
    const config = await readFile(join(aHome.home, 'tessera.toml'), 'utf8');
    assert.match(config, /\[\[mount\]\]/);
    assert.ok(!config.includes(cred.secret), 'the secret is not in the config');
    assert.equal((await stat(mountCredentialsFile(aHome.home))).mode & 0o777, 0o600);

    // The running node picks the mount up.
    assert.equal(await eventually('mounted', () => readText(a!, '/b/alpha/hello.txt')), 'hello from B');
    const listed = await eventually('status', async () => {
      const r = await cli(aHome.home, ['mounts', '--json']);
      const rows = JSON.parse(r.out) as { path: string; state: string; serving?: string }[];
      if (rows[0]?.serving === undefined) throw new Error('no serving endpoint yet');
      return { rows, out: r.out };
    });
    assert.equal(listed.rows.length, 1);
    assert.equal(listed.rows[0]!.path, '/b/alpha');
    assert.equal(listed.rows[0]!.state, 'mounted');
    assert.equal(listed.rows[0]!.serving, b.node.url);
    assert.ok(!listed.out.includes(cred.secret));
    const { cache, ...counters } = a!.metrics.snapshot().mounts as MountCounters;
    assert.deepEqual(counters, { active: 1, switches: 0, reconnects: 0, movedHandles: 0 });
    assert.equal(cache?.bytes, 'hello from B'.length, 'the read went through the client cache');
    assert.equal(cache?.rejected, 0);
    assert.match(a!.metrics.prometheusText(), /^tessera_cache_bytes 12$/m);
    const human = await cli(aHome.home, ['mounts']);
    assert.match(human.out, /\/b\/alpha\s+b\s+\/alpha\s+mounted/);

    // Persisted: a restarted node mounts it again from tessera.toml.
    await a!.close();
    a = await startA();
    assert.equal(await eventually('remounted', () => readText(a!, '/b/alpha/hello.txt')), 'hello from B');

    // B is down when A starts: A starts anyway, and the mount catches up (with the export's
    // real caps) once B is back on its address.
    const bPort = new URL(b.node.url).port;
    await a.close();
    await b.node.close();
    const started = Date.now();
    a = await startA();
    assert.ok(Date.now() - started < 8000, 'a node does not hang on a mount that is down');
    const assumed = (await a.namespace.listExports()).find((e) => e.name === '/b/alpha');
    assert.equal(assumed?.caps.native_watch, false, 'caps are assumed while no endpoint answered');
    const bAgain = await createNode({
      home: b.home,
      listen: `127.0.0.1:${bPort}`,
      logger: quietLogger(),
      argon2: CHEAP_ARGON2,
    });
    try {
      await eventually(
        'real caps after the endpoint came up',
        async () => {
          const exp = (await a!.namespace.listExports()).find((e) => e.name === '/b/alpha');
          assert.equal(exp?.caps.native_watch, true);
        },
        10_000,
      );
      // B's export is in memory: it comes back empty.
      const root = (await bAgain.namespace.resolve({ path: '/alpha' })).id;
      const f = await bAgain.namespace.create({ parent: root, name: 'again.txt', mode: 0o644 });
      await bAgain.namespace.write({ handle: f.handle, offset: 0, data: Buffer.from('B is back') });
      await bAgain.namespace.closeFile({ handle: f.handle });
      assert.equal(await eventually('read', () => readText(a!, '/b/alpha/again.txt')), 'B is back');
    } finally {
      await bAgain.close();
    }

    const un = await cli(aHome.home, ['unmount', '/b/alpha']);
    assert.equal(un.code, 0, un.err);
    await eventually('unmounted', async () => {
      await assert.rejects(a!.namespace.resolve({ path: '/b/alpha' }), (e: unknown) =>
        FsError.is(e, 'ENOENT'),
      );
    });
    assert.equal((await cli(aHome.home, ['unmount', '/b/alpha'])).code, 2);
    const creds = await readFile(mountCredentialsFile(aHome.home), 'utf8');
    assert.ok(!creds.includes(cred.id), 'the credential only that mount used is forgotten');
  });
});
