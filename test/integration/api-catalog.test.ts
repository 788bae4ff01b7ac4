// REST API over the catalog: labels (assignments, rules, effective labels) and virtual
// directories (documents, preview, listings), with who may see and change what.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { readOwnerCredential } from '../../src/node/credentials.ts';
import type { TesseraNode } from '../../src/node/node.ts';
import { ApiClient, errorOf, startApiNode } from './api-harness.ts';

const run = promisify(execFile);

type Page = { results: { path: string; labels: string[] }[] };
type Rule = { id: string; prefix: string; label: string; enabled: boolean };
type Listing = { entries: { name: string; kind: string; file?: { nsPath: string } }[] };

describe('REST API labels and virtual directories', () => {
  let node: TesseraNode;
  let home: string;
  let base: string;
  let stop: () => Promise<void>;
  let full: ApiClient;
  let owner: ApiClient;
  let alphaWriter: ApiClient;
  let betaOnly: ApiClient;
  let reader: ApiClient;

  before(async () => {
    ({ node, home, base, stop } = await startApiNode());
    ({ client: full } = await ApiClient.forNew({ base, home, name: 'full' }));
    owner = await ApiClient.login(base, await readOwnerCredential({ home }));
    ({ client: alphaWriter } = await ApiClient.forNew({ base, home, name: 'alpha-w', exports: ['alpha'] }));
    ({ client: betaOnly } = await ApiClient.forNew({ base, home, name: 'beta', exports: ['beta'] }));
    ({ client: reader } = await ApiClient.forNew({ base, home, name: 'reader', caps: { write: false } }));
    await full.post('/api/v1/files/mkdir', { path: '/alpha/docs', parents: true });
    for (const [path, text] of [
      ['/alpha/docs/plan.txt', 'plan'],
      ['/alpha/docs/notes.md', 'notes'],
      ['/beta/secret.txt', 'secret'],
    ] as const) {
      assert.equal((await full.put(path, text)).status, 201, path);
    }
    await node.catalog!.settled();
  });
  after(() => stop());

  const del = (client: ApiClient, path: string) => client.fetch(path, { method: 'DELETE' });
  const send = (client: ApiClient, method: string, path: string, body: unknown) =>
    client.fetch(path, {
      method,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('assigns labels, finds them by search, and takes them away', async () => {
    const res = await alphaWriter.post('/api/v1/labels/assignments', {
      path: '/alpha/docs/plan.txt',
      labels: ['urgent', 'q3'],
    });
    assert.equal(res.status, 200);
    const { assignments } = (await res.json()) as { assignments: { label: string; path: string }[] };
    assert.deepEqual(assignments.map((a) => a.label).sort(), ['q3', 'urgent']);

    const found = await full.json<Page>('/api/v1/search?labels=urgent');
    assert.deepEqual(
      found.results.map((r) => r.path),
      ['/alpha/docs/plan.txt'],
    );
    const listed = await full.json<{ assignments: { label: string }[] }>(
      '/api/v1/labels/assignments?path=/alpha/docs/plan.txt',
    );
    assert.equal(listed.assignments.length, 2);

    const gone = await del(
      alphaWriter,
      '/api/v1/labels/assignments?path=/alpha/docs/plan.txt&labels=q3,absent',
    );
    assert.deepEqual(await gone.json(), { removed: 1 });
    const eff = await full.json<{ labels: string[]; assigned: string[] }>(
      '/api/v1/labels/effective?path=/alpha/docs/plan.txt',
    );
    assert.deepEqual(eff.labels, ['urgent']);
    assert.deepEqual(eff.assigned, ['urgent']);
  });

  it('refuses bad input naming the field, and callers without the right', async () => {
    const bad = await full.post('/api/v1/labels/assignments', {
      path: '/alpha/docs/plan.txt',
      labels: ['two words'],
    });
    assert.equal(bad.status, 400);
    assert.match((await errorOf(bad)).message, /body field 'labels\.0'.*whitespace/);
    const badQuery = await del(full, '/api/v1/labels/assignments?path=/alpha/docs/plan.txt&labels=');
    assert.equal(badQuery.status, 400);
    assert.match((await errorOf(badQuery)).message, /query parameter 'labels'/);

    // No write: 403. An export the credential does not cover: the file does not exist (404).
    const ro = await reader.post('/api/v1/labels/assignments', {
      path: '/alpha/docs/plan.txt',
      labels: ['x'],
    });
    assert.equal(ro.status, 403);
    assert.equal((await errorOf(ro)).code, 'EACCES');
    assert.equal((await betaOnly.fetch('/api/v1/labels/effective?path=/alpha/docs/plan.txt')).status, 404);
    assert.equal(
      (await betaOnly.post('/api/v1/labels/assignments', { path: '/alpha/docs/plan.txt', labels: ['x'] }))
        .status,
      404,
    );
    assert.equal((await full.fetch('/api/v1/labels/effective?path=/alpha/nothing-here')).status, 404);
  });

  it('adds, scopes and removes label rules', async () => {
    const bad = await full.post('/api/v1/labels/rules', { prefix: '/alpha/docs', label: 'docs' });
    assert.equal(bad.status, 400);
    assert.match((await errorOf(bad)).message, /'prefix'.*ending with "\/"/);

    // A rule over a mount the credential cannot see (or over everything) is refused.
    for (const prefix of ['/', '/beta/']) {
      const refused = await alphaWriter.post('/api/v1/labels/rules', { prefix, label: 'mine' });
      assert.equal(refused.status, 403, prefix);
    }
    const added = await alphaWriter.post('/api/v1/labels/rules', { prefix: '/alpha/docs/', label: 'docs' });
    assert.equal(added.status, 200);
    const { rule } = (await added.json()) as { rule: Rule };
    assert.equal(rule.enabled, true);
    const betaRule = await full.json<{ rule: Rule }>('/api/v1/labels/rules', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"prefix":"/beta/","label":"b"}',
    });

    const found = await full.json<Page>('/api/v1/search?labels=docs');
    assert.deepEqual(found.results.map((r) => r.path).sort(), [
      '/alpha/docs/notes.md',
      '/alpha/docs/plan.txt',
    ]);
    const eff = await full.json<{ labels: string[]; rules: Rule[] }>(
      '/api/v1/labels/effective?path=/alpha/docs/notes.md',
    );
    assert.deepEqual(eff.labels, ['docs']);
    assert.deepEqual(
      eff.rules.map((r) => r.id),
      [rule.id],
    );

    // Each caller lists the rules reaching what it may see.
    const mine = await alphaWriter.json<{ rules: Rule[] }>('/api/v1/labels/rules');
    assert.deepEqual(
      mine.rules.map((r) => r.id),
      [rule.id],
    );
    const all = await full.json<{ rules: Rule[] }>('/api/v1/labels/rules');
    assert.deepEqual(all.rules.map((r) => r.id).sort(), [rule.id, betaRule.rule.id].sort());
    assert.equal((await del(alphaWriter, `/api/v1/labels/rules?id=${betaRule.rule.id}`)).status, 404);

    assert.equal((await del(alphaWriter, `/api/v1/labels/rules?id=${rule.id}`)).status, 204);
    assert.equal((await full.json<Page>('/api/v1/search?labels=docs')).results.length, 0);
    assert.equal((await del(full, `/api/v1/labels/rules?id=${rule.id}`)).status, 404);
    assert.equal((await del(full, `/api/v1/labels/rules?id=${betaRule.rule.id}`)).status, 204);

    // A credential covering every export may label everything (a rule on /).
    const everything = await full.post('/api/v1/labels/rules', { prefix: '/', label: 'all' });
    assert.equal(everything.status, 200);
    const found2 = await full.json<Page>('/api/v1/search?labels=all');
    assert.ok(
      found2.results.some((r) => r.path === '/beta/secret.txt'),
      JSON.stringify(found2),
    );
    const { rule: all2 } = (await everything.json()) as { rule: Rule };
    assert.equal((await del(full, `/api/v1/labels/rules?id=${all2.id}`)).status, 204);
  });

  it('creates, lists, previews, updates and deletes a virtual directory', async () => {
    const doc = { mounts: [{ source: { export: 'alpha', path: '/docs' } }] };
    const created = await send(owner, 'POST', '/api/v1/vfs/directory?path=/papers', doc);
    assert.equal(created.status, 201, await created.clone().text());
    const saved = (await created.json()) as { path: string; rev: number; system: boolean };
    assert.equal(saved.path, '/papers');
    assert.equal(saved.rev, 1);

    const { directories } = await full.json<{ directories: { path: string }[] }>('/api/v1/vfs/directories');
    assert.deepEqual(
      directories.map((d) => d.path),
      ['/', '/papers'],
    );
    const listing = await full.json<Listing>('/api/v1/vfs/list?path=/papers');
    assert.deepEqual(
      listing.entries.map((e) => [e.name, e.file?.nsPath]),
      [
        ['notes.md', '/alpha/docs/notes.md'],
        ['plan.txt', '/alpha/docs/plan.txt'],
      ],
    );
    // A caller that does not cover alpha sees none of its files.
    assert.deepEqual((await betaOnly.json<Listing>('/api/v1/vfs/list?path=/papers')).entries, []);

    // Preview a draft (a .md filter) without saving it.
    const draft = {
      ...doc,
      mounts: [
        {
          ...doc.mounts[0],
          steps: [{ op: 'glob', pattern: '*.md', on_match: 'include' }],
          default_result: 'exclude',
        },
      ],
    };
    const preview = await send(full, 'POST', '/api/v1/vfs/preview?path=/papers', draft);
    assert.equal(preview.status, 200);
    const seen = (await preview.json()) as Listing & { files: number };
    assert.deepEqual(
      seen.entries.map((e) => e.name),
      ['notes.md'],
    );
    assert.equal(seen.files, 1);
    assert.equal((await full.json<Listing>('/api/v1/vfs/list?path=/papers')).entries.length, 2);

    // Update: a stale revision is refused (412), the current one saves.
    const stale = await send(full, 'PUT', '/api/v1/vfs/directory?path=/papers&rev=7', draft);
    assert.equal(stale.status, 412);
    assert.match((await errorOf(stale)).message, /revision 1/);
    const updated = await send(full, 'PUT', '/api/v1/vfs/directory?path=/papers&rev=1', draft);
    assert.equal(updated.status, 200);
    assert.equal(((await updated.json()) as { rev: number }).rev, 2);
    assert.deepEqual(
      (await full.json<Listing>('/api/v1/vfs/list?path=/papers')).entries.map((e) => e.name),
      ['notes.md'],
    );

    // The root is a system directory: it cannot be deleted.
    const root = await del(full, '/api/v1/vfs/directory?path=/');
    assert.equal(root.status, 403);
    assert.match((await errorOf(root)).message, /system directories cannot be deleted/);

    const gone = await del(full, '/api/v1/vfs/directory?path=/papers');
    assert.deepEqual(await gone.json(), { deleted: ['/papers'] });
    assert.equal((await full.fetch('/api/v1/vfs/directory?path=/papers')).status, 404);
    assert.equal((await full.fetch('/api/v1/vfs/list?path=/papers')).status, 404);
  });

  it('refuses bad documents and callers that may not edit', async () => {
    const bad = await send(full, 'POST', '/api/v1/vfs/directory?path=/x', {
      mounts: [{ source: { export: 'alpha' }, strategy: 'sideways' }],
    });
    assert.equal(bad.status, 400);
    assert.match((await errorOf(bad)).message, /body field 'mounts\.0\.strategy'/);
    const noParent = await send(full, 'POST', '/api/v1/vfs/directory?path=/a/b', {});
    assert.equal(noParent.status, 404);

    const doc = { mounts: [{ source: { export: 'alpha' } }] };
    for (const client of [alphaWriter, reader]) {
      const refused = await send(client, 'POST', '/api/v1/vfs/directory?path=/mine', doc);
      assert.equal(refused.status, 403);
      assert.match((await errorOf(refused)).message, /owner credential or one with write over every export/);
      assert.equal((await send(client, 'POST', '/api/v1/vfs/preview?path=/mine', doc)).status, 403);
    }
    assert.equal((await full.fetch('/api/v1/vfs/directory?path=/mine')).status, 404);

    const { client: blind } = await ApiClient.forNew({ base, home, name: 'blind', caps: { show: false } });
    for (const url of [
      '/api/v1/vfs/directories',
      '/api/v1/vfs/directory?path=/',
      '/api/v1/vfs/list?path=/',
    ]) {
      const res = await blind.fetch(url);
      assert.equal(res.status, 403, url);
      assert.match((await errorOf(res)).message, /may not show/, url);
    }
  });

  it('answers curl', async () => {
    const { stdout } = await run(
      'curl',
      [
        '--silent',
        '--fail-with-body',
        '-H',
        `authorization: Bearer ${full.token}`,
        `${base}/api/v1/vfs/directories`,
      ],
      { encoding: 'utf8' },
    );
    const body = JSON.parse(stdout) as { directories: { path: string; system: boolean }[] };
    assert.deepEqual(body.directories[0], { ...body.directories[0], path: '/', system: true });
  });
});
