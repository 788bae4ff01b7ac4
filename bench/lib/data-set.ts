import { mkdir, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pool } from './measure.ts';

const MiB = 1024 * 1024;

/**
 * `files` small files spread evenly over `dirs` directories under `dir` (`d000/f000000`, …;
 * the first `files % dirs` directories get one more), written 64 at a time; file i holds
 * `content(i)` (default `file i`). Returns their paths.
 */
export async function writeSmallFiles(opts: {
  dir: string;
  files: number;
  dirs: number;
  content?: (i: number) => string | Uint8Array;
}): Promise<string[]> {
  if (!Number.isSafeInteger(opts.dirs) || opts.dirs < 1)
    throw new Error(`writeSmallFiles: dirs must be a positive integer, got ${opts.dirs}`);
  const paths: string[] = [];
  const perDir = Math.floor(opts.files / opts.dirs);
  for (let d = 0; d < opts.dirs; d++) {
    const dir = join(opts.dir, `d${String(d).padStart(3, '0')}`);
    await mkdir(dir, { recursive: true });
    const count = perDir + (d < opts.files % opts.dirs ? 1 : 0);
    for (let f = 0; f < count; f++) paths.push(join(dir, `f${String(f).padStart(6, '0')}`));
  }
  const content = opts.content ?? ((i: number) => `file ${i}\n`);
  await pool(paths, 64, (p, i) => writeFile(p, content(i)));
  return paths;
}

/**
 * A file of `bytes` bytes (a multiple of 1 MiB) of a fixed pattern in which no two MiB are
 * alike, written 1 MiB at a time.
 */
export async function writeBigFile(opts: { path: string; bytes: number }): Promise<void> {
  if (opts.bytes % MiB !== 0)
    throw new Error(`writeBigFile: bytes must be a multiple of 1 MiB, got ${opts.bytes}`);
  const block = Buffer.alloc(MiB);
  for (let i = 0; i < block.length; i += 4) block.writeUInt32LE((i * 2654435761) >>> 0, i);
  const fh = await open(opts.path, 'w');
  try {
    for (let off = 0; off < opts.bytes; off += MiB) {
      block.writeUInt32LE(off / MiB, 0);
      await fh.write(block, 0, MiB, off);
    }
  } finally {
    await fh.close();
  }
}
