import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { RemoteSource } from '../../src/client/remote-source.ts';
import { FsError } from '../../src/core/fs-error.ts';
import { addExport, initHome } from '../../src/core/home.ts';
import { ensureOwnerCredential, readOwnerCredential } from '../../src/node/credentials.ts';
import { CHEAP_ARGON2 } from '../helpers/argon2.ts';

describe('client: a dropped connection', () => {
  let home: string;
  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'tessera-drop-'));
    await initHome({ root: home, name: 'drop' });
    await addExport({
      root: home,
      entry: { name: 'mem', kind: 'memory', path: '', ro: false, desc: '', options: {} },
    });
    await ensureOwnerCredential({ home, argon2: CHEAP_ARGON2 });
  });
  after(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('fails every call in flight and every waiter with a retryable error within a second', async (t) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, 'fixtures/serve-child.ts'), home],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    t.after(() => child.kill('SIGKILL'));
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout }).once('line', resolve);
      child.once('exit', (code) => reject(new Error(`node exited early (${code})`)));
    });
    const { url, fingerprint } = JSON.parse(line) as { url: string; fingerprint: string };
    const credential = await readOwnerCredential({ home });
    const src = new RemoteSource({
      connect: { url, credential: { id: credential.id, secret: credential.secret }, trust: { fingerprint } },
    });
    await src.open();
    const root = (await src.listExports()).find((e) => e.name === '/mem')!.root;
    const f = await src.create({ parent: root, name: 'locked', mode: 0o644 });
    await src.closeFile({ handle: f.handle });
    const h1 = (await src.openFile({ id: f.id, flags: { read: true, write: true } })).handle;
    const h2 = (await src.openFile({ id: f.id, flags: { read: true, write: true } })).handle;
    await src.lock({ handle: h1, cmd: 'set', type: 'write', start: 0, length: 0 });

    const inFlight = [
      src.wait({ id: root, timeoutMs: 60_000 }),
      src.lock({ handle: h2, cmd: 'wait', type: 'write', start: 0, length: 0 }),
      src.getattr({ id: root }).then(() => src.wait({ id: f.id, timeoutMs: 60_000 })),
    ];
    const settled = Promise.allSettled(inFlight);
    await new Promise((r) => setTimeout(r, 100));
    const killedAt = performance.now();
    child.kill('SIGKILL');
    const results = await settled;
    const elapsed = performance.now() - killedAt;
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      const err = r.reason as unknown;
      assert.ok(FsError.is(err, 'ECONNRESET'), `expected ECONNRESET, got ${String(err)}`);
      assert.equal(err.retryable, true);
      assert.match(err.message, /connection to the node was lost/);
    }
    assert.ok(elapsed < 1000, `waiters failed ${Math.round(elapsed)} ms after the drop`);
    await assert.rejects(src.getattr({ id: root }), (e: unknown) => FsError.is(e) && e.retryable);
    await src.close();
  });
});
