import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { access, readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { findCredential, ownerCredentialFile, readOwnerCredential } from '../../src/node/credentials.ts';
import { runtimeFile } from '../../src/node/runtime.ts';
import { tlsPaths } from '../../src/node/tls-ca.ts';
import { cli, makeHome, RawClient } from './node-harness.ts';

const BIN = join(resolve(dirname(fileURLToPath(import.meta.url)), '../..'), 'bin', 'tessera.js');

describe('tessera init, credentials and serve', () => {
  let home: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ home, cleanup } = await makeHome());
  });
  after(async () => {
    await cleanup();
  });

  it('init makes the TLS CA and keeps an owner credential (and leaves them alone the next time)', async () => {
    const { home: fresh, cleanup: done } = await makeHome({ exports: [] });
    try {
      // makeHome already made the owner credential; init adds the CA and keeps the credential.
      const owner = await readOwnerCredential(fresh);
      const run = await cli(['init', '--home', fresh]);
      assert.equal(run.code, 0, run.err);
      assert.match(run.out, /^already initialized /);
      assert.match(run.out, /\ntls ca {5}([0-9A-F]{2}:){31}[0-9A-F]{2}\n/);
      assert.match(run.out, new RegExp(`\\nowner key  ${owner.id} `));
      await access(tlsPaths(fresh).caCert);
      assert.equal((await stat(ownerCredentialFile(fresh))).mode & 0o777, 0o600);
      const again = await cli(['init', '--home', fresh]);
      assert.equal(again.out.match(/tls ca .*/)?.[0], run.out.match(/tls ca .*/)?.[0], 'the same CA');
    } finally {
      await done();
    }
  });

  it('credentials create prints the secret once; list, disable and remove manage it', async () => {
    const made = await cli([
      'credentials',
      'create',
      '--name',
      'ci-bot',
      '--export',
      'alpha',
      '--cap',
      'show,read',
      '--json',
      '--home',
      home,
    ]);
    assert.equal(made.code, 0, made.err);
    const { id, secret, exports, caps } = JSON.parse(made.out) as {
      id: string;
      secret: string;
      exports: string[];
      caps: Record<string, boolean>;
    };
    assert.match(id, /^tk_[a-z2-7]{20}$/);
    assert.ok(secret.length >= 32);
    assert.deepEqual(exports, ['alpha']);
    assert.deepEqual(caps, { show: true, read: true, write: false, execute: false });
    assert.ok(!(await readFile(join(home, 'credentials.json'), 'utf8')).includes(secret));

    const human = await cli(['credentials', 'create', '--name', 'person', '--home', home]);
    assert.equal(human.code, 0);
    assert.match(human.out, /\nsecret {3}\S{32,}\n/);
    assert.match(human.out, /shown only now/);

    const list = await cli(['credentials', 'list', '--home', home]);
    assert.match(list.out, /^ID +NAME +EXPORTS +CAPS +STATUS +CREATED\n/);
    assert.match(list.out, new RegExp(`${id} +ci-bot +alpha +show,read +active`));
    assert.match(list.out, /owner +\* +show,read,write,execute +active \(owner\)/);
    assert.ok(!list.out.includes(secret));

    assert.equal((await cli(['credentials', 'disable', id, '--home', home])).code, 0);
    assert.equal((await findCredential({ home, id }))?.disabled, true);
    const listed = JSON.parse((await cli(['credentials', 'list', '--json', '--home', home])).out) as {
      id: string;
      disabled: boolean;
    }[];
    assert.equal(listed.find((c) => c.id === id)?.disabled, true);
    assert.equal((await cli(['credentials', 'remove', id, '--home', home])).code, 0);
    assert.equal(await findCredential({ home, id }), undefined);
    const gone = await cli(['credentials', 'remove', id, '--home', home]);
    assert.equal(gone.code, 2);
    assert.match(gone.err, /ENOENT: no credential with this access key id/);
  });

  it('credentials create refuses bad input clearly', async () => {
    const badCap = await cli(['credentials', 'create', '--name', 'x', '--cap', 'read,fly', '--home', home]);
    assert.equal(badCap.code, 22);
    assert.match(badCap.err, /unknown capability 'fly'/);
    const badExport = await cli(['credentials', 'create', '--name', 'x', '--export', 'nope', '--home', home]);
    assert.equal(badExport.code, 2);
    assert.match(badExport.err, /no export named 'nope' \(exports: alpha, beta\)/);
    const noName = await cli(['credentials', 'create', '--home', home]);
    assert.equal(noName.code, 22);
    assert.match(noName.err, /missing --name/);
  });

  it('tessera serve prints its URL, records it, serves, and exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, [BIN, 'serve', '--listen', '127.0.0.1:0', '--home', home], {
      env: { ...process.env, TESSERA_HOME: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m =
          /tessera: serving testnode at (wss:\/\/127\.0\.0\.1:\d+\/tessera)\ntessera: certificate fingerprint (\S+)\n/.exec(
            out,
          );
        if (m) resolve(m[1]!);
      });
      void exited.then((code) => reject(new Error(`serve exited ${code}: ${err}`)));
    });
    const runtime = JSON.parse(await readFile(runtimeFile(home), 'utf8')) as { url: string; pid: number };
    assert.equal(runtime.url, url);
    assert.equal(runtime.pid, child.pid);
    const c = await RawClient.connect(url);
    await c.login(await readOwnerCredential(home));
    await c.call('PING', {});
    child.kill('SIGTERM');
    assert.ok(await c.waitFor((m) => m.t === 'bye'), 'the session got a goodbye');
    assert.equal(await exited, 0, err);
    await assert.rejects(access(runtimeFile(home)), 'runtime.json is removed');
  });
});
