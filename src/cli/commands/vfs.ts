import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { text as streamText } from 'node:stream/consumers';
import { openHomeCatalog } from '../../catalog/catalog-file.ts';
import { openHome } from '../../core/home.ts';
import type { ListedEntry, VirtualDirectories } from '../../catalog/vfs/virtual-directories.ts';
import { virtualDirectoriesOver } from '../../catalog/vfs/store-directory-store.ts';
import { FsError } from '../../core/fs-error.ts';
import { parseCommandArgs, usageError } from '../args.ts';
import { HOME_OPTION_HELP, homeRootOf, type Command } from '../command.ts';
import type { CliIO } from '../io.ts';

/**
 * Run `fn` with the virtual directories of the home's catalog (the node may be running; its
 * next listing sees the change). Writers create the catalog if the node never ran.
 */
async function withVfs<T>(
  opts: { io: CliIO; home: string | undefined; write?: boolean },
  fn: (vfs: VirtualDirectories) => T,
): Promise<T> {
  const write = opts.write === true;
  const home = homeRootOf(opts);
  await openHome({ root: home }); // A home that is not one is an error, not a new catalog.
  const store = await openHomeCatalog({ home, write, create: write });
  const { vfs } = virtualDirectoriesOver({ store, ttlMs: 0 });
  try {
    return fn(vfs);
  } finally {
    vfs.close();
    await store.close();
  }
}

/**
 * One mount from the command line: SOURCE is `[NODE@]EXPORT[:/PATH]`, steps are JSON objects
 * in order, the rest are the mount's settings.
 */
export function mountFromArgs(opts: {
  command: string;
  source: string;
  steps: readonly string[];
  strategy?: string | undefined;
  prefix?: string | undefined;
  default?: string | undefined;
  conflict?: string | undefined;
}): Record<string, unknown> {
  const m = /^(?:([^@:]+)@)?([^@:/]+)(?::(\/.*))?$/.exec(opts.source);
  if (!m)
    throw usageError({
      command: opts.command,
      problem: `--mount expects [NODE@]EXPORT[:/PATH], got '${opts.source}'`,
    });
  const steps = opts.steps.map((text) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw usageError({
        command: opts.command,
        problem: `--step expects a JSON object like '{"op":"glob","pattern":"*.pdf","on_match":"include"}', got '${text}'`,
      });
    }
  });
  const mount: Record<string, unknown> = {
    source: { ...(m[1] === undefined ? {} : { node: m[1] }), export: m[2], path: m[3] ?? '/' },
    steps,
  };
  if (opts.strategy !== undefined) mount.strategy = opts.strategy;
  if (opts.prefix !== undefined) mount.source_prefix = opts.prefix;
  if (opts.default !== undefined) mount.default_result = opts.default;
  if (opts.conflict !== undefined) mount.conflict_policy = opts.conflict;
  return mount;
}

const MOUNT_OPTIONS = {
  mount: { type: 'string' },
  step: { type: 'string', multiple: true },
  flatten: { type: 'boolean' },
  'source-prefix': { type: 'string' },
  default: { type: 'string' },
  conflict: { type: 'string' },
  enforce: { type: 'boolean' },
  'no-enforce': { type: 'boolean' },
  from: { type: 'string' },
  json: { type: 'boolean' },
} as const;

const MOUNT_HELP = `  --mount SOURCE     a mount: [NODE@]EXPORT[:/PATH] (files of that export, under PATH)
  --step JSON        a step of that mount's pipeline, in order (repeatable), e.g.
                     '{"op":"glob","pattern":"*.pdf","on_match":"include"}'
  --flatten          list matching files directly in the directory (default: keep the
                     hierarchy below the source path, prefix_replace)
  --source-prefix P  what prefix_replace strips (default: the source path)
  --default R        include | exclude: what a file no step decided gets (default include)
  --conflict P       last_write_wins | suffix_node_id (default last_write_wins)
  --enforce          descendants inherit this directory's steps (--no-enforce: not)
  --from FILE        the whole settings as JSON ({"enforce_steps_on_children", "mounts"});
                     '-' reads standard input
  --json             print the resulting document as JSON`;

async function readBody(io: CliIO, from: string): Promise<unknown> {
  const text =
    from === '-'
      ? await streamText(process.stdin)
      : await readFile(resolve(io.cwd, from), 'utf8').catch((err: unknown) => {
          throw FsError.from(err, 'vfs', from);
        });
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw FsError.EINVAL('vfs', from, `not JSON: ${(err as Error).message}`);
  }
}

type MountValues = {
  [K in keyof typeof MOUNT_OPTIONS]?: (typeof MOUNT_OPTIONS)[K] extends { multiple: true }
    ? string[]
    : (typeof MOUNT_OPTIONS)[K] extends { type: 'boolean' }
      ? boolean
      : string;
};

/**
 * What `--enforce` / `--no-enforce` ask for (undefined: neither). They contradict each other,
 * and `--from` gives the whole settings, `enforce_steps_on_children` included.
 */
function enforceOf(command: string, values: MountValues): boolean | undefined {
  const on = values.enforce === true;
  const off = values['no-enforce'] === true;
  if (on && off) throw usageError({ command, problem: '--enforce and --no-enforce contradict each other' });
  if ((on || off) && values.from !== undefined)
    throw usageError({
      command,
      problem: `--from gives the whole settings: set "enforce_steps_on_children" in the file instead of ${on ? '--enforce' : '--no-enforce'}`,
    });
  return on ? true : off ? false : undefined;
}

function mountOf(command: string, values: MountValues): Record<string, unknown> | undefined {
  const perMount =
    values.step !== undefined ||
    values.flatten === true ||
    values['source-prefix'] !== undefined ||
    values.default !== undefined ||
    values.conflict !== undefined;
  if (values.mount === undefined) {
    if (perMount)
      throw usageError({
        command,
        problem: '--step, --flatten, --default, --conflict and --source-prefix need --mount',
      });
    return undefined;
  }
  return mountFromArgs({
    command,
    source: values.mount,
    steps: values.step ?? [],
    strategy: values.flatten === true ? 'flatten' : undefined,
    prefix: values['source-prefix'],
    default: values.default,
    conflict: values.conflict,
  });
}

function printDoc(io: CliIO, doc: unknown): void {
  io.out(`${JSON.stringify(doc, null, 2)}\n`);
}

/** What `--preview` prints: the listing and the file count, or with `--json` both as JSON. */
function printPreview(io: CliIO, preview: { entries: ListedEntry[]; files: number }, json: boolean): void {
  if (json) printDoc(io, preview);
  else io.out(`${formatEntries(preview.entries, false)}(${preview.files} files in all)\n`);
}

/** `tessera vfs mkdir`. */
export const vfsMkdirCommand: Command = {
  name: 'vfs mkdir',
  summary: 'create a virtual directory (files chosen by rules from the catalog)',
  help: `Usage: tessera vfs mkdir PATH [--mount SOURCE [--step JSON]... [options]] [--from FILE] [--preview] [--home DIR]

Create a virtual directory at PATH (its parent must exist; '/' always does). Its content is
evaluated from the catalog whenever it is listed: the files of each mount source that the
mount's step pipeline includes. See docs/vfs.md for the steps and policies.

Options:
${MOUNT_HELP}
  --preview          print what the directory would list, without creating it
${HOME_OPTION_HELP}
`,
  async run({ io, argv }) {
    const { values, positionals } = parseCommandArgs({
      command: 'vfs mkdir',
      argv,
      options: { ...MOUNT_OPTIONS, preview: { type: 'boolean' } },
      positionals: ['PATH'],
    });
    if (values.help === true) {
      io.out(this.help);
      return 0;
    }
    const path = positionals[0] ?? '';
    const mount = mountOf('vfs mkdir', values);
    const enforce = enforceOf('vfs mkdir', values);
    if (values.from !== undefined && mount !== undefined)
      throw usageError({ command: 'vfs mkdir', problem: '--from and --mount do not go together' });
    const body =
      values.from !== undefined
        ? await readBody(io, values.from)
        : { enforce_steps_on_children: enforce === true, mounts: mount ? [mount] : [] };
    return withVfs({ io, home: values.home, write: values.preview !== true }, (vfs) => {
      if (values.preview === true) {
        printPreview(io, vfs.preview({ path, body }), values.json === true);
        return 0;
      }
      const doc = vfs.create({ path, body });
      if (values.json === true) printDoc(io, doc);
      else
        io.out(
          `created virtual directory ${doc.path} (${doc.mounts.length} mount${doc.mounts.length === 1 ? '' : 's'})\n`,
        );
      return 0;
    });
  },
};

/** `tessera vfs show`. */
export const vfsShowCommand: Command = {
  name: 'vfs show',
  summary: "print a virtual directory's document (JSON)",
  help: `Usage: tessera vfs show [PATH] [--all] [--home DIR]

Print the document of the virtual directory at PATH (default '/') as JSON: its mounts, steps
and policies, revision and times. With --all, every virtual directory's document as an array.

Options:
  --all              every document
${HOME_OPTION_HELP}
`,
  async run({ io, argv }) {
    const { values, positionals } = parseCommandArgs({
      command: 'vfs show',
      argv,
      options: { all: { type: 'boolean' } },
      optionalPositionals: ['PATH'],
    });
    if (values.help === true) {
      io.out(this.help);
      return 0;
    }
    return withVfs({ io, home: values.home }, (vfs) => {
      printDoc(io, values.all === true ? vfs.list() : vfs.get({ path: positionals[0] ?? '/' }));
      return 0;
    });
  },
};

/** `tessera vfs edit`. */
export const vfsEditCommand: Command = {
  name: 'vfs edit',
  summary: "change a virtual directory's mounts or settings",
  help: `Usage: tessera vfs edit PATH [--from FILE | --mount SOURCE ... | --remove-mount ID | --enforce | --no-enforce] [--rev N] [--home DIR]

Change the virtual directory at PATH. --from replaces its settings with a JSON document (the
output of 'tessera vfs show', edited, is fine); --mount adds a mount; --remove-mount removes
one by id; --enforce/--no-enforce switch inheritance of its steps by its descendants.

Options:
${MOUNT_HELP}
  --remove-mount ID  remove the mount with this id (see 'tessera vfs show')
  --rev N            refuse (EAGAIN) if the document is no longer at revision N
  --preview          print what the directory would list after the change, without saving
${HOME_OPTION_HELP}
`,
  async run({ io, argv }) {
    const { values, positionals } = parseCommandArgs({
      command: 'vfs edit',
      argv,
      options: {
        ...MOUNT_OPTIONS,
        'remove-mount': { type: 'string', multiple: true },
        rev: { type: 'string' },
        preview: { type: 'boolean' },
      },
      positionals: ['PATH'],
    });
    if (values.help === true) {
      io.out(this.help);
      return 0;
    }
    const path = positionals[0] ?? '';
    const mount = mountOf('vfs edit', values);
    const rev = values.rev === undefined ? undefined : Number(values.rev);
    if (rev !== undefined && !Number.isSafeInteger(rev))
      throw usageError({ command: 'vfs edit', problem: `--rev expects a number, got '${values.rev}'` });
    const enforceWanted = enforceOf('vfs edit', values);
    const fromFile = values.from === undefined ? undefined : await readBody(io, values.from);
    return withVfs({ io, home: values.home, write: values.preview !== true }, (vfs) => {
      const current = vfs.get({ path });
      let body: Record<string, unknown>;
      if (fromFile !== undefined) {
        if (mount !== undefined || values['remove-mount'] !== undefined)
          throw usageError({
            command: 'vfs edit',
            problem: '--from replaces everything: no --mount or --remove-mount with it',
          });
        body = fromFile as Record<string, unknown>;
      } else {
        const remove = new Set(values['remove-mount'] ?? []);
        for (const id of remove)
          if (!current.mounts.some((m) => m.id === id))
            throw FsError.ENOENT('vfs edit', path, `no mount with id '${id}'`);
        const mounts: unknown[] = current.mounts.filter((m) => !remove.has(m.id));
        if (mount) mounts.push(mount);
        const enforce = enforceWanted ?? current.enforce_steps_on_children;
        if (mount === undefined && remove.size === 0 && enforce === current.enforce_steps_on_children)
          throw usageError({
            command: 'vfs edit',
            problem: 'nothing to change (give --from, --mount, --remove-mount or --enforce)',
          });
        body = { enforce_steps_on_children: enforce, mounts };
      }
      if (values.preview === true) {
        printPreview(io, vfs.preview({ path, body }), values.json === true);
        return 0;
      }
      const doc = vfs.update({ path, body, rev });
      if (values.json === true) printDoc(io, doc);
      else io.out(`updated virtual directory ${doc.path} (revision ${doc.rev})\n`);
      return 0;
    });
  },
};

/** `tessera vfs rm`. */
export const vfsRmCommand: Command = {
  name: 'vfs rm',
  summary: 'delete a virtual directory (the real files stay)',
  help: `Usage: tessera vfs rm PATH [-r] [--home DIR]

Delete the virtual directory at PATH. Only its document goes: the files it listed are not
touched. System directories (the root) cannot be deleted.

Options:
  -r, --recursive    also delete the virtual directories below it
${HOME_OPTION_HELP}
`,
  async run({ io, argv }) {
    const { values, positionals } = parseCommandArgs({
      command: 'vfs rm',
      argv,
      options: { recursive: { type: 'boolean', short: 'r' } },
      positionals: ['PATH'],
    });
    if (values.help === true) {
      io.out(this.help);
      return 0;
    }
    return withVfs({ io, home: values.home, write: true }, (vfs) => {
      const gone = vfs.remove({ path: positionals[0] ?? '', recursive: values.recursive === true });
      io.out(`deleted ${gone.join(', ')}\n`);
      return 0;
    });
  },
};

function formatEntries(entries: readonly ListedEntry[], long: boolean): string {
  return entries
    .map((e) => {
      const name = e.kind === 'dir' ? `${e.name}/` : e.name;
      if (!long || !e.file) return `${name}\n`;
      const when = new Date(e.file.mtimeMs).toISOString().slice(0, 19).replace('T', ' ');
      return `${String(e.file.size).padStart(12)}  ${when}  ${name}  -> ${e.file.node}@${e.file.export}:${e.file.path}\n`;
    })
    .join('');
}

/** `tessera vfs ls`. */
export const vfsLsCommand: Command = {
  name: 'vfs ls',
  summary: 'list what a virtual directory shows now',
  help: `Usage: tessera vfs ls [PATH] [-l] [--json] [--home DIR]

Evaluate the virtual directory at PATH (default '/'; a directory inside one works too) against
the catalog and list its entries: subdirectories end with '/'.

Options:
  -l, --long         size, modification time and where each file really is
                     (NODE@EXPORT:/PATH)
  --json             print a JSON array of {name, kind, file?, mount?, virtual?}
${HOME_OPTION_HELP}
`,
  async run({ io, argv }) {
    const { values, positionals } = parseCommandArgs({
      command: 'vfs ls',
      argv,
      options: { long: { type: 'boolean', short: 'l' }, json: { type: 'boolean' } },
      optionalPositionals: ['PATH'],
    });
    if (values.help === true) {
      io.out(this.help);
      return 0;
    }
    return withVfs({ io, home: values.home }, (vfs) => {
      const entries = vfs.readdir({ path: positionals[0] ?? '/' });
      if (values.json === true) printDoc(io, entries);
      else io.out(formatEntries(entries, values.long === true));
      return 0;
    });
  },
};

/** Every `vfs` subcommand. */
export const vfsCommands: readonly Command[] = [
  vfsMkdirCommand,
  vfsLsCommand,
  vfsShowCommand,
  vfsEditCommand,
  vfsRmCommand,
];
