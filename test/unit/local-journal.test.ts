import assert from 'node:assert/strict';
import {
  appendFileSync,
  existsSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FsError } from '../../src/core/fs-error.ts';
import { IdJournal, JOURNAL_FILE } from '../../src/sources/local/id-journal.ts';
import { TEMP_PREFIX } from '../../src/sources/local/temp-files.ts';
import { get, localDirs, openLocal, put, ROOT } from './local-helpers.ts';

describe('local id journal', () => {
  it('appends in batches, survives a torn last line, compacts on rewrite', async () => {
    using dirs = localDirs();
    const j = new IdJournal({ dir: dirs.state });
    await j.rewrite(() => [
      ['R', 1],
      ['N', 5],
    ]);
    j.append(['L', 10, 1, 'a', 1]);
    j.append(['L', 11, 10, 'line\nbreak', 0]);
    await j.close();
    appendFileSync(join(dirs.state, JOURNAL_FILE), '["L", 12, 1, "tor');
    const back = await new IdJournal({ dir: dirs.state }).load();
    assert.deepEqual(back, [
      ['R', 1],
      ['N', 5],
      ['L', 10, 1, 'a', 1],
      ['L', 11, 10, 'line\nbreak', 0],
    ]);
    assert.deepEqual(await new IdJournal({ dir: join(dirs.base, 'none') }).load(), []);
  });

  it('ids resolve after a restart, including renamed directories and atomically replaced files', async () => {
    using dirs = localDirs();
    let src = await openLocal({ root: dirs.root, stateDir: dirs.state });
    const a = await src.mkdir({ parent: ROOT, name: 'a', mode: 0o755 });
    const b = await src.mkdir({ parent: a.id, name: 'b', mode: 0o755 });
    const f = await put(src, b.id, 'f.txt', 'one');
    await src.rename({ parent: ROOT, name: 'a', newParent: ROOT, newName: 'a2' });
    // Overwrite: the content goes through a private copy, the id follows the new inode.
    const w = await src.openFile({ id: f, flags: { read: false, write: true, truncate: true } });
    await src.write({ handle: w.handle, offset: 0, data: Buffer.from('two') });
    await src.closeFile({ handle: w.handle });
    assert.equal(
      (await src.lookup({ parent: b.id, name: 'f.txt' })).id,
      f,
      'the id survives the replacement',
    );
    await src.close();

    src = await openLocal({ root: dirs.root, stateDir: dirs.state });
    try {
      assert.equal((await src.getattr({ id: b.id })).kind, 'dir');
      assert.equal(await get(src, f), 'two', 'an id never looked up since the restart resolves');
      assert.equal((await src.lookup({ parent: ROOT, name: 'a2' })).id, a.id);
      assert.equal((await src.lookup({ parent: b.id, name: 'f.txt' })).id, f);
      assert.equal(src.caps.persistent_ids, true);
    } finally {
      await src.close();
    }
  });

  it('a journal of another directory is ignored', async () => {
    using dirs = localDirs();
    let src = await openLocal({ root: dirs.root, stateDir: dirs.state });
    const d = await src.mkdir({ parent: ROOT, name: 'd', mode: 0o755 });
    const f = await put(src, d.id, 'f', 'x');
    await src.close();
    // Same state dir, but the export directory was replaced by another one.
    renameSync(dirs.root, join(dirs.base, 'old-export'));
    renameSync(dirs.outside, dirs.root);
    src = await openLocal({ root: dirs.root, stateDir: dirs.state });
    try {
      await assert.rejects(src.getattr({ id: f }), (e: unknown) => FsError.is(e, 'ESTALE'));
      await src.flushState();
      const kept = readFileSync(join(dirs.state, JOURNAL_FILE), 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('["L"'));
      assert.deepEqual(kept, [], 'no location of the old tree was carried over');
    } finally {
      await src.close();
    }
  });

  it('temp files of a crashed writer are removed at the next open', async () => {
    using dirs = localDirs();
    const crashed = await openLocal({ root: dirs.root, stateDir: dirs.state });
    const d = await crashed.mkdir({ parent: ROOT, name: 'd', mode: 0o755 });
    await crashed.create({ parent: d.id, name: 'never-closed', mode: 0o644 });
    const f = await put(crashed, d.id, 'f', 'old');
    const w = await crashed.openFile({ id: f, flags: { read: false, write: true } });
    await crashed.write({ handle: w.handle, offset: 0, data: Buffer.from('new') });
    await crashed.flushState();
    const temps = () => readdirSync(join(dirs.root, 'd')).filter((n) => n.startsWith(TEMP_PREFIX));
    assert.equal(temps().length, 2, 'two writes in progress');
    // The "crash": a new source opens over the same state without the first closing.
    const next = await openLocal({ root: dirs.root, stateDir: dirs.state });
    try {
      assert.deepEqual(temps(), []);
      assert.deepEqual(readdirSync(join(dirs.root, 'd')).sort(), ['f']);
      assert.equal(await get(next, f), 'old', 'the interrupted write never became visible');
    } finally {
      await next.close();
      await crashed.close();
    }
  });

  it('without a state dir ids do not persist and the caps say so; nothing is written', async () => {
    using dirs = localDirs();
    rmSync(dirs.state, { recursive: true, force: true });
    const src = await openLocal({ root: dirs.root });
    try {
      assert.equal(src.caps.persistent_ids, false);
      await put(src, ROOT, 'f', 'x');
      assert.equal(existsSync(dirs.state), false);
    } finally {
      await src.close();
    }
  });

  it('a corrupt journal line in the middle is skipped, the rest still applies', async () => {
    using dirs = localDirs();
    let src = await openLocal({ root: dirs.root, stateDir: dirs.state });
    const d = await src.mkdir({ parent: ROOT, name: 'd', mode: 0o755 });
    await src.close();
    const file = join(dirs.state, JOURNAL_FILE);
    const lines = readFileSync(file, 'utf8').split('\n');
    lines.splice(1, 0, '{not json');
    writeFileSync(file, lines.join('\n'));
    src = await openLocal({ root: dirs.root, stateDir: dirs.state });
    try {
      assert.equal((await src.getattr({ id: d.id })).kind, 'dir');
    } finally {
      await src.close();
    }
  });
});

describe('local id journal compaction while open', () => {
  it('records appended during a rewrite land after the snapshot, nothing is lost', async () => {
    using dirs = localDirs();
    const j = new IdJournal({ dir: dirs.state, flushDelayMs: 1 });
    await j.rewrite(() => [['R', 1]]);
    j.append(['L', 10, 1, 'before', 0]);
    const compaction = j.rewrite(() => [
      ['R', 1],
      ['L', 10, 1, 'before', 0],
    ]);
    j.append(['L', 11, 1, 'during', 0]);
    await new Promise((r) => setTimeout(r, 5)); // a flush timer may fire mid-rewrite
    await compaction;
    j.append(['L', 12, 1, 'after', 0]);
    await j.close();
    assert.deepEqual(await new IdJournal({ dir: dirs.state }).load(), [
      ['R', 1],
      ['L', 10, 1, 'before', 0],
      ['L', 11, 1, 'during', 0],
      ['L', 12, 1, 'after', 0],
    ]);
  });

  it('a rewrite that fails keeps the old journal, which gets what was queued and what follows', async () => {
    using dirs = localDirs();
    const j = new IdJournal({ dir: dirs.state, flushDelayMs: 1 });
    await j.rewrite(() => [['R', 1]]);
    j.append(['L', 10, 1, 'queued', 0]);
    // A record that cannot be written (JSON has no bigint) fails the snapshot part-way.
    await assert.rejects(
      j.rewrite(() => [['R', 1], ['L', 10, 1, 'queued', 0], [10n]]),
      (e: unknown) => FsError.is(e) && /BigInt/.test(e.message),
    );
    assert.ok(j.lastError !== undefined, 'the failure is kept');
    j.append(['L', 11, 1, 'after', 0]);
    await j.close();
    assert.deepEqual(await new IdJournal({ dir: dirs.state }).load(), [
      ['R', 1],
      ['L', 10, 1, 'queued', 0],
      ['L', 11, 1, 'after', 0],
    ]);
    assert.deepEqual(readdirSync(dirs.state), [JOURNAL_FILE], 'no temp file is left');
  });
});
