// The litmus WebDAV conformance suite (Debian package `litmus`) against the node's /dav/:
// every test of its basic, copymove, props, locks and http suites must pass.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { have, run, startDavNode } from './webdav-harness.ts';

const skip = (await have('litmus')) ? false : 'litmus is not installed (scripts/install-system-deps.sh)';

describe('WebDAV conformance (litmus)', { skip }, () => {
  let stop: () => Promise<void>;
  let url: string;
  let cred: { id: string; secret: string };
  let dir: string;

  before(async () => {
    ({ stop, url, cred } = await startDavNode());
    // litmus writes its debug logs into the working directory.
    dir = await mkdtemp(join(tmpdir(), 'tessera-litmus-'));
  });
  after(async () => {
    await stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('passes every test of every suite', async () => {
    const { stdout } = await run('litmus', [`${url}/alpha/`, cred.id, cred.secret], {
      cwd: dir,
      timeout: 120_000,
    }).catch((err: { stdout?: string; message: string }) => ({ stdout: err.stdout ?? err.message }));
    const summaries = [
      ...stdout.matchAll(/summary for `(\w+)': of (\d+) tests run: (\d+) passed, (\d+) failed/g),
    ];
    const suites = summaries.map((m) => m[1]);
    assert.deepEqual(suites, ['basic', 'copymove', 'props', 'locks', 'http'], stdout);
    for (const [, suite, total, passed] of summaries) assert.equal(passed, total, `${suite}:\n${stdout}`);
  });
});
