import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfigText } from '../../src/core/config.ts';
import { replaceMountsText } from '../../src/core/config-edit.ts';
import { FsError } from '../../src/core/fs-error.ts';
import { AliasIds, ALIAS_ROOT_LOCAL } from '../../src/namespace/alias-ids.ts';
import { backoffDelay } from '../../src/namespace/endpoint.ts';
import { ERROR_PENALTY_MS, pickEndpoint, scoreOf } from '../../src/namespace/router.ts';
import { parseMountTarget } from '../../src/cli/commands/mount.ts';

type Fake = {
  name: string;
  state: 'up' | 'down' | 'connecting';
  writable: boolean;
  latencyMs: number;
  recentErrors: number;
};
const ep = (name: string, o: Partial<Fake> = {}): Fake => ({
  name,
  state: 'up',
  writable: true,
  latencyMs: 1,
  recentErrors: 0,
  ...o,
});

describe('router', () => {
  it('scores by latency plus a penalty per recent error', () => {
    assert.equal(scoreOf(ep('a', { latencyMs: 3, recentErrors: 2 })), 3 + 2 * ERROR_PENALTY_MS);
  });

  it('picks the healthiest endpoint that is up, skipping read-only ones for writes', () => {
    const a = ep('a', { latencyMs: 5 });
    const b = ep('b', { latencyMs: 2, writable: false });
    const c = ep('c', { state: 'down', latencyMs: 0 });
    assert.equal(pickEndpoint({ endpoints: [a, b, c], intent: 'read' }), b);
    assert.equal(pickEndpoint({ endpoints: [a, b, c], intent: 'write' }), a);
    assert.equal(pickEndpoint({ endpoints: [c], intent: 'read' }), undefined);
    assert.equal(pickEndpoint({ endpoints: [a, b], intent: 'read', exclude: (e) => e === b }), a);
  });

  it('keeps the serving endpoint unless another is clearly better', () => {
    const a = ep('a', { latencyMs: 10 });
    const b = ep('b', { latencyMs: 8 });
    assert.equal(pickEndpoint({ endpoints: [a, b], intent: 'read', current: a }), a);
    a.recentErrors = 1;
    assert.equal(pickEndpoint({ endpoints: [a, b], intent: 'read', current: a }), b);
    a.state = 'down';
    a.recentErrors = 0;
    assert.equal(pickEndpoint({ endpoints: [a, b], intent: 'read', current: a }), b);
  });

  it('backs off exponentially with jitter, capped', () => {
    const backoff = { baseMs: 100, maxMs: 1000 };
    assert.equal(backoffDelay({ attempt: 0, backoff, random: () => 0 }), 50);
    assert.equal(backoffDelay({ attempt: 0, backoff, random: () => 1 }), 100);
    assert.equal(backoffDelay({ attempt: 3, backoff, random: () => 0.5 }), 600);
    assert.equal(backoffDelay({ attempt: 50, backoff, random: () => 1 }), 1000);
    const spread = new Set(Array.from({ length: 20 }, () => backoffDelay({ attempt: 2, backoff })));
    assert.ok(spread.size > 1, 'jitter spreads the delays');
    for (const d of spread) assert.ok(d >= 200 && d <= 400);
  });
});

describe('alias ids', () => {
  it('keep a file its id across renames and find a replaced name anew', () => {
    const ids = new AliasIds({ caseSensitive: true });
    ids.bind('e1', ALIAS_ROOT_LOCAL, 100n);
    const f = ids.learn('e1', ALIAS_ROOT_LOCAL, 'f', 101n);
    assert.equal(ids.learn('e1', ALIAS_ROOT_LOCAL, 'f', 101n), f);
    assert.notEqual(
      ids.learn('e1', ALIAS_ROOT_LOCAL, 'F', 102n),
      f,
      'case matters on a case-sensitive export',
    );
    ids.moved({ parent: ALIAS_ROOT_LOCAL, name: 'f', newParent: ALIAS_ROOT_LOCAL, newName: 'g' });
    assert.deepEqual(ids.where(f), { parent: ALIAS_ROOT_LOCAL, name: 'g' });
    // Another endpoint learns the same file by its path.
    assert.equal(ids.learn('e2', ALIAS_ROOT_LOCAL, 'g', 555n), f);
    assert.equal(ids.innerOf('e2', f), 555n);
    // A different file now at that name takes the name over; the old id is no longer found by path.
    const other = ids.learn('e1', ALIAS_ROOT_LOCAL, 'g', 999n);
    assert.notEqual(other, f);
    assert.equal(ids.where(f)?.parent, 0n);
    ids.removed({ parent: ALIAS_ROOT_LOCAL, name: 'g' });
    assert.equal(ids.where(other)?.parent, 0n);
  });

  it('match names by a normalized key on a case-insensitive export', () => {
    const ids = new AliasIds({ caseSensitive: false });
    const a = ids.learn('e1', ALIAS_ROOT_LOCAL, 'Café.TXT', 7n);
    assert.equal(ids.learn('e2', ALIAS_ROOT_LOCAL, 'cafe\u0301.txt', 70n), a, 'NFC and case folded');
    ids.moved({
      parent: ALIAS_ROOT_LOCAL,
      name: 'CAFÉ.txt',
      newParent: ALIAS_ROOT_LOCAL,
      newName: 'café.txt',
    });
    assert.deepEqual(
      ids.where(a),
      { parent: ALIAS_ROOT_LOCAL, name: 'café.txt' },
      'a case-only rename keeps the id',
    );
  });
});

describe('[[mount]] config', () => {
  const file = 'tessera.toml';
  const base = `[node]\nname = "a"\n\n# keep me\n[[export]]\nname = "work"\nkind = "memory"\nindex = 1\n`;

  it('validates entries and defaults the path to /<alias>/<export>', () => {
    const cfg = parseConfigText({
      file,
      text: `${base}\n[[mount]]\nalias = "b"\nexport = "/work"\n[[mount.endpoint]]\nurl = "wss://127.0.0.1:7420"\ncredential = "b@x"\n`,
    });
    assert.equal(cfg.mount[0]?.rename, 'exdev');
    assert.equal(cfg.mount[0]?.cache, true);
    const bad = (extra: string) =>
      assert.throws(
        () => parseConfigText({ file, text: `${base}\n[[mount]]\n${extra}` }),
        (e: unknown) => FsError.is(e, 'EINVAL'),
      );
    bad(`alias = "b"\nexport = "work"\n[[mount.endpoint]]\nurl = "wss://h:1"\ncredential = "c"\n`);
    bad(`alias = "b"\nexport = "/work"\nendpoint = []\n`);
    bad(
      `alias = "b"\nexport = "/work"\nindex = 1\n[[mount.endpoint]]\nurl = "wss://h:1"\ncredential = "c"\n`,
    );
    bad(`alias = "b"\nexport = "/work"\n[[mount.endpoint]]\nurl = "http://h:1"\ncredential = "c"\n`);
  });

  it('rewrites the mount blocks and keeps the rest of the file', () => {
    const mount = {
      alias: 'b',
      export: '/work',
      ro: false,
      rename: 'copy',
      cache: true,
      index: 2,
      endpoint: [{ url: 'wss://h:1', credential: 'c' }],
    };
    const one = replaceMountsText({ text: base, mounts: [mount], file });
    assert.ok(one.startsWith(base.trimEnd()), 'the rest is kept, comments too');
    assert.equal(parseConfigText({ text: one, file }).mount[0]?.rename, 'copy');
    const none = replaceMountsText({ text: one, mounts: [], file });
    assert.equal(parseConfigText({ text: none, file }).mount.length, 0);
    assert.match(none, /# keep me/);
  });

  it('parses URL/EXPORT', () => {
    assert.deepEqual(parseMountTarget('wss://h:7420/work'), {
      url: 'wss://h:7420/tessera',
      exportName: '/work',
    });
    assert.deepEqual(parseMountTarget('h:7420/c/work'), {
      url: 'wss://h:7420/tessera',
      exportName: '/c/work',
    });
    assert.throws(
      () => parseMountTarget('wss://h:7420'),
      (e: unknown) => FsError.is(e, 'EINVAL'),
    );
  });
});
