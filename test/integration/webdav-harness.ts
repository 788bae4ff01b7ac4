// Shared setup of the WebDAV client tests: a node serving /dav/ over memory exports, a test
// tree on disk, and reading a tree back (from disk or from the node's namespace) to compare.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { defaultSurfaces } from '../../src/frontends/default-surfaces.ts';
import type { Namespace } from '../../src/namespace/namespace.ts';
import type { TesseraNode } from '../../src/node/node.ts';
import { credential, startNode } from './node-harness.ts';

/** Run a program without blocking the event loop (the node under test runs in this process). */
export const run = promisify(execFile);

/** Whether `cmd` is on PATH. */
export async function have(cmd: string): Promise<boolean> {
  try {
    await run('sh', ['-c', 'command -v "$0"', cmd]);
    return true;
  } catch {
    return false;
  }
}

/**
 * A node with memory exports `alpha` and `beta` serving WebDAV, a credential for it, and a
 * scratch directory for the client; `stop` closes the node and removes the directory.
 */
export async function startDavNode(opts: { scratch: string }): Promise<{
  node: TesseraNode;
  url: string;
  cred: { id: string; secret: string };
  dir: string;
  stop: () => Promise<void>;
}> {
  const { node, home, stop } = await startNode({ insecure: true, surfaces: defaultSurfaces });
  const cred = await credential({ home, name: 'dav-client' });
  const dir = await mkdtemp(join(tmpdir(), `tessera-${opts.scratch}-`));
  return {
    node,
    url: `http://127.0.0.1:${node.address.port}/dav`,
    cred,
    dir,
    stop: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Write a tree exercising what clients get wrong: empty and multi-megabyte files, a file of
 * exactly one 64 KiB block, nested and empty directories, spaces, `%`, `#` and non-ASCII names.
 * Returns what it wrote.
 */
export async function makeTree(root: string): Promise<Tree> {
  const files: Record<string, Buffer> = {
    'empty.txt': Buffer.alloc(0),
    'hello.txt': Buffer.from('hello, webdav\n'),
    'block.bin': randomBytes(65536),
    'big.bin': randomBytes(3 * 1024 * 1024 + 17),
    'with space/and #hash 100%.txt': Buffer.from('odd names\n'),
    'unicodé/日本語.txt': Buffer.from('ünïcödé\n'),
    'deep/a/b/c/leaf.bin': randomBytes(1000),
  };
  const tree: Tree = { files: new Map(), dirs: new Set(['empty-dir']) };
  for (const [rel, bytes] of Object.entries(files)) {
    await mkdir(join(root, rel, '..'), { recursive: true });
    await writeFile(join(root, rel), bytes);
    tree.files.set(rel, bytes);
    for (let i = rel.indexOf('/'); i > 0; i = rel.indexOf('/', i + 1)) tree.dirs.add(rel.slice(0, i));
  }
  await mkdir(join(root, 'empty-dir'), { recursive: true });
  return tree;
}

/** Every file under `root` on disk (relative path → bytes) and every directory. */
export async function readDiskTree(root: string): Promise<Tree> {
  const tree: Tree = { files: new Map(), dirs: new Set() };
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const r = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) {
        tree.dirs.add(r);
        await walk(join(dir, e.name), r);
      } else tree.files.set(r, await readFile(join(dir, e.name)));
    }
  };
  await walk(root, '');
  return tree;
}

/** Every file under `path` in the node's namespace, read through the Source contract. */
export async function readNamespaceTree(ns: Namespace, path: string): Promise<Tree> {
  const tree: Tree = { files: new Map(), dirs: new Set() };
  const walk = async (id: bigint, rel: string): Promise<void> => {
    let cookie = '';
    for (;;) {
      const page = await ns.readdirp({ dir: id, cookie, max: 1000 });
      for (const e of page.entries) {
        const r = rel === '' ? e.name : `${rel}/${e.name}`;
        if (e.attr.kind === 'dir') {
          tree.dirs.add(r);
          await walk(e.id, r);
          continue;
        }
        const { handle } = await ns.openFile({ id: e.id, flags: { read: true, write: false } });
        try {
          tree.files.set(r, Buffer.from(await ns.read({ handle, offset: 0, length: e.attr.size })));
        } finally {
          await ns.closeFile({ handle });
        }
      }
      if (page.eof) return;
      cookie = page.cookie;
    }
  };
  await walk((await ns.resolve({ path })).id, '');
  return tree;
}

/** Files and directories of a tree. */
export interface Tree {
  files: Map<string, Buffer>;
  dirs: Set<string>;
}

/** The tree as sorted lines (`dir/`, `file size first-bytes`), for a readable deepEqual. */
function summary(tree: Tree): string[] {
  return [
    ...[...tree.dirs].map((d) => `${d}/`),
    ...[...tree.files].map(([p, b]) => `${p} ${b.length} ${b.toString('base64').slice(0, 24)}`),
  ].sort();
}

/** Assert that `actual` has the directories of `expected` and its files, byte for byte. */
export function assertSameTree(actual: Tree, expected: Tree, what: string): void {
  assert.deepEqual(summary(actual), summary(expected));
  assert.equal(actual.files.size, expected.files.size, `${what}: as many files`);
  for (const [p, bytes] of expected.files)
    assert.ok(actual.files.get(p)?.equals(bytes), `${what}: the bytes of ${p}`);
}
