import { parseCommandArgs } from '../args.ts';
import { HOME_OPTION_HELP, type Command } from '../command.ts';
import { REMOTE_OPTION_HELP, REMOTE_OPTIONS, withRemote } from '../remote/connect.ts';
import { entryJson, longListing } from '../remote/format.ts';
import { writeOut } from '../remote/output.ts';
import { childPath } from '../../core/names.ts';
import { baseName } from '../remote/remote-fs.ts';
import { pool } from '../remote/tree.ts';

/** `tessera ls`: list a directory of the namespace. */
export const lsCommand: Command = {
  name: 'ls',
  summary: 'list a directory of a node (namespace paths: /<export>/…)',
  help: `Usage: tessera ls [-l] [--json] [PATH] [--node URL --credential ID:SECRET] [--home DIR]

List the directory at PATH (default /: the node's exports), every entry (hidden ones too),
sorted by name. A PATH that is not a directory lists itself; a symlink is shown, not followed.

Options:
  -l, --long       mode, links, uid, gid, size, modification time, name (-> symlink target)
  --json           one JSON array of {name, path, kind, size, mode, nlink, uid, gid, mtime,
                   mtimeNs, id, target?}
${REMOTE_OPTION_HELP}
${HOME_OPTION_HELP}
`,
  async run({ io, argv }) {
    const { values, positionals } = parseCommandArgs({
      command: 'ls',
      argv,
      options: { ...REMOTE_OPTIONS, long: { type: 'boolean', short: 'l' }, json: { type: 'boolean' } },
      optionalPositionals: ['PATH'],
    });
    if (values.help === true) {
      io.out(this.help);
      return 0;
    }
    const path = positionals[0] ?? '/';
    return withRemote({ io, command: 'ls', values }, async (fs) => {
      const at = await fs.resolve(path, { follow: false });
      const entries: { name: string; path: string; id: bigint; attr: typeof at.attr; target?: string }[] =
        at.attr.kind === 'dir'
          ? (await fs.list(at)).map((e) => ({ ...e, path: childPath(at.path, e.name) }))
          : [{ name: path, path: at.path, id: at.id, attr: at.attr }];
      const detailed = values.long === true || values.json === true;
      if (detailed) {
        await pool(
          entries.filter((e) => e.attr.kind === 'symlink'),
          8,
          async (e) => {
            e.target = await fs.readlink(e.id, e.path).catch(() => undefined);
          },
        );
      }
      if (values.json === true) {
        const json = entries.map((e) =>
          entryJson({ ...e, name: at.attr.kind === 'dir' ? e.name : baseName(at.path) }),
        );
        await writeOut(io, `${JSON.stringify(json, null, 2)}\n`);
      } else if (values.long === true) {
        await writeOut(io, longListing(entries));
      } else {
        await writeOut(io, entries.map((e) => `${e.name}\n`).join(''));
      }
      return 0;
    });
  },
};
