import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, LOOPBACK, runCommand, startDaemon, waitForPort } from './processes.ts';

/** A running `rclone serve` and how to reach it from rclone commands. */
export interface RcloneServer {
  protocol: 'webdav' | 'sftp';
  port: number;
  /**
   * An on-the-fly rclone remote naming the served directory (`:webdav,url=…:`); append a
   * path inside it.
   */
  remote: string;
  /** The environment every rclone command of the benchmark runs with (a temp config). */
  env: NodeJS.ProcessEnv;
  /** The serve command's extra flags (for the report). */
  flags: string[];
  /** The server process (for CPU accounting). */
  pid: number | undefined;
  stop(): Promise<void>;
}

/**
 * Environment for rclone commands that never reads or writes the user's rclone config or
 * cache: an empty config file and a cache dir under `dir`.
 */
export async function rcloneEnv(dir: string): Promise<NodeJS.ProcessEnv> {
  await mkdir(join(dir, 'cache'), { recursive: true });
  const config = join(dir, 'rclone.conf');
  await writeFile(config, '');
  return { ...process.env, RCLONE_CONFIG: config, RCLONE_CACHE_DIR: join(dir, 'cache') };
}

/**
 * `rclone serve webdav|sftp` of `root` on a free port of 127.0.0.1, with rclone's defaults
 * (`--vfs-cache-mode off`, `--dir-cache-time 5m`) unless `flags` says otherwise. sftp gets a
 * random user/password and its own host key in `dir`.
 */
export async function startRcloneServe(opts: {
  protocol: 'webdav' | 'sftp';
  root: string;
  dir: string;
  flags?: string[];
}): Promise<RcloneServer> {
  await mkdir(opts.dir, { recursive: true, mode: 0o700 });
  const env = await rcloneEnv(opts.dir);
  const port = await freePort();
  const flags = opts.flags ?? [];
  const args = ['serve', opts.protocol, opts.root, '--addr', `${LOOPBACK}:${port}`, ...flags];
  let remote: string;
  if (opts.protocol === 'webdav') {
    remote = `:webdav,url='http://${LOOPBACK}:${port}/':`;
  } else {
    const user = 'bench';
    const pass = randomBytes(18).toString('base64url');
    const hostKey = join(opts.dir, 'sftp_host_ed25519');
    await runCommand({
      cmd: 'ssh-keygen',
      args: ['-q', '-t', 'ed25519', '-N', '', '-C', 'bench', '-f', hostKey],
    });
    args.push('--user', user, `--pass=${pass}`, '--key', hostKey);
    const obscured = (await runCommand({ cmd: 'rclone', args: ['obscure', '--', pass], env })).stdout.trim();
    remote = `:sftp,host=${LOOPBACK},port=${port},user=${user},pass=${obscured}:`;
  }
  const daemon = startDaemon({
    name: `rclone serve ${opts.protocol}`,
    cmd: 'rclone',
    args,
    env,
    server: true,
  });
  try {
    await waitForPort({ port, daemon });
  } catch (err) {
    await daemon.stop();
    throw err;
  }
  return {
    protocol: opts.protocol,
    port,
    remote,
    env,
    flags,
    pid: daemon.proc.pid,
    stop: () => daemon.stop(),
  };
}
