import { FsError } from '../../core/fs-error.ts';
import { parseCommandArgs } from '../args.ts';
import { HOME_OPTION_HELP, type Command } from '../command.ts';
import { REMOTE_OPTION_HELP, REMOTE_OPTIONS, withRemote } from '../remote/connect.ts';
import { writeOut } from '../remote/output.ts';
import { streamFile } from '../remote/transfer.ts';

/** `tessera cat`: a remote file's bytes to stdout. */
export const catCommand: Command = {
  name: 'cat',
  summary: 'print a file of a node to stdout',
  help: `Usage: tessera cat PATH [--node URL --credential ID:SECRET] [--home DIR]

Stream the file at PATH to stdout (reads pipelined, 16 × 1 MiB in flight). Symlinks are
followed within the namespace (relative targets only, never above /).

Options:
${REMOTE_OPTION_HELP}
${HOME_OPTION_HELP}
`,
  async run({ io, argv }) {
    const { values, positionals } = parseCommandArgs({
      command: 'cat',
      argv,
      options: { ...REMOTE_OPTIONS },
      positionals: ['PATH'],
    });
    if (values.help === true) {
      io.out(this.help);
      return 0;
    }
    return withRemote({ io, command: 'cat', values }, async (fs) => {
      const file = await fs.resolve(positionals[0]!, { follow: true });
      if (file.attr.kind === 'dir') throw FsError.EISDIR('read', file.path);
      await streamFile({ source: fs.source, file, sink: (chunk) => writeOut(io, chunk) });
      return 0;
    });
  },
};
