import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FsError } from '../../src/core/fs-error.ts';
import { rootId } from '../../src/core/ids.ts';
import { addExport, exportStateDir, homePaths, initHome, openHome } from '../../src/core/home.ts';
import { createLogger, MemoryLogSink } from '../../src/core/log.ts';
import { ExportRegistry, probeExport, sourceSpecOf } from '../../src/node/export-registry.ts';

describe("export registry: a home's exports as open Sources", () => {
  let dir: string;
  let root: string;
  let data: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-exports-'));
    root = join(dir, 'home');
    data = join(dir, 'data');
    await mkdir(data);
    await writeFile(join(data, 'hello.txt'), 'hi');
    await initHome({ root });
    await addExport({
      root,
      entry: { name: 'mem', kind: 'memory', path: '', ro: false, desc: 'm', options: {} },
    });
    await addExport({
      root,
      entry: { name: 'files', kind: 'linux', path: data, ro: true, desc: '', options: {} },
    });
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('builds specs with the export index and a state dir per index', async () => {
    const home = await openHome({ root });
    const files = home.config.export.find((e) => e.name === 'files')!;
    assert.deepEqual(sourceSpecOf({ paths: home.paths, entry: files }), {
      kind: 'linux',
      name: 'files',
      exportIndex: 2,
      path: data,
      ro: true,
      stateDir: exportStateDir(homePaths(root), 2),
      options: {},
    });
  });

  it('opens every export, serving them under their own index', async () => {
    const home = await openHome({ root });
    const sink = new MemoryLogSink();
    await using registry = new ExportRegistry({ home, logger: createLogger({ sink }) });
    await registry.open();
    await registry.open();
    assert.deepEqual(
      registry.exports().map((r) => [r.entry.name, r.source !== undefined, r.error]),
      [
        ['mem', true, undefined],
        ['files', true, undefined],
      ],
    );
    const files = registry.get('files');
    const [info] = await files.listExports();
    assert.equal(info?.name, 'files');
    assert.equal(info?.root, rootId(2));
    assert.equal(info?.ro, true);
    const entry = await files.lookup({ parent: rootId(2), name: 'hello.txt' });
    assert.equal(entry.attr.size, 2);
    assert.equal((await registry.get('mem').listExports())[0]?.root, rootId(1));
    assert.throws(
      () => registry.get('nope'),
      (err: unknown) => FsError.is(err, 'ENOENT'),
    );
    assert.deepEqual(
      sink.lines
        .filter((l) => l.msg === 'export opened')
        .map((l) => [l.component, l.export, l.index])
        .sort(),
      [
        ['exports', 'files', 2],
        ['exports', 'mem', 1],
      ],
    );
    await registry.close();
    await registry.close();
    await assert.rejects(files.listExports(), (err: unknown) => FsError.is(err, 'ESHUTDOWN'));
    await assert.rejects(registry.open(), (err: unknown) => FsError.is(err, 'ESHUTDOWN'));
  });

  it('keeps serving the other exports when one cannot open, and says why', async () => {
    const home = await openHome({ root });
    const broken = { ...home, config: { ...home.config, export: [...home.config.export] } };
    broken.config.export.push({
      name: 'gone',
      kind: 'posix',
      path: join(dir, 'vanished'),
      ro: false,
      desc: '',
      index: 9,
      options: {},
    });
    const sink = new MemoryLogSink();
    await using registry = new ExportRegistry({ home: broken, logger: createLogger({ sink }) });
    await registry.open();
    const gone = registry.exports().find((r) => r.entry.name === 'gone');
    assert.equal(gone?.source, undefined);
    assert.equal(gone?.error?.code, 'ENOENT');
    assert.throws(
      () => registry.get('gone'),
      (err: unknown) => FsError.is(err, 'ENOENT'),
    );
    assert.equal((await registry.get('mem').listExports()).length, 1);
    const logged = sink.lines.find((l) => l.msg === 'export failed to open');
    assert.equal(logged?.export, 'gone');
    assert.equal((logged?.error as { code?: string } | undefined)?.code, 'ENOENT');
  });

  it('probe opens and closes an export, and names what is wrong', async () => {
    const paths = homePaths(root);
    const ok = { name: 'p', kind: 'posix' as const, path: data, ro: false, desc: '', index: 50, options: {} };
    await probeExport({ paths, entry: ok });
    await assert.rejects(
      probeExport({ paths, entry: { ...ok, path: join(data, 'hello.txt') } }),
      (err: unknown) => {
        assert.ok(FsError.is(err, 'ENOTDIR'));
        assert.equal(err.path, join(data, 'hello.txt'));
        return true;
      },
    );
    await assert.rejects(probeExport({ paths, entry: { ...ok, options: { bogus: 1 } } }), (err: unknown) =>
      FsError.is(err, 'EINVAL'),
    );
    assert.equal(await readFile(join(data, 'hello.txt'), 'utf8'), 'hi');
  });
});
