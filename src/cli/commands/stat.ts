import { parseCommandArgs } from '../args.ts';
import { HOME_OPTION_HELP, type Command } from '../command.ts';
import { REMOTE_OPTION_HELP, REMOTE_OPTIONS, withRemote } from '../remote/connect.ts';
import { isoTime, modeString, octalMode } from '../remote/format.ts';
import { baseName } from '../remote/remote-fs.ts';

/** `tessera stat`: the attributes of one path. */
export const statCommand: Command = {
  name: 'stat',
  summary: 'show the attributes of a path on a node',
  help: `Usage: tessera stat [-L] [--json] PATH [--node URL --credential ID:SECRET] [--home DIR]

Show kind, size, mode, owner, times, id and export of PATH. A final symlink is described
itself (with its target) unless -L is given.

Options:
  -L, --dereference  follow a final symlink
  --json           one JSON object {path, name, id, export, kind, size, mode, nlink, uid, gid,
                   atime, mtime, ctime, atimeNs, mtimeNs, ctimeNs, gen, target?}
${REMOTE_OPTION_HELP}
${HOME_OPTION_HELP}
`,
  async run({ io, argv }) {
    const { values, positionals } = parseCommandArgs({
      command: 'stat',
      argv,
      options: { ...REMOTE_OPTIONS, dereference: { type: 'boolean', short: 'L' }, json: { type: 'boolean' } },
      positionals: ['PATH'],
    });
    if (values.help === true) {
      io.out(this.help);
      return 0;
    }
    return withRemote({ io, command: 'stat', values }, async (fs) => {
      const at = await fs.resolve(positionals[0]!, { follow: values.dereference === true });
      const { attr } = at;
      const target = attr.kind === 'symlink' ? await fs.readlink(at.id, at.path) : undefined;
      const info = {
        path: at.path,
        name: baseName(at.path),
        id: at.id.toString(),
        export: (await fs.exportOf(at.id)) ?? '',
        kind: attr.kind,
        size: attr.size,
        mode: octalMode(attr.mode),
        nlink: attr.nlink,
        uid: attr.uid,
        gid: attr.gid,
        atime: isoTime(attr.atimeNs),
        mtime: isoTime(attr.mtimeNs),
        ctime: isoTime(attr.ctimeNs),
        atimeNs: attr.atimeNs.toString(),
        mtimeNs: attr.mtimeNs.toString(),
        ctimeNs: attr.ctimeNs.toString(),
        gen: attr.gen,
        ...(target === undefined ? {} : { target }),
      };
      if (values.json === true) {
        io.out(`${JSON.stringify(info, null, 2)}\n`);
        return 0;
      }
      io.out(
        `path    ${info.path}\n` +
          `kind    ${info.kind}\n` +
          (target === undefined ? '' : `target  ${target}\n`) +
          `size    ${info.size}\n` +
          `mode    ${info.mode} (${modeString(attr)})\n` +
          `links   ${info.nlink}\n` +
          `owner   uid ${info.uid}, gid ${info.gid}\n` +
          `atime   ${info.atime}\n` +
          `mtime   ${info.mtime}\n` +
          `ctime   ${info.ctime}\n` +
          `id      ${info.id}\n` +
          `export  ${info.export}\n`,
      );
      return 0;
    });
  },
};
