import { parseArgs, type ParseArgsConfig } from 'node:util';
import { FsError } from '../core/fs-error.ts';

/** A usage error for `tessera <command>`: `EINVAL`, exit code 22, with a pointer to --help. */
export function usageError(opts: { command: string; problem: string }): FsError {
  const help = opts.command === '' ? 'tessera --help' : `tessera ${opts.command} --help`;
  return new FsError({ code: 'EINVAL', op: 'usage', message: `EINVAL: ${opts.problem} (see '${help}')` });
}

/** Options every command accepts. */
export const COMMON_OPTIONS = {
  home: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

type Options = NonNullable<ParseArgsConfig['options']>;

/** The parsed values of a set of options (every one may be absent). */
export type OptionValues<O extends Options> = {
  -readonly [K in keyof O]?: O[K] extends { type: 'boolean' }
    ? O[K] extends { multiple: true }
      ? boolean[]
      : boolean
    : O[K] extends { multiple: true }
      ? string[]
      : string;
};

/**
 * `parseArgs` for one command, with the common options added and parse failures turned
 * into usage errors. Positional counts are checked against `positionals` (names of the
 * required ones) and `optionalPositionals`; with `variadic` the last one repeats (no upper bound).
 */
export function parseCommandArgs<O extends Options>(opts: {
  command: string;
  argv: readonly string[];
  options: O;
  positionals?: readonly string[];
  optionalPositionals?: readonly string[];
  variadic?: boolean;
}): { values: OptionValues<O & typeof COMMON_OPTIONS>; positionals: string[] } {
  const config = {
    args: [...opts.argv],
    options: { ...COMMON_OPTIONS, ...opts.options },
    allowPositionals: true,
    strict: true,
  } as const;
  let parsed: { values: OptionValues<O & typeof COMMON_OPTIONS>; positionals: string[] };
  try {
    parsed = parseArgs(config);
  } catch (err) {
    const message = err instanceof Error ? (err.message.split('. ')[0] ?? err.message) : String(err);
    throw usageError({ command: opts.command, problem: message.charAt(0).toLowerCase() + message.slice(1) });
  }
  const required = opts.positionals ?? [];
  const optional = opts.optionalPositionals ?? [];
  if (parsed.values.help !== true) {
    if (parsed.positionals.length < required.length) {
      const missing = required.slice(parsed.positionals.length).join(' ');
      throw usageError({ command: opts.command, problem: `missing ${missing}` });
    }
    if (opts.variadic !== true && parsed.positionals.length > required.length + optional.length) {
      const extra = parsed.positionals[required.length + optional.length];
      throw usageError({ command: opts.command, problem: `unexpected argument '${extra}'` });
    }
  }
  return parsed;
}
