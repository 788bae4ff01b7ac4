import { mkdir, writeFile, readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { type DaemonMount, startMountDaemon } from './mount-daemon.ts';
import { freePort, LOOPBACK, runCommand, startDaemon, waitForPort } from './processes.ts';

/** The sftp server Debian's sshd runs for the `sftp` subsystem. */
const SFTP_SERVER = '/usr/lib/openssh/sftp-server';

/** An OpenSSH server of the benchmark's own, on a loopback port. */
export interface Sshd {
  port: number;
  user: string;
  /** Private key the server accepts (no passphrase). */
  clientKey: string;
  /** `ssh` options that reach this server without reading any user configuration. */
  sshOptions: string[];
  /** The cipher ssh negotiates with this server by default (from `ssh -v`). */
  cipher: string;
  stop(): Promise<void>;
}

/**
 * Start `sshd` from a config of its own in `dir`: its own host key and authorized_keys, on a
 * free port of 127.0.0.1, key authentication only, `UsePAM no`, `StrictModes no` (the temp
 * dir's modes are not sshd's business). Creates `/run/sshd` (privilege separation) if missing.
 */
export async function startSshd(opts: { dir: string }): Promise<Sshd> {
  const dir = opts.dir;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const hostKey = join(dir, 'host_ed25519');
  const clientKey = join(dir, 'client_ed25519');
  for (const key of [hostKey, clientKey])
    await runCommand({
      cmd: 'ssh-keygen',
      args: ['-q', '-t', 'ed25519', '-N', '', '-C', 'bench', '-f', key],
    });
  const authorizedKeys = join(dir, 'authorized_keys');
  await writeFile(authorizedKeys, await readFile(`${clientKey}.pub`), { mode: 0o600 });
  const port = await freePort();
  const user = userInfo().username;
  const config = join(dir, 'sshd_config');
  await writeFile(
    config,
    [
      `Port ${port}`,
      `ListenAddress ${LOOPBACK}`,
      `HostKey ${hostKey}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${authorizedKeys}`,
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'PermitRootLogin prohibit-password',
      `AllowUsers ${user}`,
      'UseDNS no',
      'LogLevel ERROR',
      `Subsystem sftp ${SFTP_SERVER}`,
      '',
    ].join('\n'),
  );
  // -D: stay in the foreground (our child), -e: log to stderr. sshd needs an absolute path.
  const daemon = startDaemon({
    name: 'sshd',
    cmd: '/usr/sbin/sshd',
    args: ['-D', '-e', '-f', config],
    server: true,
  });
  try {
    await waitForPort({ port, daemon });
  } catch (err) {
    await daemon.stop();
    throw err;
  }
  const sshOptions = [
    '-F',
    '/dev/null',
    '-o',
    `IdentityFile=${clientKey}`,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    `Port=${port}`,
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'BatchMode=yes',
    '-o',
    'LogLevel=ERROR',
  ];
  let cipher: string;
  try {
    const { stderr } = await runCommand({
      cmd: 'ssh',
      // -v first: ssh keeps the first value of an option, and the cipher shows at debug level.
      args: ['-v', ...sshOptions, `${user}@${LOOPBACK}`, 'true'],
      timeoutMs: 30_000,
    });
    cipher = /kex: server->client cipher: (\S+)/.exec(stderr)?.[1] ?? 'unknown';
  } catch (err) {
    await daemon.stop();
    throw new Error(`ssh to the benchmark's sshd failed: ${(err as Error).message}\n${daemon.output()}`, {
      cause: err,
    });
  }
  return { port, user, clientKey, sshOptions, cipher, stop: () => daemon.stop() };
}

/** A mounted sshfs. */
export interface SshfsMount extends DaemonMount {
  /** The options it was mounted with (for the report). */
  options: string[];
}

/**
 * Mount `remoteDir` of `sshd` at `mountpoint` with sshfs in the foreground (our child, so it
 * is ours to stop) and default performance options. Resolves once the mount is live.
 */
export async function mountSshfs(opts: {
  sshd: Sshd;
  remoteDir: string;
  mountpoint: string;
  timeoutMs?: number;
}): Promise<SshfsMount> {
  const { sshd } = opts;
  // sshfs takes ssh's -o options as its own and passes them on; -F picks ssh's config file.
  const sshOpts: string[] = [];
  for (let i = 0; i < sshd.sshOptions.length; i += 2) {
    const flag = sshd.sshOptions[i]!;
    const value = sshd.sshOptions[i + 1]!;
    sshOpts.push(flag === '-F' ? '-F' : '-o', value);
  }
  const mount = await startMountDaemon({
    name: 'sshfs',
    cmd: 'sshfs',
    args: ['-f', ...sshOpts, `${sshd.user}@${LOOPBACK}:${opts.remoteDir}`, opts.mountpoint],
    mountpoint: opts.mountpoint,
    timeoutMs: opts.timeoutMs ?? 15_000,
  });
  return {
    ...mount,
    options: ['-F', '/dev/null', 'IdentityFile=…', 'Port=…', 'StrictHostKeyChecking=no', 'BatchMode=yes'],
  };
}
