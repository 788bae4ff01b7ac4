import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rootId } from '../../src/core/ids.ts';
import type { SourceSpec } from '../../src/sources/registry.ts';
import { LINUX_PLATFORM } from '../../src/sources/local/linux-platform.ts';
import { LocalSource } from '../../src/sources/local/local-source.ts';
import { POSIX_PLATFORM } from '../../src/sources/local/local-platform.ts';

/** A temp directory tree for one test: `root` is exported, `outside` is beside it, `state` holds the id map. */
export interface LocalDirs {
  base: string;
  root: string;
  outside: string;
  state: string;
  [Symbol.dispose](): void;
}

export function localDirs(): LocalDirs {
  const base = mkdtempSync(join(tmpdir(), 'tessera-local-unit-'));
  const dirs = {
    base,
    root: join(base, 'export'),
    outside: join(base, 'outside'),
    state: join(base, 'state'),
  };
  mkdirSync(dirs.root);
  mkdirSync(dirs.outside);
  return { ...dirs, [Symbol.dispose]: () => rmSync(base, { recursive: true, force: true }) };
}

/** Open a local source of `kind` over `root`. */
export async function openLocal(opts: {
  kind?: 'linux' | 'posix';
  root: string;
  stateDir?: string;
  ro?: boolean;
  options?: Record<string, unknown>;
}): Promise<LocalSource> {
  const kind = opts.kind ?? 'linux';
  const spec: SourceSpec = {
    kind,
    name: 'unit',
    exportIndex: 5,
    path: opts.root,
    ro: opts.ro ?? false,
    stateDir: opts.stateDir,
    options: opts.options,
  };
  const src = new LocalSource({ spec, platform: kind === 'linux' ? LINUX_PLATFORM : POSIX_PLATFORM });
  await src.open();
  return src;
}

/** Root id of the export the helpers make. */
export const ROOT = rootId(5);

/** Create a file through the source and close it. */
export async function put(
  src: LocalSource,
  parent: bigint,
  name: string,
  data: string | Uint8Array,
): Promise<bigint> {
  const c = await src.create({ parent, name, mode: 0o644 });
  await src.write({ handle: c.handle, offset: 0, data: typeof data === 'string' ? Buffer.from(data) : data });
  await src.closeFile({ handle: c.handle });
  return c.id;
}

/** Read a whole (small) file through the source. */
export async function get(src: LocalSource, id: bigint): Promise<string> {
  const { handle } = await src.openFile({ id, flags: { read: true, write: false } });
  try {
    return Buffer.from(await src.read({ handle, offset: 0, length: 1 << 20 })).toString();
  } finally {
    await src.closeFile({ handle });
  }
}
