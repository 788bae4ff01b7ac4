import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, posix, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import ts from 'typescript';

/**
 * The layer rules of DESIGN §3: which top-level folders under `src/` each folder may import.
 * A layer may always import itself. `src/index.ts` (the library entry) may import anything.
 */
const BELOW_NODE = [
  'core',
  'sources',
  'protocol',
  'client',
  'namespace',
  'catalog',
  'merkle',
  'zones',
  'space',
  'plugins',
  'notify',
];
export const LAYER_RULES: Readonly<Record<string, readonly string[]>> = {
  core: [],
  sources: ['core'],
  protocol: ['core'],
  client: ['core', 'sources', 'protocol'],
  namespace: ['core', 'sources', 'client'],
  catalog: ['core', 'sources', 'namespace'],
  merkle: ['core', 'sources'],
  zones: ['core', 'sources', 'merkle'],
  space: ['core', 'sources'],
  plugins: ['core', 'catalog'],
  notify: ['core', 'catalog'],
  node: BELOW_NODE,
  // Front-ends consume the namespace and the services.
  frontends: ['core', 'sources', 'namespace', 'catalog', 'merkle', 'zones', 'space', 'plugins', 'notify'],
  cli: [...BELOW_NODE, 'node', 'frontends'],
};

/** One import of one file, with paths relative to the repository root. */
export interface ImportRef {
  file: string;
  specifier: string;
}

const SRC_ROOT = 'src';

/** The layer a repo-relative path under `src/` belongs to (`<index>` for files directly in src). */
function layerOf(path: string): string | undefined {
  const parts = path.split('/');
  if (parts[0] !== SRC_ROOT) return undefined;
  return parts.length === 2 ? '<index>' : parts[1];
}

/** Violations among `imports`, one readable line each. Pure, so it can be tested directly. */
export function checkImports(imports: readonly ImportRef[]): string[] {
  const problems: string[] = [];
  for (const { file, specifier } of imports) {
    const from = layerOf(file);
    if (from === undefined) continue;
    if (from !== '<index>' && LAYER_RULES[from] === undefined) {
      problems.push(
        `${file}: folder src/${from}/ is not in the layer table (DESIGN §3); add it to LAYER_RULES`,
      );
      continue;
    }
    if (!specifier.startsWith('.')) {
      if (specifier.startsWith('/') || specifier.startsWith('src/')) {
        problems.push(`${file}: import '${specifier}' must be relative`);
      }
      continue;
    }
    const target = posix.join(posix.dirname(file), specifier);
    const to = layerOf(target);
    if (to === undefined) {
      problems.push(`${file}: import '${specifier}' leaves src/`);
      continue;
    }
    if (to === from || from === '<index>') continue;
    if (to === '<index>') {
      problems.push(`${file}: import '${specifier}' reaches the library entry src/index.ts`);
      continue;
    }
    if (!(LAYER_RULES[from] ?? []).includes(to)) {
      problems.push(`${file}: layer ${from} may not import ${to} ('${specifier}')`);
    }
  }
  return problems;
}

/** Every import, re-export and dynamic import in the TypeScript files under `src/`. */
export function scanImports(repoRoot: string): ImportRef[] {
  const out: ImportRef[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.ts')) {
        const file = relative(repoRoot, path).split(sep).join('/');
        const info = ts.preProcessFile(readFileSync(path, 'utf8'), true, true);
        for (const ref of info.importedFiles) out.push({ file, specifier: ref.fileName });
      }
    }
  };
  walk(join(repoRoot, SRC_ROOT));
  return out;
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

describe('layering (DESIGN §3)', () => {
  it('no file under src/ imports a layer it may not', () => {
    const imports = scanImports(repoRoot);
    // The scan must see real imports, or the check below would pass vacuously.
    assert.ok(imports.length > 20, `only ${imports.length} imports found`);
    assert.ok(
      imports.some((i) => i.file === 'src/sources/base-source.ts' && i.specifier === '../core/fs-error.ts'),
      'the scan finds a known import',
    );
    const problems = checkImports(imports);
    assert.deepEqual(problems, [], `layer violations:\n${problems.join('\n')}`);
  });

  it('finds static, type-only, re-export and dynamic imports', () => {
    const imports = scanImports(repoRoot);
    const registry = imports.filter((i) => i.file === 'src/sources/registry.ts').map((i) => i.specifier);
    assert.ok(registry.includes('./memory/memory-source.ts'), 'dynamic import() is seen');
    assert.ok(registry.includes('./source.ts'), 'import type is seen');
    const index = imports.filter((i) => i.file === 'src/index.ts').map((i) => i.specifier);
    assert.ok(index.includes('./core/fs-error.ts'), 'export … from is seen');
  });

  it('the checker catches violations', () => {
    const problems = checkImports([
      { file: 'src/core/ids.ts', specifier: '../sources/source.ts' },
      { file: 'src/sources/local/linux-source.ts', specifier: '../../namespace/namespace.ts' },
      { file: 'src/protocol/codec.ts', specifier: '../client/session.ts' },
      { file: 'src/namespace/router.ts', specifier: '../node/server.ts' },
      { file: 'src/node/wiring.ts', specifier: '../cli/main.ts' },
      { file: 'src/frontends/fuse/fuse.ts', specifier: '../../node/server.ts' },
      { file: 'src/core/x.ts', specifier: '../index.ts' },
      { file: 'src/core/y.ts', specifier: '../../test/helper.ts' },
      { file: 'src/newlayer/x.ts', specifier: '../core/ids.ts' },
    ]);
    assert.deepEqual(problems, [
      "src/core/ids.ts: layer core may not import sources ('../sources/source.ts')",
      "src/sources/local/linux-source.ts: layer sources may not import namespace ('../../namespace/namespace.ts')",
      "src/protocol/codec.ts: layer protocol may not import client ('../client/session.ts')",
      "src/namespace/router.ts: layer namespace may not import node ('../node/server.ts')",
      "src/node/wiring.ts: layer node may not import cli ('../cli/main.ts')",
      "src/frontends/fuse/fuse.ts: layer frontends may not import node ('../../node/server.ts')",
      "src/core/x.ts: import '../index.ts' reaches the library entry src/index.ts",
      "src/core/y.ts: import '../../test/helper.ts' leaves src/",
      'src/newlayer/x.ts: folder src/newlayer/ is not in the layer table (DESIGN §3); add it to LAYER_RULES',
    ]);
  });

  it('the checker allows what the table allows', () => {
    assert.deepEqual(
      checkImports([
        { file: 'src/core/log.ts', specifier: 'node:fs' },
        { file: 'src/core/config.ts', specifier: 'zod' },
        { file: 'src/core/home.ts', specifier: './config.ts' },
        { file: 'src/sources/s3/s3-source.ts', specifier: '../../core/fs-error.ts' },
        { file: 'src/client/remote-source.ts', specifier: '../protocol/codec.ts' },
        { file: 'src/zones/zone.ts', specifier: '../merkle/tree.ts' },
        { file: 'src/node/server.ts', specifier: '../namespace/namespace.ts' },
        { file: 'src/frontends/webdav/dav.ts', specifier: '../../catalog/search.ts' },
        { file: 'src/cli/commands/serve.ts', specifier: '../../node/server.ts' },
        { file: 'src/index.ts', specifier: './node/export-registry.ts' },
      ]),
      [],
    );
  });
});
