import { createWriteStream, type WriteStream } from 'node:fs';

/** Log levels, least to most severe. `silent` turns a logger off. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
/** One log level. */
export type LogLevel = (typeof LOG_LEVELS)[number];

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** Whether `value` names a log level. */
export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && (LOG_LEVELS as readonly string[]).includes(value);
}

/** Where finished log lines go (each call gets one line, newline included). */
export interface LogSink {
  write(line: string): void;
  /** Flush and release the sink; idempotent. */
  close?(): Promise<void>;
}

/** Structured fields attached to a log line. */
export type LogFields = Record<string, unknown>;

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Lowest level written (default `info`). */
  level?: LogLevel | undefined;
  /** Component name of the root logger (default `tessera`). */
  component?: string | undefined;
  /** Append to this file instead of writing to stderr. */
  file?: string | undefined;
  /** Write lines here (overrides `file`); tests collect lines this way. */
  sink?: LogSink | undefined;
  /** Fields bound to every line. */
  fields?: LogFields | undefined;
  /** Clock for the `time` field (default `Date.now`). */
  now?: (() => number) | undefined;
}

interface LoggerCore {
  sink: LogSink;
  now: () => number;
  level: LogLevel;
  /** Listeners of warnings and errors, whatever the threshold (see {@link Logger.tap}). */
  taps: Set<(line: string) => void>;
}

/**
 * A structured logger: every line is one JSON object with `time`, `level`, `msg`,
 * `component` and the bound and per-call fields. Child loggers share the sink and level of
 * their root and add fields, so one `setLevel` on the root changes them all.
 */
export class Logger {
  readonly #core: LoggerCore;
  readonly #component: string;
  readonly #fields: LogFields;

  /** Use {@link createLogger}; the constructor is for children. */
  constructor(opts: { core: LoggerCore; component: string; fields: LogFields }) {
    this.#core = opts.core;
    this.#component = opts.component;
    this.#fields = opts.fields;
  }

  /** The current threshold, shared with every child of the same root. */
  get level(): LogLevel {
    return this.#core.level;
  }

  /** Change the threshold of this logger, its root and all its relatives. */
  setLevel(level: LogLevel): void {
    this.#core.level = level;
  }

  /** Whether a line at `level` would be written. */
  isEnabled(level: Exclude<LogLevel, 'silent'>): boolean {
    return RANK[level] >= RANK[this.#core.level];
  }

  /** A logger with extra bound fields (and optionally another component name). */
  child(opts: { component?: string | undefined; fields?: LogFields | undefined }): Logger {
    return new Logger({
      core: this.#core,
      component: opts.component ?? this.#component,
      fields: { ...this.#fields, ...opts.fields },
    });
  }

  debug(msg: string, fields?: LogFields): void {
    this.#write('debug', msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.#write('info', msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.#write('warn', msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.#write('error', msg, fields);
  }

  /**
   * Receive every warning and error line of this logger's family (as the JSON line, without
   * the newline), even when the threshold hides them; a node keeps its recent errors this way.
   * Returns the function that stops it.
   */
  tap(listener: (line: string) => void): () => void {
    this.#core.taps.add(listener);
    return () => this.#core.taps.delete(listener);
  }

  /** Flush and release the sink (file loggers); later lines are dropped. */
  async close(): Promise<void> {
    await this.#core.sink.close?.();
  }

  #write(level: Exclude<LogLevel, 'silent'>, msg: string, fields: LogFields | undefined): void {
    const tapped = this.#core.taps.size > 0 && RANK[level] >= RANK.warn;
    if (!this.isEnabled(level) && !tapped) return;
    // The fixed keys come first and win, so a field can never forge the time, level or message.
    const record: LogFields = {
      time: new Date(this.#core.now()).toISOString(),
      level,
      msg,
      component: this.#component,
    };
    for (const [key, value] of Object.entries({ ...this.#fields, ...fields })) {
      if (!Object.hasOwn(record, key)) record[key] = value;
    }
    const line = stringifyLogRecord(record);
    if (this.isEnabled(level)) this.#core.sink.write(line + '\n');
    if (tapped) for (const tap of this.#core.taps) tap(line);
  }
}

/**
 * JSON for a log record. Bigints become decimal strings, errors their `toJSON` (FsError) or
 * name/message/code, and cycles `"[circular]"`, so logging never throws.
 */
export function stringifyLogRecord(record: LogFields): string {
  const seen = new WeakSet<object>();
  return JSON.stringify(record, function (this: unknown, _key: string, value: unknown): unknown {
    if (typeof value === 'bigint') return value.toString();
    if (value instanceof Error) {
      const withJson = value as Error & { toJSON?: () => unknown; code?: unknown };
      if (typeof withJson.toJSON === 'function') return withJson.toJSON();
      return { name: value.name, message: value.message, code: withJson.code };
    }
    if (value instanceof Uint8Array) return `<${value.byteLength} bytes>`;
    if (typeof value === 'object' && value !== null) {
      if (seen.has(value)) return '[circular]';
      seen.add(value);
    }
    return value;
  });
}

class StderrSink implements LogSink {
  write(line: string): void {
    process.stderr.write(line);
  }
}

class FileSink implements LogSink {
  readonly #stream: WriteStream;
  #closed: Promise<void> | undefined;

  constructor(file: string) {
    this.#stream = createWriteStream(file, { flags: 'a', mode: 0o600 });
    // A failing log file must not crash the process; report once on stderr instead.
    this.#stream.once('error', (err) => {
      process.stderr.write(`tessera: log file ${file}: ${err.message}\n`);
    });
  }

  write(line: string): void {
    if (this.#closed === undefined) this.#stream.write(line);
  }

  close(): Promise<void> {
    this.#closed ??= new Promise<void>((resolve) => {
      this.#stream.end(() => resolve());
    });
    return this.#closed;
  }
}

/** Build a root logger writing to a sink, a file (appended) or stderr (default). */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const sink = opts.sink ?? (opts.file !== undefined ? new FileSink(opts.file) : new StderrSink());
  return new Logger({
    core: { sink, now: opts.now ?? Date.now, level: opts.level ?? 'info', taps: new Set() },
    component: opts.component ?? 'tessera',
    fields: { ...opts.fields },
  });
}

/** A sink that keeps lines in memory, parsed; for tests and diagnostics. */
export class MemoryLogSink implements LogSink {
  readonly lines: LogFields[] = [];
  write(line: string): void {
    this.lines.push(JSON.parse(line) as LogFields);
  }
}
