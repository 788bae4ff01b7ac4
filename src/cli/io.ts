/** Where a CLI run reads its environment and writes its output. */
export interface CliIO {
  /** Human or JSON output. */
  out(text: string): void;
  /** Errors and notes. */
  err(text: string): void;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /**
   * Write bytes (file contents, long listings) to stdout, resolving once the stream can take
   * more, so a big `cat` never buffers the whole file. Without it, `out` is used.
   */
  write?(data: Uint8Array | string): Promise<void>;
  /** Columns of stderr when it is a terminal (for progress bars), else undefined. */
  errColumns?(): number | undefined;
}

let stdoutWatched = false;

/**
 * A reader that went away (`tessera cat f | head`) ends the command quietly, as SIGPIPE
 * would end a C program; any other stdout failure is reported on stderr.
 */
function watchStdout(): void {
  if (stdoutWatched) return;
  stdoutWatched = true;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    process.stderr.write(`tessera: stdout: ${err.message}\n`);
    process.exit(5);
  });
}

/** The process's own streams, environment and working directory. */
export function processIO(): CliIO {
  watchStdout();
  return {
    out: (text) => {
      process.stdout.write(text);
    },
    err: (text) => {
      process.stderr.write(text);
    },
    write: (data) =>
      new Promise<void>((resolve) => {
        if (process.stdout.write(data)) resolve();
        else process.stdout.once('drain', resolve);
      }),
    errColumns: () => (process.stderr.isTTY ? process.stderr.columns || 80 : undefined),
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
