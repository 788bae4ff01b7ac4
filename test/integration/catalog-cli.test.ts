import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openHomeCatalog } from '../../src/catalog/catalog-file.ts';
import { updateMountState } from '../../src/catalog/mount-state.ts';
import { addExport } from '../../src/core/home.ts';
import { createNode, type TesseraNode } from '../../src/node/node.ts';
import { CHEAP_ARGON2, cli, makeHome, quietLogger } from './node-harness.ts';

describe('catalog through the node and the CLI', () => {
  let home: string;
  let cleanup: () => Promise<void>;
  let node: TesseraNode;

  before(async () => {
    ({ home, cleanup } = await makeHome({ exports: [] }));
    const data = join(home, 'data');
    await mkdir(join(data, 'reports/2024'), { recursive: true });
    await writeFile(join(data, 'reports/2024/q1-report.pdf'), 'pdf bytes');
    await writeFile(join(data, 'reports/2024/q2-report.pdf'), 'more pdf bytes');
    await writeFile(join(data, 'notes.txt'), 'notes');
    await addExport({
      root: home,
      entry: { name: 'docs', kind: 'linux', path: data, ro: false, desc: '', options: {} },
    });
    node = await createNode({
      home,
      listen: '127.0.0.1:0',
      insecure: true,
      logger: quietLogger(),
      argon2: CHEAP_ARGON2,
    });
    await node.catalog!.settled();
  });
  after(async () => {
    await node.close();
    await cleanup();
  });

  it('searches, labels, shows index status and storage, and backs up and restores', async () => {
    const status = await cli(['index', 'status', '--json', '--home', home]);
    assert.equal(status.code, 0, status.err);
    const [docs] = JSON.parse(status.out) as { mount: string; state: string; files: number }[];
    assert.equal(docs?.mount, '/docs');
    assert.equal(docs?.state, 'watching');
    assert.equal(docs?.files, 3);

    const found = await cli(['search', 'report', '--home', home]);
    assert.equal(found.code, 0, found.err);
    assert.deepEqual(
      found.out
        .trim()
        .split('\n')
        .map((l) => l.split('  ')[0])
        .sort(),
      ['/docs/reports/2024/q1-report.pdf', '/docs/reports/2024/q2-report.pdf'],
    );

    assert.equal(
      (await cli(['labels', 'add', '/docs/reports/2024/q1-report.pdf', 'q1', 'final', '--home', home])).code,
      0,
    );
    const rule = await cli(['labels', 'rule-add', '/docs/reports/', 'reports', '--json', '--home', home]);
    assert.equal(rule.code, 0, rule.err);
    const ruleId = (JSON.parse(rule.out) as { id: string }).id;
    const labelled = await cli([
      'search',
      '--label',
      'reports',
      '--label',
      'final',
      '--json',
      '--home',
      home,
    ]);
    assert.deepEqual(
      (JSON.parse(labelled.out) as { results: { path: string; labels: string[] }[] }).results.map((r) => [
        r.path,
        r.labels,
      ]),
      [['/docs/reports/2024/q1-report.pdf', ['final', 'q1', 'reports']]],
    );
    const show = await cli(['labels', 'show', '/docs/reports/2024/q2-report.pdf', '--json', '--home', home]);
    assert.deepEqual((JSON.parse(show.out) as { labels: string[] }).labels, ['reports']);
    const bad = await cli(['labels', 'rule-add', '/docs/reports', 'x', '--home', home]);
    assert.equal(bad.code, 22);
    assert.match(bad.err, /ending with "\/"/);

    // The node's watcher sees a new file; the label rule covers it.
    await writeFile(join(home, 'data/reports/2024/q3-report.pdf'), 'q3');
    for (let i = 0; i < 200; i++) {
      await node.catalog!.settled();
      if (node.catalog!.store.fileByPath('/docs/reports/2024/q3-report.pdf')) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const q3 = await cli(['labels', 'show', '/docs/reports/2024/q3-report.pdf', '--json', '--home', home]);
    assert.equal(q3.code, 0, q3.err);
    assert.deepEqual((JSON.parse(q3.out) as { labels: string[] }).labels, ['reports']);

    const storage = await cli(['storage', '--json', '--home', home]);
    const [sample] = JSON.parse(storage.out) as { mount: string; totalBytes: number }[];
    assert.equal(sample?.mount, '/docs');
    assert.ok((sample?.totalBytes ?? 0) > 0);

    // A virtual directory document (the vfs module keeps them in the catalog) goes along.
    node.catalog!.store.putDoc({
      type: 'vdir',
      id: '/work',
      body: { mounts: [{ prefix: '/docs/reports/' }] },
    });
    const file = join(home, 'backup.json');
    const backup = await cli(['catalog', 'backup', '--output', file, '--home', home]);
    assert.equal(backup.code, 0, backup.err);
    const text = await readFile(file, 'utf8');
    assert.doesNotMatch(text, /secret|verifier/i);

    const fresh = await makeHome({ exports: [] });
    try {
      const restored = await cli(['catalog', 'restore', file, '--json', '--home', fresh.home]);
      assert.equal(restored.code, 0, restored.err);
      const r = JSON.parse(restored.out) as {
        documents: number;
        labelAssignments: number;
        labelRules: number;
      };
      assert.deepEqual([r.documents, r.labelAssignments, r.labelRules], [1, 2, 1]);
      const rules = await cli(['labels', 'rules', '--json', '--home', fresh.home]);
      assert.deepEqual(
        (JSON.parse(rules.out) as { id: string }[]).map((x) => x.id),
        [ruleId],
      );
      // A second backup of the restored catalog says the same (apart from when and who).
      const again = await cli(['catalog', 'backup', '--home', fresh.home]);
      const strip = (t: string) => {
        const {
          createdAt: _c,
          node: _n,
          credentials: _cr,
          ...rest
        } = JSON.parse(t) as Record<string, unknown>;
        return rest;
      };
      assert.deepEqual(strip(again.out), strip(text));
      // Only into an empty catalog.
      const twice = await cli(['catalog', 'restore', file, '--home', fresh.home]);
      assert.equal(twice.code, 17);
      assert.match(twice.err, /restore only into an empty one/);
    } finally {
      await fresh.cleanup();
    }
  });
});

describe('index status of a home whose node is not running', () => {
  it(
    'shows a crawl a killed node left behind as stopped, and --wait does not wait for it',
    { timeout: 30_000 },
    async () => {
      const { home, cleanup } = await makeHome({ exports: [] });
      try {
        const store = await openHomeCatalog({ home, write: true, create: true });
        updateMountState(store, '/docs', { state: 'crawling', seen: 10 });
        await store.close();
        const status = await cli(['index', 'status', '--wait', '--json', '--home', home]);
        assert.equal(status.code, 0, status.err);
        const [docs] = JSON.parse(status.out) as { mount: string; state: string }[];
        assert.deepEqual([docs?.mount, docs?.state], ['/docs', 'stopped']);
      } finally {
        await cleanup();
      }
    },
  );
});
