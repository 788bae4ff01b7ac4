import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CatalogStore, type FileSighting } from '../../src/catalog/store.ts';
import { homePaths } from '../../src/core/home.ts';
import { cli, makeHome } from './node-harness.ts';

const NOW = Date.now();

function sighting(mount: string, exp: string, path: string, local: number, mtimeMs = NOW): FileSighting {
  return {
    mount,
    local,
    node: 'testnode',
    export: exp,
    path: `${mount}${path}`,
    kind: 'file',
    size: path.length,
    mtimeMs,
    persistentIds: true,
    exportPath: path,
  };
}

// The catalog of a home holds what the node indexed (written here as its indexer writes it);
// the CLI builds virtual directories over it, and lists them, with the node stopped or not.
describe('tessera vfs over a home catalog', () => {
  let home: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ home, cleanup } = await makeHome({ exports: ['work', 'nas'] }));
    const store = new CatalogStore({ file: join(homePaths(home).stateDir, 'catalog.db') });
    await store.open();
    for (const [mount, exp] of [
      ['/work', 'work'],
      ['/nas', 'nas'],
    ] as const) {
      store.db
        .prepare(
          "INSERT INTO mounts (mount, node, export, source_kind, state, updated_at) VALUES (?, 'testnode', ?, 'memory', 'watching', 0)",
        )
        .run(mount, exp);
    }
    let local = 2;
    store.write(
      [
        ['/work', 'work', '/papers/2024/a.pdf'],
        ['/work', 'work', '/papers/b.pdf'],
        ['/work', 'work', '/papers/notes.txt'],
        ['/work', 'work', '/music/song.mp3'],
        ['/nas', 'nas', '/papers/b.pdf'],
      ].map(([m, e, p]) => ({
        op: 'upsert' as const,
        file: sighting(m!, e!, p!, local++, NOW - local * 1000),
      })),
    );
    await store.close();
  });
  after(async () => {
    await cleanup();
  });

  it('mkdir with a mount and steps, then ls lists what the rules choose', async () => {
    const made = await cli([
      'vfs',
      'mkdir',
      '/pdfs',
      '--home',
      home,
      '--mount',
      'work:/papers',
      '--step',
      '{"op":"glob","pattern":"*.pdf","on_match":"include"}',
      '--default',
      'exclude',
      '--flatten',
    ]);
    assert.equal(made.code, 0, made.err);
    assert.match(made.out, /created virtual directory \/pdfs \(1 mount\)/);
    const ls = await cli(['vfs', 'ls', '/pdfs', '--home', home]);
    assert.equal(ls.code, 0, ls.err);
    assert.equal(ls.out, 'a.pdf\nb.pdf\n');
    const long = await cli(['vfs', 'ls', '/pdfs', '-l', '--home', home]);
    assert.match(long.out, /a\.pdf {2}-> testnode@work:\/papers\/2024\/a\.pdf/);
    const root = await cli(['vfs', 'ls', '--home', home]);
    assert.equal(root.out, 'pdfs/\n');
  });

  it('edit adds a mount; the conservative conflict policy keeps both copies', async () => {
    await cli([
      'vfs',
      'mkdir',
      '/papers',
      '--home',
      home,
      '--mount',
      'work:/papers',
      '--conflict',
      'suffix_node_id',
    ]);
    const addNas = ['vfs', 'edit', '/papers', '--home', home, '--mount', 'nas:/papers'];
    const preview = await cli([...addNas, '--preview']);
    assert.equal(preview.code, 0, preview.err);
    assert.match(preview.out, /\(4 files in all\)/);
    const previewJson = await cli([...addNas, '--preview', '--json']);
    assert.equal(previewJson.code, 0, previewJson.err);
    const previewed = JSON.parse(previewJson.out) as { entries: { name: string }[]; files: number };
    assert.equal(previewed.files, 4, '--json is honoured by edit --preview as by mkdir --preview');
    assert.deepEqual(
      previewed.entries.map((e) => e.name),
      ['2024', 'b.pdf', 'b~testnode.pdf', 'notes.txt'],
    );
    assert.deepEqual(
      (await cli(['vfs', 'ls', '/papers', '--home', home])).out,
      '2024/\nb.pdf\nnotes.txt\n',
      'the preview saved nothing',
    );
    const edit = await cli(addNas);
    assert.equal(edit.code, 0, edit.err);
    assert.match(edit.out, /revision 2/);
    assert.equal(
      (await cli(['vfs', 'ls', '/papers', '--home', home])).out,
      '2024/\nb.pdf\nb~testnode.pdf\nnotes.txt\n',
    );
    assert.equal((await cli(['vfs', 'ls', '/papers/2024', '--home', home])).out, 'a.pdf\n');
    const shown = JSON.parse((await cli(['vfs', 'show', '/papers', '--home', home])).out) as {
      mounts: { id: string; source: { export: string } }[];
      rev: number;
    };
    assert.deepEqual(
      shown.mounts.map((m) => [m.id, m.source.export]),
      [
        ['m1', 'work'],
        ['m2', 'nas'],
      ],
    );
    const removed = await cli([
      'vfs',
      'edit',
      '/papers',
      '--home',
      home,
      '--remove-mount',
      'm2',
      '--rev',
      '2',
    ]);
    assert.equal(removed.code, 0, removed.err);
    const stale = await cli(['vfs', 'edit', '/papers', '--home', home, '--enforce', '--rev', '2']);
    assert.equal(stale.code, 11, 'EAGAIN on a stale revision');
  });

  it('rm deletes documents only; bad input fails with one line and the errno as exit code', async () => {
    await cli(['vfs', 'mkdir', '/tmp', '--home', home]);
    await cli(['vfs', 'mkdir', '/tmp/inner', '--home', home]);
    const notEmpty = await cli(['vfs', 'rm', '/tmp', '--home', home]);
    assert.equal(notEmpty.code, 39, notEmpty.err);
    assert.equal((await cli(['vfs', 'rm', '-r', '/tmp', '--home', home])).out, 'deleted /tmp, /tmp/inner\n');
    const root = await cli(['vfs', 'rm', '/', '--home', home]);
    assert.equal(root.code, 1);
    assert.match(root.err, /^tessera: vfs rm: EPERM: system directories cannot be deleted/);
    const fed = await cli(['vfs', 'mkdir', '/federation/x', '--home', home]);
    assert.equal(fed.code, 22);
    const badMount = await cli(['vfs', 'mkdir', '/x', '--home', home, '--mount', 'work:papers']);
    assert.equal(badMount.code, 22);
    assert.match(badMount.err, /--mount expects \[NODE@\]EXPORT\[:\/PATH\]/);
    const badStep = await cli([
      'vfs',
      'mkdir',
      '/x',
      '--home',
      home,
      '--mount',
      'work',
      '--step',
      '{"op":"age"}',
    ]);
    assert.equal(badStep.code, 22);
    assert.match(badStep.err, /mounts\.0\.steps\.0: age needs max_days or min_days/);
    assert.equal(badStep.err.trimEnd().split('\n').length, 1);
    assert.equal((await cli(['vfs', 'ls', '/nowhere', '--home', home])).code, 2);
    const both = await cli(['vfs', 'mkdir', '/x', '--home', home, '--enforce', '--no-enforce']);
    assert.equal(both.code, 22);
    assert.match(both.err, /--enforce and --no-enforce contradict each other/);
    const fromAndEnforce = await cli(['vfs', 'mkdir', '/x', '--home', home, '--from', '-', '--enforce']);
    assert.equal(fromAndEnforce.code, 22);
    assert.match(fromAndEnforce.err, /--from gives the whole settings: set "enforce_steps_on_children"/);
    assert.equal((await cli(['vfs', 'ls', '/x', '--home', home])).code, 2, 'nothing was created');
  });
});
