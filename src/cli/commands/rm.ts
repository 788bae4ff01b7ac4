import { FsError } from '../../core/fs-error.ts';
import { joinPath, splitPath } from '../../core/names.ts';
import { parseCommandArgs } from '../args.ts';
import { HOME_OPTION_HELP, type Command } from '../command.ts';
import { REMOTE_OPTION_HELP, REMOTE_OPTIONS, withRemote } from '../remote/connect.ts';
import { isExportRoot } from '../remote/remote-fs.ts';
import { removeTree } from '../remote/tree.ts';

/** `tessera rm`: remove a file, symlink or (-r) tree. */
export const rmCommand: Command = {
  name: 'rm',
  summary: 'remove a file or (-r) a directory tree on a node',
  help: `Usage: tessera rm [-r] [-f] PATH [--node URL --credential ID:SECRET] [--home DIR]

Remove the file or symlink at PATH (a symlink itself, never its target); a directory needs
-r, which removes everything in it first. The root of an export is never removed.

Options:
  -r, --recursive  remove a directory and everything in it
  -f, --force      a missing PATH is not an error
${REMOTE_OPTION_HELP}
${HOME_OPTION_HELP}
`,
  async run({ io, argv }) {
    const { values, positionals } = parseCommandArgs({
      command: 'rm',
      argv,
      options: {
        ...REMOTE_OPTIONS,
        recursive: { type: 'boolean', short: 'r' },
        force: { type: 'boolean', short: 'f' },
      },
      positionals: ['PATH'],
    });
    if (values.help === true) {
      io.out(this.help);
      return 0;
    }
    const path = positionals[0]!;
    return withRemote({ io, command: 'rm', values }, async (fs) => {
      const entry = await fs.tryResolve(path, { follow: false });
      if (entry === undefined) {
        if (values.force === true) return 0;
        throw FsError.ENOENT('lookup', joinPath(splitPath('lookup', path)));
      }
      if (isExportRoot(entry.id))
        throw FsError.EBUSY('rm', entry.path, 'the root of an export (its mount point) is never removed');
      if (entry.attr.kind === 'dir' && values.recursive !== true)
        throw FsError.EISDIR('rm', entry.path, 'a directory: remove it with -r');
      const { dir, name } = await fs.parentOf(entry.path);
      await removeTree({ fs, parent: dir, name, entry });
      return 0;
    });
  },
};
