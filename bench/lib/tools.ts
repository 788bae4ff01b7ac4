/**
 * The command-line tools benchmarks use as readers and walkers (`dd`, `find`), run the same
 * way everywhere and checked: a tool that did less than asked is an error, not a fast figure.
 */
import { runCommand } from './peers/processes.ts';

/** `find -printf` of fields that need a stat of every entry (size, mtime, mode). */
export const FIND_STAT_FORMAT = '%s %T@ %m %p\\n';

/** `dd bs=1M` from `from` to `to` (`count` blocks); fails unless it copied `expectBytes`. */
export async function dd(opts: {
  from: string;
  to: string;
  count?: number;
  expectBytes: number;
}): Promise<void> {
  const ddArgs = [`if=${opts.from}`, `of=${opts.to}`, 'bs=1M'];
  if (opts.count !== undefined) ddArgs.push(`count=${opts.count}`);
  const { stderr } = await runCommand({ cmd: 'dd', args: ddArgs, stdout: 'discard' });
  const copied = /^(\d+) bytes/m.exec(stderr)?.[1];
  if (Number(copied) !== opts.expectBytes) {
    const what =
      copied === undefined ? `printed no byte count (stderr: ${stderr.trim()})` : `copied ${copied} bytes`;
    throw new Error(`dd ${opts.from} → ${opts.to} ${what}, expected ${opts.expectBytes}`);
  }
}

/** The regular files under `dir`, counted from `find -type f -printf` (a stat of every entry). */
export async function findFiles(opts: { dir: string }): Promise<number> {
  const { stdout } = await runCommand({
    cmd: 'find',
    args: [opts.dir, '-type', 'f', '-printf', FIND_STAT_FORMAT],
  });
  return stdout.split('\n').filter(Boolean).length;
}
