// The litmus WebDAV conformance suite (Debian package `litmus`) against the node's /dav/:
// every test of its basic, copymove, props, locks and http suites must pass.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { have, run, startDavNode } from './webdav-harness.ts';

const skip = (await have('litmus')) ? false : 'litmus is not installed (scripts/install-system-deps.sh)';

describe('WebDAV conformance (litmus)', { skip }, () => {
  let stop: () => Promise<void>;
  let url: string;
  let cred: { id: string; secret: string };
  let dir: string;

  before(async () => {
    // litmus writes its debug logs into the working directory (the scratch one).
    ({ stop, url, cred, dir } = await startDavNode({ scratch: 'litmus' }));
  });
  after(() => stop());

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
