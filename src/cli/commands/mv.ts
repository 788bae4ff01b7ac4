import { FsError } from '../../core/fs-error.ts';
import { parseCommandArgs } from '../args.ts';
import { HOME_OPTION_HELP, type Command } from '../command.ts';
import { REMOTE_OPTION_HELP, REMOTE_OPTIONS, withRemote } from '../remote/connect.ts';
import { progressSink } from '../remote/progress.ts';
import { isExportRoot, relabel } from '../remote/remote-fs.ts';
import { copyTree, removeTree } from '../remote/tree.ts';
import { destinationOf } from './cp.ts';
import { NO_PROGRESS_HELP } from './get.ts';

/** `tessera mv`: rename within the namespace (copy + delete across exports). */
export const mvCommand: Command = {
  name: 'mv',
  summary: "move or rename within a node's namespace",
  help: `Usage: tessera mv SRC DST [--no-copy] [--no-progress] [--node URL --credential ID:SECRET] [--home DIR]

Move SRC to DST (an existing directory DST gets SRC inside; an existing file DST is
replaced). Within one export this is one atomic rename on the node. Across exports (EXDEV),
like mv(1) across filesystems, SRC is copied through this client — every file verified by
sha256 on both sides — and removed only once the whole copy is done; --no-copy refuses with
EXDEV instead. A symlink SRC is moved itself, not its target.

Options:
  --no-copy        fail with EXDEV rather than copy + delete across exports
${NO_PROGRESS_HELP}
${REMOTE_OPTION_HELP}
${HOME_OPTION_HELP}
`,
  async run({ io, argv }) {
    const { values, positionals } = parseCommandArgs({
      command: 'mv',
      argv,
      options: { ...REMOTE_OPTIONS, 'no-copy': { type: 'boolean' }, 'no-progress': { type: 'boolean' } },
      positionals: ['SRC', 'DST'],
    });
    if (values.help === true) {
      io.out(this.help);
      return 0;
    }
    return withRemote({ io, command: 'mv', values }, async (fs) => {
      const from = await fs.parentOf(positionals[0]!);
      const src = await fs.resolve(positionals[0]!, { follow: false });
      if (isExportRoot(src.id))
        throw FsError.EBUSY('mv', src.path, 'the root of an export (its mount point) cannot be moved');
      const dst = await destinationOf({ fs, op: 'mv', src, srcPath: src.path, dst: positionals[1]! });
      try {
        await fs.source.rename({
          parent: from.dir.id,
          name: from.name,
          newParent: dst.dir.id,
          newName: dst.name,
        });
        return 0;
      } catch (err) {
        if (!FsError.is(err, 'EXDEV')) throw relabel(err, 'rename', src.path);
        if (values['no-copy'] === true) {
          throw FsError.EXDEV(
            'rename',
            src.path,
            `'${dst.path}' is in another export (without --no-copy, mv copies and deletes)`,
          );
        }
      }
      await copyTree({
        fs,
        op: 'mv',
        src,
        dstDir: dst.dir,
        name: dst.name,
        progress: progressSink({ io, disabled: values['no-progress'] === true }),
      });
      await removeTree({ fs, parent: from.dir, name: from.name, entry: src });
      return 0;
    });
  },
};
