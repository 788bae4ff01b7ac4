import { FsError } from '../../core/fs-error.ts';
import { parseCommandArgs } from '../args.ts';
import { HOME_OPTION_HELP, type Command } from '../command.ts';
import { REMOTE_OPTION_HELP, REMOTE_OPTIONS, withRemote } from '../remote/connect.ts';
import { progressSink } from '../remote/progress.ts';
import { childPath } from '../../core/names.ts';
import { baseName, type RemoteFs, type Resolved } from '../remote/remote-fs.ts';
import { copyTree } from '../remote/tree.ts';
import { NO_PROGRESS_HELP } from './get.ts';

/**
 * Where a copy or move of `src` to the path `dst` lands: inside `dst` when it is an existing
 * directory, else at `dst` itself. Refuses a directory into its own subtree.
 */
export async function destinationOf(opts: {
  fs: RemoteFs;
  op: string;
  src: Resolved;
  srcPath: string;
  dst: string;
}): Promise<{ dir: Resolved; name: string; path: string }> {
  const { fs } = opts;
  const existing = await fs.tryResolve(opts.dst, { follow: true });
  const place =
    existing?.attr.kind === 'dir'
      ? { dir: existing, name: baseName(opts.srcPath) || baseName(opts.src.path) }
      : await fs.parentOf(existing?.path ?? opts.dst);
  const path = childPath(place.dir.path, place.name);
  if (path === opts.src.path) throw FsError.EINVAL(opts.op, path, 'source and destination are the same');
  if (opts.src.attr.kind === 'dir' && path.startsWith(`${opts.src.path}/`))
    throw FsError.EINVAL(opts.op, path, `cannot put a directory inside itself ('${opts.src.path}')`);
  return { ...place, path };
}

/** `tessera cp`: copy within the namespace. */
export const cpCommand: Command = {
  name: 'cp',
  summary: "copy a file or (-r) a tree within a node's namespace (sha256-verified)",
  help: `Usage: tessera cp [-r] SRC DST [--no-progress] [--node URL --credential ID:SECRET] [--home DIR]

Copy SRC to DST, both namespace paths (they may be in different exports). An existing
directory DST gets SRC inside; an existing file DST is replaced. The bytes pass through this
client and every file is verified against the node's sha256 of both the source and the copy.
A symlink SRC is followed, except with -r, where symlinks are copied as symlinks; hard links
become separate files.

Options:
  -r, --recursive  copy a directory and everything in it
${NO_PROGRESS_HELP}
${REMOTE_OPTION_HELP}
${HOME_OPTION_HELP}
`,
  async run({ io, argv }) {
    const { values, positionals } = parseCommandArgs({
      command: 'cp',
      argv,
      options: {
        ...REMOTE_OPTIONS,
        recursive: { type: 'boolean', short: 'r' },
        'no-progress': { type: 'boolean' },
      },
      positionals: ['SRC', 'DST'],
    });
    if (values.help === true) {
      io.out(this.help);
      return 0;
    }
    const recursive = values.recursive === true;
    return withRemote({ io, command: 'cp', values }, async (fs) => {
      const src = await fs.resolve(positionals[0]!, { follow: !recursive });
      if (src.attr.kind === 'dir' && !recursive)
        throw FsError.EISDIR('cp', src.path, 'a directory: copy it with -r');
      const dst = await destinationOf({ fs, op: 'cp', src, srcPath: positionals[0]!, dst: positionals[1]! });
      await copyTree({
        fs,
        op: 'cp',
        src,
        dstDir: dst.dir,
        name: dst.name,
        progress: progressSink({ io, disabled: values['no-progress'] === true }),
      });
      return 0;
    });
  },
};
