// REST API search over the catalog, limited to the mounts the caller may see.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TesseraNode } from '../../src/node/node.ts';
import { ApiClient, errorOf, startApiNode } from './api-harness.ts';

describe('REST API search', () => {
  let node: TesseraNode;
  let home: string;
  let base: string;
  let stop: () => Promise<void>;

  before(async () => {
    ({ node, home, base, stop } = await startApiNode());
  });
  after(() => stop());

  it('finds files by name and glob, only in exports the credential covers', async () => {
    const { client: owner } = await ApiClient.forNew({ base, home, name: 'owner' });
    await owner.post('/api/v1/files/mkdir', { path: '/alpha/reports', parents: true });
    await owner.put('/alpha/reports/q1-report.pdf', 'q1');
    await owner.put('/alpha/reports/q2-report.pdf', 'q2');
    await owner.put('/beta/report-secret.txt', 'beta');
    await node.catalog!.settled();

    type Page = { results: { path: string; kind: string; size: number }[]; next: string | null };
    const all = await owner.json<Page>('/api/v1/search?q=report');
    assert.deepEqual(all.results.map((r) => r.path).sort(), [
      '/alpha/reports/q1-report.pdf',
      '/alpha/reports/q2-report.pdf',
      '/beta/report-secret.txt',
    ]);
    const glob = await owner.json<Page>(`/api/v1/search?glob=${encodeURIComponent('q?-*.pdf')}&under=/alpha`);
    assert.deepEqual(glob.results.map((r) => r.path).sort(), [
      '/alpha/reports/q1-report.pdf',
      '/alpha/reports/q2-report.pdf',
    ]);

    const { client: alphaOnly } = await ApiClient.forNew({ base, home, name: 'alpha', exports: ['alpha'] });
    const scoped = await alphaOnly.json<Page>('/api/v1/search?q=report');
    assert.ok(scoped.results.length > 0);
    assert.ok(
      scoped.results.every((r) => r.path.startsWith('/alpha/')),
      JSON.stringify(scoped),
    );
    assert.deepEqual(scoped.results.map((r) => r.path).sort(), [
      '/alpha/reports/q1-report.pdf',
      '/alpha/reports/q2-report.pdf',
    ]);

    const bad = await owner.fetch('/api/v1/search?limit=0&labels=' + encodeURIComponent('bad label!'));
    assert.equal(bad.status, 400);
    const { message } = await errorOf(bad);
    assert.match(message, /'limit'/);
    assert.match(message, /label 'bad label!'/);
  });
});
