import { readFileSync } from 'node:fs';
import { EXIT_INTERNAL_ERROR, exitCodeOf, isErrnoName } from '../core/errno.ts';
import { FsError } from '../core/fs-error.ts';
import { usageError } from './args.ts';
import type { Command } from './command.ts';
import { catalogBackupCommand, catalogRestoreCommand } from './commands/catalog-backup.ts';
import { credentialsCommands } from './commands/credentials.ts';
import { exportCommands } from './commands/export.ts';
import {
  indexRescanCommand,
  indexStatusCommand,
  searchCommand,
  storageCommand,
} from './commands/index-search.ts';
import { infoCommand } from './commands/info.ts';
import { initCommand } from './commands/init.ts';
import { mountCommands } from './commands/mount.ts';
import { mountFsCommand } from './commands/mount-fs.ts';
import { labelsCommands } from './commands/labels.ts';
import { remoteCommands } from './commands/remote.ts';
import { serveCommand } from './commands/serve.ts';
import { vfsCommands } from './commands/vfs.ts';
import { processIO, type CliIO } from './io.ts';

/** Every command, in the order `tessera --help` lists them. */
export const COMMANDS: readonly Command[] = [
  initCommand,
  infoCommand,
  ...exportCommands,
  serveCommand,
  ...credentialsCommands,
  ...remoteCommands,
  ...mountCommands,
  mountFsCommand,
  ...vfsCommands,
  searchCommand,
  ...labelsCommands,
  indexStatusCommand,
  indexRescanCommand,
  storageCommand,
  catalogBackupCommand,
  catalogRestoreCommand,
];

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version?: string;
  };
  return pkg.version ?? '0.0.0';
}

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `Usage: tessera <command> [options]

Tessera: one filesystem namespace over every machine and cloud you use.

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Every command takes --home DIR (default: $TESSERA_HOME, else ~/.tessera) and --help.
Errors go to stderr as one line; the exit code is the errno number (ENOENT 2, EINVAL 22,
EEXIST 17, …; see docs/errors.md); 70 means an internal error.
`;
}

function groupHelp(group: string, commands: readonly Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return `Usage: tessera ${group} <command> [options]

Commands:
${commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Run 'tessera ${group} <command> --help' for the options of one.
`;
}

/** The command the words of `argv` select, and the arguments left for it. */
function selectCommand(argv: readonly string[]): { command?: Command; group?: string; rest: string[] } {
  const [first, second] = argv;
  const single = COMMANDS.find((c) => c.name === first);
  if (single) return { command: single, rest: argv.slice(1) };
  const group = COMMANDS.filter((c) => c.name.startsWith(`${first} `));
  if (group.length === 0 || first === undefined) return { rest: [...argv] };
  const command = group.find((c) => c.name === `${first} ${second}`);
  if (command) return { command, rest: argv.slice(2) };
  return { group: first, rest: argv.slice(1) };
}

/** One line for an error: `tessera: export add: ENOENT: …`, newlines folded. */
export function formatCliError(opts: { command: string; error: FsError }): string {
  const where = opts.command === '' ? '' : `${opts.command}: `;
  return `tessera: ${where}${opts.error.message.replace(/\s*\n\s*/g, ' ')}\n`;
}

/**
 * Run the `tessera` CLI with `argv` (the arguments after the program name). Resolves to the
 * exit code: 0, the errno number of an `FsError` (usage errors are `EINVAL`, 22), or
 * `EXIT_INTERNAL_ERROR` (70) when something unexpected was thrown. Never throws.
 */
export async function runCli(opts: { argv: readonly string[]; io?: CliIO }): Promise<number> {
  const io = opts.io ?? processIO();
  const argv = [...opts.argv];
  let commandName = '';
  try {
    if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
      if (argv[0] === 'help' && argv.length > 1)
        return await runCli({ argv: [...argv.slice(1), '--help'], io });
      io.out(mainHelp());
      return argv.length === 0 ? 22 : 0;
    }
    if (argv[0] === '--version' || argv[0] === '-V') {
      io.out(`tessera ${version()}\n`);
      return 0;
    }
    const { command, group, rest } = selectCommand(argv);
    if (command === undefined && group !== undefined) {
      commandName = group;
      const commands = COMMANDS.filter((c) => c.name.startsWith(`${group} `));
      if (rest.length === 0 || rest[0] === '--help' || rest[0] === '-h') {
        io.out(groupHelp(group, commands));
        return rest.length === 0 ? 22 : 0;
      }
      throw usageError({ command: group, problem: `unknown command '${group} ${rest[0]}'` });
    }
    if (command === undefined) throw usageError({ command: '', problem: `unknown command '${argv[0]}'` });
    commandName = command.name;
    return await command.run({ io, argv: rest });
  } catch (err) {
    return reportError({ io, command: commandName, err });
  }
}

function reportError(opts: { io: CliIO; command: string; err: unknown }): number {
  const { io, err } = opts;
  const debug = io.env.TESSERA_DEBUG === '1';
  const code = (err as { code?: unknown } | null)?.code;
  // FsErrors and native system errors are expected failures; anything else is a bug.
  const expected = err instanceof FsError || (typeof code === 'string' && isErrnoName(code));
  if (!expected) {
    const message = err instanceof Error ? err.message : String(err);
    io.err(
      `tessera: ${opts.command === '' ? '' : `${opts.command}: `}internal error: ${message.replace(/\s*\n\s*/g, ' ')}\n`,
    );
    if (debug && err instanceof Error && err.stack) io.err(`${err.stack}\n`);
    else io.err('tessera: run with TESSERA_DEBUG=1 for the stack trace\n');
    return EXIT_INTERNAL_ERROR;
  }
  const error = FsError.from(err, opts.command === '' ? 'tessera' : opts.command);
  io.err(formatCliError({ command: opts.command, error }));
  if (debug) {
    io.err(`${error.stack ?? ''}\n`);
    if (error.cause instanceof Error && error.cause.stack) io.err(`caused by: ${error.cause.stack}\n`);
  }
  return exitCodeOf(error.code);
}
