import { FsError } from '../../core/fs-error.ts';
import { hostPortOf } from '../../client/connection.ts';
import { FuseMount } from '../../frontends/fuse/fuse-mount.ts';
import { parseCommandArgs, usageError } from '../args.ts';
import { HOME_OPTION_HELP, type Command } from '../command.ts';
import { openRemote, REMOTE_OPTION_HELP, REMOTE_OPTIONS, resolveTarget } from '../remote/connect.ts';
import { untilSignal } from '../signals.ts';

/** `tessera mount-fs`: the node's namespace as a kernel filesystem, until stopped. */
export const mountFsCommand: Command = {
  name: 'mount-fs',
  summary: "mount a node's whole namespace in the kernel (FUSE) until stopped",
  help: `Usage: tessera mount-fs MOUNTPOINT [--node URL --credential ID:SECRET] [--allow-other]
                        [--cache-timeout SECONDS] [--home DIR]

Mount the namespace of a node (by default the home's running node, with the owner
credential) at MOUNTPOINT, an existing directory, through FUSE. Every file operation is
passed to the node: reads, writes, create, truncate, rename, links, symlinks, permissions,
times, extended attributes, statfs and advisory locks (fcntl and flock). Inode numbers are
the node's file ids, so a file keeps its inode number across remounts.

Runs in the foreground: SIGINT (Ctrl-C) or SIGTERM unmounts cleanly and exits 0; so does
'umount MOUNTPOINT' (or 'fusermount -u'). If the session to the node drops, the mount is
removed and the exit code says why. A mount left stale by a crash ("Transport endpoint is
not connected") is recovered by the next mount-fs at the same place.

Written data is sent to the node behind the writer (NFS-style): a failed write is reported
by close() or fsync(). Needs /dev/fuse and root (or fusermount for other users).

Options:
${REMOTE_OPTION_HELP}
  --allow-other    let other users use the mount (FUSE allow_other)
  --cache-timeout SECONDS
                   how long the kernel trusts names and attributes (default 1; changes
                   pushed by the node invalidate them at once)
${HOME_OPTION_HELP}
`,
  async run({ io, argv }) {
    const { values, positionals } = parseCommandArgs({
      command: 'mount-fs',
      argv,
      options: {
        ...REMOTE_OPTIONS,
        'allow-other': { type: 'boolean' },
        'cache-timeout': { type: 'string' },
      },
      positionals: ['MOUNTPOINT'],
    });
    if (values.help === true) {
      io.out(this.help);
      return 0;
    }
    const given = values['cache-timeout'];
    const cacheTimeout = given === undefined ? 1 : Number(given);
    // Number('') is 0: an empty value is refused rather than taken as "no caching".
    if (given?.trim() === '' || !Number.isFinite(cacheTimeout) || cacheTimeout < 0 || cacheTimeout > 3600)
      throw usageError({
        command: 'mount-fs',
        problem: `--cache-timeout expects seconds from 0 to 3600, got '${given}'`,
      });

    const target = await resolveTarget({ io, command: 'mount-fs', values });
    const stop = untilSignal({ io, command: 'mount-fs' });
    const source = await openRemote({ io, target }).catch((err: unknown) => {
      stop.cancel();
      throw err;
    });
    const mount = new FuseMount({
      source,
      mountpoint: positionals[0]!,
      fsname: `tessera@${hostPortOf(target.url)}`,
      allowOther: values['allow-other'] === true,
      cacheTimeout,
    });
    try {
      await mount.open();
    } catch (err) {
      stop.cancel();
      await source.close().catch(() => undefined);
      throw err;
    }
    let dropped: FsError | undefined;
    const connectionLost = new Promise<void>((resolve) => {
      source.connection.onClose((err) => {
        dropped = err;
        resolve();
      });
    });
    io.err(`tessera: mounted ${target.url} at ${mount.mountpoint} (SIGINT/SIGTERM or umount to stop)\n`);
    const proto = mount.protocol;
    if (proto)
      io.err(
        `tessera: kernel FUSE protocol ${proto.protoMajor}.${proto.protoMinor}, requests up to ${proto.maxWrite >> 10} KiB${proto.readdirplus ? ', listings with attributes (READDIRPLUS)' : ''}\n`,
      );
    const why = await Promise.race([
      stop.signal.then((sig) => `${sig}`),
      mount.ended.then(() => 'unmounted'),
      connectionLost.then(() => 'session to the node ended'),
    ]);
    stop.cancel();
    // Read before closing the session ourselves (which also ends it).
    const lost = why === 'unmounted' ? undefined : dropped;
    io.err(`tessera: ${why}: unmounting ${mount.mountpoint}\n`);
    await mount.close();
    await source.close().catch(() => undefined);
    if (lost !== undefined) {
      throw new FsError({
        code: lost.code,
        op: 'mount-fs',
        path: target.url,
        detail: `the session to the node ended: ${lost.message}`,
        cause: lost,
      });
    }
    io.err('tessera: unmounted\n');
    return 0;
  },
};
