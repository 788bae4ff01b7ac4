import { mkdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { isMounted, runCommand, startDaemon } from './processes.ts';

/** A FUSE filesystem served by a foreground process of the benchmark. */
export interface DaemonMount {
  mountpoint: string;
  /** The serving process (for CPU accounting). */
  pid?: number | undefined;
  /** Unmount (lazily if busy) and stop the process. Idempotent. */
  unmount(): Promise<void>;
}

/**
 * Start a process that mounts a FUSE filesystem at `mountpoint` and serves it in the
 * foreground (`rclone mount`, `tessera mount-fs`); resolves once the mount is live.
 */
export async function startMountDaemon(opts: {
  name: string;
  cmd: string;
  args: readonly string[];
  mountpoint: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}): Promise<DaemonMount> {
  await mkdir(opts.mountpoint, { recursive: true });
  const daemon = startDaemon({ name: opts.name, cmd: opts.cmd, args: opts.args, env: opts.env });
  let unmounting: Promise<void> | undefined;
  const unmount = (): Promise<void> => {
    unmounting ??= (async () => {
      if (await isMounted(opts.mountpoint)) {
        await runCommand({ cmd: 'fusermount', args: ['-u', opts.mountpoint], timeoutMs: 30_000 }).catch(() =>
          runCommand({ cmd: 'fusermount', args: ['-u', '-z', opts.mountpoint] }),
        );
      }
      await daemon.stop({ graceMs: 10_000 });
    })();
    return unmounting;
  };
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  while (!(await isMounted(opts.mountpoint))) {
    if (daemon.exited) throw new Error(`${opts.name} exited before mounting:\n${daemon.output()}`);
    if (Date.now() > deadline) {
      await unmount();
      throw new Error(`${opts.name} did not mount ${opts.mountpoint} in time:\n${daemon.output()}`);
    }
    await sleep(20);
  }
  return { mountpoint: opts.mountpoint, pid: daemon.proc.pid, unmount };
}
