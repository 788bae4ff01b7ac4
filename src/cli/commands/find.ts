import type { FileKind } from '../../core/attr.ts';
import { parseCommandArgs, usageError } from '../args.ts';
import { HOME_OPTION_HELP, type Command } from '../command.ts';
import { REMOTE_OPTION_HELP, REMOTE_OPTIONS, withRemote } from '../remote/connect.ts';
import { entryJson } from '../remote/format.ts';
import { globToRegExp } from '../remote/glob.ts';
import { writeOut } from '../remote/output.ts';
import { walk } from '../remote/tree.ts';

const TYPES: Record<string, FileKind> = { f: 'file', d: 'dir', l: 'symlink' };

/** `tessera find`: walk a tree of the namespace. */
export const findCommand: Command = {
  name: 'find',
  summary: 'walk a directory tree of a node, printing matching paths',
  help: `Usage: tessera find [PATH] [--name GLOB] [--type f|d|l] [--maxdepth N] [--json] [--node URL --credential ID:SECRET] [--home DIR]

Walk the tree at PATH (default /), depth first, a directory before what is in it, and print
the path of every entry that matches, as it is found. Symlinks are listed, not followed.

Options:
  --name GLOB      the entry's name matches GLOB (* ? [abc] [!abc]; quote it from the shell)
  --type T         f (regular file), d (directory) or l (symlink)
  --maxdepth N     descend at most N levels below PATH (0: PATH only)
  --json           JSON lines: one object per match {name, path, kind, size, mode, nlink,
                   uid, gid, mtime, mtimeNs, id}
${REMOTE_OPTION_HELP}
${HOME_OPTION_HELP}
`,
  async run({ io, argv }) {
    const { values, positionals } = parseCommandArgs({
      command: 'find',
      argv,
      options: {
        ...REMOTE_OPTIONS,
        name: { type: 'string' },
        type: { type: 'string' },
        maxdepth: { type: 'string' },
        json: { type: 'boolean' },
      },
      optionalPositionals: ['PATH'],
    });
    if (values.help === true) {
      io.out(this.help);
      return 0;
    }
    const pattern = values.name === undefined ? undefined : globToRegExp(values.name);
    let kind: FileKind | undefined;
    if (values.type !== undefined) {
      kind = TYPES[values.type];
      if (kind === undefined)
        throw usageError({ command: 'find', problem: `--type must be f, d or l, got '${values.type}'` });
    }
    let maxDepth: number | undefined;
    if (values.maxdepth !== undefined) {
      maxDepth = Number(values.maxdepth);
      if (!/^\d+$/.test(values.maxdepth) || !Number.isSafeInteger(maxDepth))
        throw usageError({
          command: 'find',
          problem: `--maxdepth must be a whole number, got '${values.maxdepth}'`,
        });
    }
    const json = values.json === true;
    return withRemote({ io, command: 'find', values }, async (fs) => {
      const start = await fs.resolve(positionals[0] ?? '/', { follow: false });
      await walk({
        fs,
        start,
        maxDepth,
        visit: async (e) => {
          if (kind !== undefined && e.attr.kind !== kind) return;
          if (pattern !== undefined && !pattern.test(e.name)) return;
          await writeOut(io, json ? `${JSON.stringify(entryJson(e))}\n` : `${e.path}\n`);
        },
      });
      return 0;
    });
  },
};
