import { mkdirSync, mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { BenchArgs } from './args.ts';
import type { Teardown } from './peers/teardown.ts';

/**
 * A fresh directory for one run, under `--dir` when given (it picks the filesystem the data
 * set lives on), else under the system temp dir; `teardown` removes it.
 */
export function makeRunDir(opts: { args: Pick<BenchArgs, 'dir'>; name: string; teardown: Teardown }): string {
  const parent = opts.args.dir === undefined ? tmpdir() : resolve(opts.args.dir);
  mkdirSync(parent, { recursive: true });
  const dir = mkdtempSync(join(parent, `tessera-bench-${opts.name}-`));
  opts.teardown.add('remove the benchmark directory', () => rm(dir, { recursive: true, force: true }));
  return dir;
}
