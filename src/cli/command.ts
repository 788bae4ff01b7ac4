import { resolveHome } from '../core/home.ts';
import type { CliIO } from './io.ts';

/** One `tessera` command (a word or a group and a word: `init`, `export add`). */
export interface Command {
  /** The words that select it, e.g. `export add`. */
  name: string;
  /** One line for the command list. */
  summary: string;
  /** The full `--help` text. */
  help: string;
  /** Run with the arguments after the command words; resolves to the exit code. */
  run(opts: { io: CliIO; argv: string[] }): Promise<number>;
}

/** Help text shared by every command's options list. */
export const HOME_OPTION_HELP =
  '  --home DIR       the node home (default: $TESSERA_HOME, else ~/.tessera)\n  -h, --help       show this help';

/** The home a command works on, from its `--home` value and the environment. */
export function homeRootOf(opts: { io: CliIO; home: string | undefined }): string {
  return resolveHome({ home: opts.home, env: opts.io.env, cwd: opts.io.cwd });
}
