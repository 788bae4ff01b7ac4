/** Where a CLI run reads its environment and writes its output. */
export interface CliIO {
  /** Human or JSON output. */
  out(text: string): void;
  /** Errors and notes. */
  err(text: string): void;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/** The process's own streams, environment and working directory. */
export function processIO(): CliIO {
  return {
    out: (text) => {
      process.stdout.write(text);
    },
    err: (text) => {
      process.stderr.write(text);
    },
    env: process.env,
    cwd: process.cwd(),
  };
}

/** Render rows as a left-aligned text table with a header row (no trailing spaces). */
export function formatTable(opts: {
  header: readonly string[];
  rows: readonly (readonly string[])[];
}): string {
  const all = [opts.header, ...opts.rows];
  const widths = opts.header.map((_, col) => Math.max(...all.map((row) => (row[col] ?? '').length)));
  return all
    .map((row) =>
      row
        .map((cell, col) => (col === row.length - 1 ? cell : cell.padEnd(widths[col] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .map((line) => `${line}\n`)
    .join('');
}
