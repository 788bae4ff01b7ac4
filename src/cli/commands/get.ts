import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { FsError } from '../../core/fs-error.ts';
import { parseCommandArgs } from '../args.ts';
import { HOME_OPTION_HELP, type Command } from '../command.ts';
import { REMOTE_OPTION_HELP, REMOTE_OPTIONS, withRemote } from '../remote/connect.ts';
import { progressSink } from '../remote/progress.ts';
import { baseName } from '../remote/remote-fs.ts';
import { downloadFile } from '../remote/transfer.ts';

/** Help line of `--no-progress`. */
export const NO_PROGRESS_HELP =
  '  --no-progress    no progress bar (it shows only on a terminal, for files over 4 MiB)';

/** `tessera get`: download a file, verified end to end. */
export const getCommand: Command = {
  name: 'get',
  summary: 'download a file from a node (sha256-verified)',
  help: `Usage: tessera get REMOTE [LOCAL] [--no-progress] [--node URL --credential ID:SECRET] [--home DIR]

Download the file at namespace path REMOTE to LOCAL (default: its name in the current
directory; an existing directory gets the file inside). The bytes are hashed (sha256) on
the way and compared with the node's hash of the file; they go to a temp file next to LOCAL
that is renamed into place only when the hashes match, so a failed or interrupted get leaves
no partial file. Symlinks are followed within the namespace. Prints LOCAL, size and sha256.

Options:
${NO_PROGRESS_HELP}
${REMOTE_OPTION_HELP}
${HOME_OPTION_HELP}
`,
  async run({ io, argv }) {
    const { values, positionals } = parseCommandArgs({
      command: 'get',
      argv,
      options: { ...REMOTE_OPTIONS, 'no-progress': { type: 'boolean' } },
      positionals: ['REMOTE'],
      optionalPositionals: ['LOCAL'],
    });
    if (values.help === true) {
      io.out(this.help);
      return 0;
    }
    const remote = positionals[0]!;
    return withRemote({ io, command: 'get', values }, async (fs) => {
      const file = await fs.resolve(remote, { follow: true });
      if (file.attr.kind === 'dir') throw FsError.EISDIR('get', file.path, 'get copies one file');
      if (file.attr.kind !== 'file')
        throw FsError.EINVAL('get', file.path, `not a regular file (${file.attr.kind})`);
      const name = baseName(remote) || baseName(file.path);
      let local = resolve(io.cwd, positionals[1] ?? name);
      const existing = await stat(local).catch(() => undefined);
      if (existing?.isDirectory() === true) local = join(local, name);
      const done = await downloadFile({
        source: fs.source,
        file,
        local,
        progress: progressSink({ io, disabled: values['no-progress'] === true }),
      });
      io.out(`${local}  ${done.size} bytes  sha256 ${done.sha256}\n`);
      return 0;
    });
  },
};
