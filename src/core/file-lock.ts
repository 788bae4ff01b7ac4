import { open, readFile, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { FsError } from './fs-error.ts';

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Run `fn` while holding an exclusive lock file (created with `O_EXCL`, holding our pid), so
 * two `tessera` commands editing the same home do not lose each other's changes. A lock
 * left by a process that no longer exists is taken over; a live holder makes us wait up to
 * `timeoutMs`, then fail with `EBUSY` naming the holder.
 */
export async function withFileLock<T>(
  opts: { lockFile: string; timeoutMs?: number; pollMs?: number },
  fn: () => Promise<T>,
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  for (;;) {
    let fh;
    try {
      fh = await open(opts.lockFile, 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw FsError.from(err, 'lock', opts.lockFile);
      const holder = Number.parseInt((await readFile(opts.lockFile, 'utf8').catch(() => '')).trim(), 10);
      if (Number.isInteger(holder) && holder > 0 && !processAlive(holder)) {
        await rm(opts.lockFile, { force: true });
        continue;
      }
      if (Date.now() >= deadline) {
        throw FsError.EBUSY(
          'lock',
          opts.lockFile,
          Number.isInteger(holder) ? `locked by process ${holder}` : 'locked by another process',
        );
      }
      await sleep(opts.pollMs ?? 50);
      continue;
    }
    try {
      await fh.writeFile(`${process.pid}\n`);
    } finally {
      await fh.close();
    }
    try {
      return await fn();
    } finally {
      await rm(opts.lockFile, { force: true });
    }
  }
}
