import { basename, resolve } from 'node:path';
import { FsError } from '../../core/fs-error.ts';
import { parseCommandArgs } from '../args.ts';
import { HOME_OPTION_HELP, type Command } from '../command.ts';
import { REMOTE_OPTION_HELP, REMOTE_OPTIONS, withRemote } from '../remote/connect.ts';
import { progressSink } from '../remote/progress.ts';
import { childPath } from '../../core/names.ts';
import { uploadFile } from '../remote/transfer.ts';
import { NO_PROGRESS_HELP } from './get.ts';

/** `tessera put`: upload a file, verified end to end. */
export const putCommand: Command = {
  name: 'put',
  summary: 'upload a file to a node (sha256-verified)',
  help: `Usage: tessera put LOCAL REMOTE [--no-progress] [--node URL --credential ID:SECRET] [--home DIR]

Upload the local file LOCAL to namespace path REMOTE (an existing directory gets the file
inside; an existing file is replaced). The file is written through one handle, so it
appears (or replaces the old one) whole, at the end. The bytes are hashed (sha256) on the
way and compared with the node's hash of what it holds; a failed or interrupted put leaves
nothing behind. Prints REMOTE, size and sha256.

Options:
${NO_PROGRESS_HELP}
${REMOTE_OPTION_HELP}
${HOME_OPTION_HELP}
`,
  async run({ io, argv }) {
    const { values, positionals } = parseCommandArgs({
      command: 'put',
      argv,
      options: { ...REMOTE_OPTIONS, 'no-progress': { type: 'boolean' } },
      positionals: ['LOCAL', 'REMOTE'],
    });
    if (values.help === true) {
      io.out(this.help);
      return 0;
    }
    const local = resolve(io.cwd, positionals[0]!);
    const remote = positionals[1]!;
    return withRemote({ io, command: 'put', values }, async (fs) => {
      const existing = await fs.tryResolve(remote, { follow: true });
      let place;
      if (existing?.attr.kind === 'dir') place = { dir: existing, name: basename(local) };
      else if (existing === undefined && remote.endsWith('/'))
        throw FsError.ENOENT('lookup', remote.replace(/\/+$/, '') || '/');
      else place = await fs.parentOf(existing?.path ?? remote);
      const path = childPath(place.dir.path, place.name);
      const done = await uploadFile({
        source: fs.source,
        local,
        dir: place.dir,
        name: place.name,
        path,
        progress: progressSink({ io, disabled: values['no-progress'] === true }),
      });
      io.out(`${path}  ${done.size} bytes  sha256 ${done.sha256}\n`);
      return 0;
    });
  },
};
