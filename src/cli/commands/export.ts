import { resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import {
  EXPORT_KINDS,
  exportPathProblem,
  LOCAL_EXPORT_KINDS,
  nameProblem,
  type ExportKind,
} from '../../core/config.ts';
import { FsError } from '../../core/fs-error.ts';
import { addExport, openHome, removeExport } from '../../core/home.ts';
import { probeExport } from '../../node/export-registry.ts';
import { parseCommandArgs, usageError } from '../args.ts';
import { HOME_OPTION_HELP, homeRootOf, type Command } from '../command.ts';
import { formatTable } from '../io.ts';

/** The kind `export add` uses without `--kind`: the native adapter of this OS. */
export function defaultExportKind(platform: NodeJS.Platform = process.platform): ExportKind {
  if (platform === 'linux') return 'linux';
  if (platform === 'win32') return 'windows';
  return 'posix';
}

function invalid(op: string, problem: string): FsError {
  return new FsError({ code: 'EINVAL', op, message: `EINVAL: ${problem}` });
}

/**
 * One `--option key=value`. The value is read as a TOML number, boolean or quoted string
 * when it is one (`scanIntervalMs=500` → 500, `x="007"` → "007"), else taken as text
 * (`endpoint=http://127.0.0.1:9000`).
 */
export function parseExportOption(text: string): [string, unknown] {
  const eq = text.indexOf('=');
  const key = eq < 0 ? text : text.slice(0, eq);
  if (eq < 0 || !/^[A-Za-z0-9_-]+$/.test(key)) {
    throw usageError({
      command: 'export add',
      problem: `--option expects key=value with a key of [A-Za-z0-9_-], got '${text}'`,
    });
  }
  const raw = text.slice(eq + 1);
  let value: unknown = raw;
  try {
    const parsed = parseToml(`v = ${raw}`).v;
    if (typeof parsed === 'boolean' || typeof parsed === 'string') value = parsed;
    if (typeof parsed === 'number' && Number.isFinite(parsed)) value = parsed;
  } catch {
    value = raw;
  }
  return [key, value];
}

/** `tessera export add`. */
export const exportAddCommand: Command = {
  name: 'export add',
  summary: 'export a directory (or bucket) of this node under a name',
  help: `Usage: tessera export add NAME PATH [--kind KIND] [--ro] [--desc TEXT] [--option KEY=VALUE]... [--home DIR]

Add an export to this node's tessera.toml. The Source is built and opened once first, so an
export that cannot work (missing directory, bad option, unreachable bucket) is never added.

Arguments:
  NAME             export name: letters, digits, '.', '_', '-' (at most 64)
  PATH             the directory to export (relative paths are made absolute), or
                   s3://bucket[/prefix] for kind s3; optional for kind memory

Options:
  --kind KIND      ${EXPORT_KINDS.join(' | ')} (default on this machine: ${defaultExportKind()})
  --ro             export read-only
  --desc TEXT      a description shown to clients
  --option K=V     a kind-specific option (repeatable); numbers and true/false are typed
${HOME_OPTION_HELP}
`,
  async run({ io, argv }) {
    const { values, positionals } = parseCommandArgs({
      command: 'export add',
      argv,
      options: {
        kind: { type: 'string' },
        ro: { type: 'boolean' },
        desc: { type: 'string' },
        option: { type: 'string', multiple: true },
      },
      positionals: ['NAME'],
      optionalPositionals: ['PATH'],
    });
    if (values.help === true) {
      io.out(this.help);
      return 0;
    }
    const name = positionals[0] ?? '';
    const problem = nameProblem(name);
    if (problem !== undefined) throw invalid('export add', `export name ${problem}`);
    const kindText = values.kind ?? defaultExportKind();
    if (!(EXPORT_KINDS as readonly string[]).includes(kindText)) {
      throw invalid(
        'export add',
        `--kind: expected one of ${EXPORT_KINDS.join(', ')}, got ${JSON.stringify(kindText)}`,
      );
    }
    const kind = kindText as ExportKind;
    let path = positionals[1] ?? '';
    if (path === '' && kind !== 'memory')
      throw usageError({ command: 'export add', problem: 'missing PATH' });
    // A windows path only means something on Windows; elsewhere the adapter refuses the kind.
    if (LOCAL_EXPORT_KINDS.has(kind) && (kind !== 'windows' || process.platform === 'win32')) {
      path = resolve(io.cwd, path);
    }
    const pathProblem = exportPathProblem(kind, path);
    if (pathProblem !== undefined) throw invalid('export add', `PATH: ${pathProblem}`);
    const options: Record<string, unknown> = {};
    for (const text of values.option ?? []) {
      const [key, value] = parseExportOption(text);
      if (Object.hasOwn(options, key))
        throw usageError({ command: 'export add', problem: `--option ${key} given twice` });
      options[key] = value;
    }
    const entry = await addExport({
      root: homeRootOf({ io, home: values.home }),
      entry: { name, kind, path, ro: values.ro === true, desc: values.desc ?? '', options },
      check: (candidate, paths) => probeExport({ paths, entry: candidate }),
    });
    io.out(
      `added export ${entry.name}: kind ${entry.kind}, index ${entry.index}${entry.ro ? ', read-only' : ''}` +
        `${entry.path === '' ? '' : `, ${entry.path}`}\n`,
    );
    return 0;
  },
};

/** `tessera export list`. */
export const exportListCommand: Command = {
  name: 'export list',
  summary: "list this node's exports",
  help: `Usage: tessera export list [--json] [--home DIR]

List the exports in this node's tessera.toml.

Options:
  --json           print a JSON array of {name, kind, path, ro, index, desc}
${HOME_OPTION_HELP}
`,
  async run({ io, argv }) {
    const { values } = parseCommandArgs({
      command: 'export list',
      argv,
      options: { json: { type: 'boolean' } },
    });
    if (values.help === true) {
      io.out(this.help);
      return 0;
    }
    const home = await openHome({ root: homeRootOf({ io, home: values.home }) });
    const list = home.config.export.map((e) => ({
      name: e.name,
      kind: e.kind,
      path: e.path,
      ro: e.ro,
      index: e.index,
      desc: e.desc,
    }));
    if (values.json === true) {
      io.out(`${JSON.stringify(list, null, 2)}\n`);
      return 0;
    }
    if (list.length === 0) {
      io.out("no exports (add one with 'tessera export add NAME PATH')\n");
      return 0;
    }
    io.out(
      formatTable({
        header: ['NAME', 'KIND', 'INDEX', 'MODE', 'PATH', 'DESC'],
        rows: list.map((e) => [e.name, e.kind, String(e.index), e.ro ? 'ro' : 'rw', e.path, e.desc]),
      }),
    );
    return 0;
  },
};

/** `tessera export remove`. */
export const exportRemoveCommand: Command = {
  name: 'export remove',
  summary: 'remove an export (its files are not touched)',
  help: `Usage: tessera export remove NAME [--home DIR]

Remove an export from this node's tessera.toml and delete the state Tessera kept for it
(its id map). The exported files themselves are not touched. The export's index is never
handed out again, so ids that clients still hold cannot point into another export.

Options:
${HOME_OPTION_HELP}
`,
  async run({ io, argv }) {
    const { values, positionals } = parseCommandArgs({
      command: 'export remove',
      argv,
      options: {},
      positionals: ['NAME'],
    });
    if (values.help === true) {
      io.out(this.help);
      return 0;
    }
    const entry = await removeExport({
      root: homeRootOf({ io, home: values.home }),
      name: positionals[0] ?? '',
    });
    io.out(`removed export ${entry.name} (index ${entry.index})\n`);
    return 0;
  },
};

/** Every `export` subcommand. */
export const exportCommands: readonly Command[] = [exportAddCommand, exportListCommand, exportRemoveCommand];
