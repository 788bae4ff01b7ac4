import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FsError } from '../../src/core/fs-error.ts';
import { createSource } from '../../src/sources/registry.ts';
import { createSource as createWindows } from '../../src/sources/local/windows-source.ts';
import { localDirs, openLocal, ROOT } from './local-helpers.ts';

const spec = (kind: 'linux' | 'posix' | 'windows', path: string, options?: Record<string, unknown>) => ({
  kind,
  name: 'w',
  exportIndex: 1,
  path,
  ro: false,
  options,
});

describe('local source kinds, options and hosts', () => {
  it('windows fails fast on a non-Windows host with UnsupportedSourceHost naming this host', async (t) => {
    if (process.platform === 'win32') return t.skip('this is a Windows host');
    using dirs = localDirs();
    for (const attempt of [
      () => createWindows(spec('windows', dirs.root)),
      () => createSource(spec('windows', dirs.root)),
    ]) {
      await assert.rejects(
        async () => attempt(),
        (e: unknown) => {
          assert.ok(FsError.is(e, 'ENOSYS'), String(e));
          assert.match(e.message, /^UnsupportedSourceHost: /);
          assert.match(e.message, /only on Windows hosts/);
          assert.ok(e.message.includes(process.platform), e.message);
          return true;
        },
      );
    }
  });

  it('unknown and bad options are refused with EINVAL naming them', async () => {
    using dirs = localDirs();
    for (const kind of ['linux', 'posix'] as const) {
      await assert.rejects(createSource(spec(kind, dirs.root, { scan_interval: 5 })), (e: unknown) => {
        assert.ok(FsError.is(e, 'EINVAL'));
        assert.match(e.message, /unknown .* option 'scan_interval'/);
        return true;
      });
      await assert.rejects(
        createSource(spec(kind, dirs.root, { scan_interval_ms: 'fast' })),
        (e: unknown) => {
          assert.ok(FsError.is(e, 'EINVAL'));
          assert.match(e.message, /option 'scan_interval_ms'/);
          return true;
        },
      );
      await assert.rejects(createSource(spec(kind, dirs.root, { stat_concurrency: 0 })), /stat_concurrency/);
    }
  });

  it('the export path must be an existing directory, named in the error', async () => {
    using dirs = localDirs();
    const missing = join(dirs.base, 'no-such-dir');
    const src = await createSource(spec('posix', missing));
    await assert.rejects(src.open(), (e: unknown) => FsError.is(e, 'ENOENT') && e.message.includes(missing));
    const file = join(dirs.base, 'a-file');
    writeFileSync(file, 'x');
    const src2 = await createSource(spec('linux', file));
    await assert.rejects(src2.open(), (e: unknown) => FsError.is(e, 'ENOTDIR') && e.message.includes(file));
  });

  it('caps and supported operations per kind', async () => {
    using dirs = localDirs();
    const linux = await openLocal({ root: dirs.root, kind: 'linux' });
    const posix = await openLocal({ root: dirs.root, kind: 'posix' });
    try {
      const [lx] = await linux.listExports();
      const [px] = await posix.listExports();
      assert.equal(lx!.source_kind, 'linux');
      assert.equal(lx!.source_id, 'linux:unit');
      assert.equal(lx!.desc, dirs.root);
      assert.deepEqual(
        {
          w: lx!.caps.native_watch,
          x: lx!.caps.xattr,
          l: lx!.caps.lock,
          c: lx!.caps.case_sensitive,
          a: lx!.caps.atomic_write,
        },
        { w: true, x: true, l: true, c: true, a: true },
      );
      assert.deepEqual(
        { w: px!.caps.native_watch, x: px!.caps.xattr, l: px!.caps.lock },
        { w: false, x: false, l: true },
      );
      assert.equal(posix.supportsOperation('getxattr'), false);
      assert.equal(linux.supportsOperation('getxattr'), true);
      await assert.rejects(posix.listxattr({ id: ROOT }), (e: unknown) => FsError.is(e, 'ENOSYS'));
      await assert.rejects(
        linux.setxattr({ id: ROOT, name: 'trusted.x', value: Buffer.from('1') }),
        (e: unknown) => FsError.is(e, 'EOPNOTSUPP'),
      );
    } finally {
      await linux.close();
      await posix.close();
    }
    // getattr has its own fast path; a closed source still answers like every other op.
    await assert.rejects(linux.getattr({ id: ROOT }), (e: unknown) => FsError.is(e, 'ESHUTDOWN'));
  });
});
