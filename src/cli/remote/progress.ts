/** Transfers above this size get a progress bar (when stderr is a terminal). */
export const PROGRESS_MIN_BYTES = 4 * 1024 * 1024;
/** Least time between two redraws. */
const REDRAW_MS = 100;
/** The rate is measured over about this much recent time. */
const RATE_WINDOW_MS = 3000;

/** What one line of the progress bar shows. */
export interface ProgressState {
  /** What is moving (a file name). */
  label: string;
  /** Bytes moved so far. */
  done: number;
  /** Bytes expected (0 or less: unknown). */
  total: number;
  /** Recent bytes per second (undefined: not measured yet). */
  rate: number | undefined;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** `1536` → `1.5 KiB`: three significant digits, binary units. */
export function formatBytes(n: number): string {
  let value = Math.max(0, n);
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${Math.round(value)} B`;
  const text = value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
  return `${text} ${UNITS[unit]}`;
}

/** Seconds as `m:ss` or `h:mm:ss`; `--:--` when unknown or absurd. */
export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0 || seconds > 99 * 3600)
    return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/**
 * One line of progress, at most `width` columns:
 * `name.bin  [=======>          ]  42%  12.3 MiB / 29.1 MiB  85.0 MiB/s  ETA 0:03`.
 * The bar shrinks first, then goes; the label is cut (with `…`) before the numbers are.
 * Pure: the same state and width always give the same line.
 */
export function renderProgress(state: ProgressState, width: number): string {
  const room = Math.max(0, Math.floor(width));
  const known = state.total > 0;
  const fraction = known ? Math.min(1, Math.max(0, state.done / state.total)) : 0;
  // Fields padded to their widest form, so the bar keeps its width while the numbers change.
  const done = formatBytes(state.done).padStart(8);
  const amount = known ? `${done} / ${formatBytes(state.total)}` : done;
  const rate = (state.rate === undefined ? '' : `${formatBytes(state.rate)}/s`).padStart(10);
  const eta = !known
    ? undefined
    : `ETA ${formatDuration(state.rate !== undefined && state.rate > 0 ? (state.total - state.done) / state.rate : undefined).padStart(5)}`;
  const numbers = [
    known ? `${String(Math.floor(fraction * 100)).padStart(3)}%` : undefined,
    amount,
    rate,
    eta,
  ]
    .filter((p) => p !== undefined)
    .join('  ');
  // What is left for the label and the bar; the bar (10 to 30 columns) goes before the label is cut.
  const free = room - numbers.length;
  let label = state.label;
  let bar = known ? Math.min(30, free - label.length - 2 - 3) : 0;
  if (bar < 10) bar = 0;
  if (bar === 0 && label.length + 2 > free) {
    const keep = free - 2;
    label = keep <= 1 ? '' : `${label.slice(0, keep - 1)}…`;
  }
  let line = label === '' ? '' : `${label}  `;
  if (bar > 0) {
    const filled = Math.round(fraction * bar);
    const body = filled >= bar ? '='.repeat(bar) : filled > 0 ? `${'='.repeat(filled - 1)}>` : '';
    line += `[${body.padEnd(bar)}] `;
  }
  line = (line + numbers).trim();
  return line.length > room ? line.slice(0, room) : line;
}

/** Where a progress bar draws (stderr in the CLI). */
export interface ProgressSink {
  write(text: string): void;
  /** Terminal width. */
  columns: number;
}

/**
 * A redrawing one-line progress bar. Draws only when `sink` is given (stderr is a terminal)
 * and the transfer is bigger than {@link PROGRESS_MIN_BYTES}; redraws at most every 100 ms;
 * clears its line when done.
 */
export class ProgressBar {
  readonly enabled: boolean;
  readonly #sink: ProgressSink | undefined;
  readonly #label: string;
  readonly #total: number;
  readonly #now: () => number;
  readonly #samples: { t: number; done: number }[] = [];
  #lastDraw = -Infinity;
  #drawn = false;

  constructor(opts: {
    sink: ProgressSink | undefined;
    label: string;
    total: number;
    /** Clock in ms (tests pass their own). */
    now?: () => number;
  }) {
    this.#sink = opts.sink;
    this.#label = opts.label;
    this.#total = opts.total;
    this.#now = opts.now ?? (() => performance.now());
    this.enabled = opts.sink !== undefined && opts.total > PROGRESS_MIN_BYTES;
    if (this.enabled) this.#samples.push({ t: this.#now(), done: 0 });
  }

  /** The rate over the recent window, in bytes per second. */
  #rate(t: number, done: number): number | undefined {
    while (this.#samples.length > 1 && t - this.#samples[1]!.t >= RATE_WINDOW_MS) this.#samples.shift();
    const first = this.#samples[0];
    if (!first || t - first.t < 200) return undefined;
    return ((done - first.done) * 1000) / (t - first.t);
  }

  /** Bytes moved so far. */
  update(done: number): void {
    if (!this.enabled || !this.#sink) return;
    const t = this.#now();
    if (t - this.#lastDraw < REDRAW_MS) return;
    this.#lastDraw = t;
    const rate = this.#rate(t, done);
    this.#samples.push({ t, done });
    const line = renderProgress(
      { label: this.#label, done, total: this.#total, rate },
      this.#sink.columns - 1,
    );
    this.#sink.write(`\r${line}\x1b[K`);
    this.#drawn = true;
  }

  /** Remove the bar (success or failure: the command's own output follows). */
  finish(): void {
    if (this.#drawn) this.#sink?.write('\r\x1b[K');
    this.#drawn = false;
  }
}

/** The sink for a command's progress: stderr when it is a terminal and not `--no-progress`. */
export function progressSink(opts: {
  io: { err(text: string): void; errColumns?(): number | undefined };
  disabled: boolean;
}): ProgressSink | undefined {
  if (opts.disabled) return undefined;
  const columns = opts.io.errColumns?.();
  if (columns === undefined) return undefined;
  return { write: (text) => opts.io.err(text), columns };
}
