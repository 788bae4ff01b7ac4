import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSource, type SourceKind } from '../../src/sources/registry.ts';
import type { Source } from '../../src/sources/source.ts';
import type { BehindTheBack, ConformanceFixture } from './fixture.ts';

/** Changes behind a local source's back: plain node:fs on its directory (another process, in effect). */
export function nodeFsBehind(root: string): BehindTheBack {
  const abs = (p: string) => join(root, ...p.split('/').filter(Boolean));
  return {
    writeFile: (path, data) => writeFile(abs(path), data),
    mkdir: async (path) => {
      await mkdir(abs(path));
    },
    remove: (path) => rm(abs(path), { recursive: true }),
    rename: (from, to) => rename(abs(from), abs(to)),
    symlink: (path, target) => symlink(target, abs(path)),
  };
}

/**
 * A fixture over a fresh temp directory: the source under test (with a state dir, so ids
 * persist across `restart`), a read-only second source over the same directory, and node:fs
 * for changes behind its back. Everything is removed at cleanup.
 */
export async function localFixture(
  kind: SourceKind,
  options?: Record<string, unknown>,
): Promise<ConformanceFixture> {
  const base = mkdtempSync(join(tmpdir(), `tessera-${kind}-`));
  const root = join(base, 'export');
  const stateDir = join(base, 'state');
  mkdirSync(root);
  const make = async (ro: boolean): Promise<Source> => {
    const src = await createSource({
      kind,
      name: 'work',
      exportIndex: 2,
      path: root,
      ro,
      stateDir: ro ? undefined : stateDir,
      options,
    });
    await src.open();
    return src;
  };
  let source = await make(false);
  const others: Source[] = [];
  return {
    source,
    readOnly: async () => {
      const ro = await make(true);
      others.push(ro);
      return ro;
    },
    behind: nodeFsBehind(root),
    restart: async () => {
      await source.close();
      source = await make(false);
      return source;
    },
    cleanup: async () => {
      await source.close();
      for (const o of others) await o.close();
      rmSync(base, { recursive: true, force: true });
    },
  };
}
