import assert from 'node:assert/strict';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FsError } from '../../src/core/fs-error.ts';
import { renameNoReplace } from '../../src/sources/local/rename-noreplace.ts';
import { localDirs } from './local-helpers.ts';

/** A stand-in for the platform's atomic rename that always fails with `code`, counting calls. */
function refusing(code: string): { calls: number; native: (from: string, to: string) => Promise<void> } {
  const self = {
    calls: 0,
    native: async (from: string): Promise<void> => {
      self.calls++;
      throw Object.assign(new Error(`${code}: refused, rename '${from}'`), { code, syscall: 'rename' });
    },
  };
  return self;
}

void describe('local renameNoReplace', () => {
  it('falls back to link + unlink when the filesystem refuses the atomic rename', async () => {
    using dirs = localDirs();
    const dir = dirs.root;
    await writeFile(join(dir, 'tmp'), 'data');
    for (const code of ['EINVAL', 'ENOSYS', 'ENOTSUP']) {
      const r = refusing(code);
      await renameNoReplace({
        from: join(dir, 'tmp'),
        to: join(dir, `f-${code}`),
        isDir: false,
        name: 'f',
        op: 'close',
        native: r.native,
      });
      assert.equal(r.calls, 1);
      assert.equal(await readFile(join(dir, `f-${code}`), 'utf8'), 'data');
      await assert.rejects(stat(join(dir, 'tmp')), { code: 'ENOENT' });
      await writeFile(join(dir, 'tmp'), 'data');
    }
  });

  it('names the target, the operation and why for an existing name, by either route', async () => {
    using dirs = localDirs();
    const dir = dirs.root;
    await writeFile(join(dir, 'tmp'), 'new');
    await writeFile(join(dir, 'taken'), 'old');
    const exists = Object.assign(new Error('EEXIST'), { code: 'EEXIST' });
    const viaNative = async (): Promise<void> => {
      throw exists;
    };
    for (const native of [viaNative, undefined]) {
      await assert.rejects(
        renameNoReplace({
          from: join(dir, 'tmp'),
          to: join(dir, 'taken'),
          isDir: false,
          name: 'taken',
          op: 'close',
          detail: 'another writer created the file first',
          native,
        }),
        (err: unknown) =>
          FsError.is(err, 'EEXIST') && err.op === 'close' && /another writer/.test(err.message),
      );
    }
    assert.equal(await readFile(join(dir, 'taken'), 'utf8'), 'old');
    assert.equal(await readFile(join(dir, 'tmp'), 'utf8'), 'new');
  });

  it('passes any other failure of the atomic rename through, without trying another way', async () => {
    using dirs = localDirs();
    const dir = dirs.root;
    await writeFile(join(dir, 'tmp'), 'x');
    const r = refusing('EACCES');
    await assert.rejects(
      renameNoReplace({
        from: join(dir, 'tmp'),
        to: join(dir, 'f'),
        isDir: false,
        name: 'f',
        op: 'rename',
        native: r.native,
      }),
      { code: 'EACCES' },
    );
    await assert.rejects(stat(join(dir, 'f')), { code: 'ENOENT' });
  });

  it('moves a directory to a free name and refuses an existing one', async () => {
    using dirs = localDirs();
    const dir = dirs.root;
    await mkdir(join(dir, 'sub'));
    await mkdir(join(dir, 'other'));
    await assert.rejects(
      renameNoReplace({
        from: join(dir, 'sub'),
        to: join(dir, 'other'),
        isDir: true,
        name: 'other',
        op: 'rename',
      }),
      (err: unknown) => FsError.is(err, 'EEXIST'),
    );
    await renameNoReplace({
      from: join(dir, 'sub'),
      to: join(dir, 'moved'),
      isDir: true,
      name: 'moved',
      op: 'rename',
    });
    assert.ok((await stat(join(dir, 'moved'))).isDirectory());
  });
});
