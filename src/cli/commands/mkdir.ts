import { FsError } from '../../core/fs-error.ts';
import { joinPath, splitPath } from '../../core/names.ts';
import { parseCommandArgs } from '../args.ts';
import { HOME_OPTION_HELP, type Command } from '../command.ts';
import { REMOTE_OPTION_HELP, REMOTE_OPTIONS, withRemote } from '../remote/connect.ts';
import { relabel, type RemoteFs } from '../remote/remote-fs.ts';

const DIR_MODE = 0o755;

async function makeDir(fs: RemoteFs, path: string): Promise<void> {
  const { dir, name } = await fs.parentOf(path);
  try {
    await fs.source.mkdir({ parent: dir.id, name, mode: DIR_MODE });
  } catch (err) {
    throw relabel(err, 'mkdir', joinPath([...splitPath('mkdir', dir.path), name]));
  }
}

/** `tessera mkdir`: make a directory (-p: and its parents). */
export const mkdirCommand: Command = {
  name: 'mkdir',
  summary: 'make a directory on a node',
  help: `Usage: tessera mkdir [-p] PATH [--node URL --credential ID:SECRET] [--home DIR]

Make the directory PATH (mode 0755).

Options:
  -p, --parents    make missing parents too; an existing directory is not an error
${REMOTE_OPTION_HELP}
${HOME_OPTION_HELP}
`,
  async run({ io, argv }) {
    const { values, positionals } = parseCommandArgs({
      command: 'mkdir',
      argv,
      options: { ...REMOTE_OPTIONS, parents: { type: 'boolean', short: 'p' } },
      positionals: ['PATH'],
    });
    if (values.help === true) {
      io.out(this.help);
      return 0;
    }
    const segs = splitPath('mkdir', positionals[0]!);
    return withRemote({ io, command: 'mkdir', values }, async (fs) => {
      if (values.parents !== true) {
        await makeDir(fs, joinPath(segs));
        return 0;
      }
      for (let i = 1; i <= segs.length; i++) {
        const path = joinPath(segs.slice(0, i));
        const found = await fs.tryResolve(path, { follow: true });
        if (found === undefined) {
          // Another client may make it meanwhile: that is fine for -p.
          await makeDir(fs, path).catch((err: unknown) => {
            if (!FsError.is(err, 'EEXIST')) throw err;
          });
        } else if (found.attr.kind !== 'dir') throw FsError.ENOTDIR('mkdir', path);
      }
      return 0;
    });
  },
};
