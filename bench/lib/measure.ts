import { readdirSync, readFileSync } from 'node:fs';

/** Median of a non-empty list. */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of nothing');
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The `p`-th percentile of a non-empty list (nearest rank: a value of the list). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new Error('percentile of nothing');
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/**
 * CPU time (user + system) of a process from `/proc/<pid>/stat`, in ms (10 ms ticks), or with
 * `children` that of its waited-for children (how `find` run by this process is measured).
 */
export function procCpuMs(opts: { pid: number | 'self'; children?: boolean }): number {
  // After the name: utime and stime are fields 14 and 15 of stat(5), cutime and cstime 16 and 17.
  return statCpuMs(readFileSync(`/proc/${opts.pid}/stat`, 'utf8'), opts.children === true ? 13 : 11);
}

/**
 * The sum of two CPU tick fields of a `/proc/.../stat` line, in ms (10 ms ticks): `at` counts
 * the fields after the parenthesized name (which may itself hold spaces and parentheses).
 */
function statCpuMs(stat: string, at: number): number {
  const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
  return (Number(fields[at]) + Number(fields[at + 1])) * 10;
}

/**
 * CPU time (user + system) of a process's main thread and of all its other threads together
 * (for Node: the libuv thread pool, V8's helper threads), in ms (10 ms ticks), from
 * `/proc/<pid>/task/<tid>/stat`. A thread that exited meanwhile no longer counts.
 */
export function procThreadsCpuMs(opts: { pid: number }): { main: number; other: number } {
  let main = 0;
  let other = 0;
  for (const tid of readdirSync(`/proc/${opts.pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${opts.pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // It exited between the listing and the read.
    }
    const ms = statCpuMs(stat, 11);
    if (Number(tid) === opts.pid) main += ms;
    else other += ms;
  }
  return { main, other };
}

/** Wall time of one call, in milliseconds. */
export async function timeMs(fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** Wall time and CPU time (this process, every thread) of one call, in milliseconds. */
export async function timeAndCpuMs(fn: () => Promise<unknown>): Promise<{ ms: number; cpuMs: number }> {
  const start = process.cpuUsage();
  const ms = await timeMs(fn);
  const cpu = process.cpuUsage(start);
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000 };
}

/** Samples of two contenders measured in the same run. */
export interface Duel {
  /** Median milliseconds of the baseline. */
  rawMs: number;
  /** Median milliseconds of the contender. */
  adapterMs: number;
  /** raw / adapter time: 1 means as fast as the baseline, 0.8 means 80 % of its speed. */
  ratio: number;
  rawSamples: number[];
  adapterSamples: number[];
}

/**
 * Measure `raw` and `adapter` alternately: one warm-up call each (caches warm on both
 * sides), then `repeats` rounds whose order flips every round so neither side always
 * runs on the other's leftovers. Reports medians.
 */
export async function duel(opts: {
  repeats: number;
  raw: () => Promise<unknown>;
  adapter: () => Promise<unknown>;
  /** Called before each measured call (e.g. to drop state that must not carry over). */
  between?: () => Promise<void>;
}): Promise<Duel> {
  await opts.raw();
  await opts.adapter();
  const rawSamples: number[] = [];
  const adapterSamples: number[] = [];
  for (let i = 0; i < opts.repeats; i++) {
    const order = i % 2 === 0 ? (['raw', 'adapter'] as const) : (['adapter', 'raw'] as const);
    for (const side of order) {
      await opts.between?.();
      const ms = await timeMs(side === 'raw' ? opts.raw : opts.adapter);
      (side === 'raw' ? rawSamples : adapterSamples).push(ms);
    }
  }
  const rawMs = median(rawSamples);
  const adapterMs = median(adapterSamples);
  return { rawMs, adapterMs, ratio: rawMs / adapterMs, rawSamples, adapterSamples };
}

/** Run `fn` over `items` with at most `limit` in flight. */
export async function pool<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** One side of a many-way comparison. */
export interface Contender {
  name: string;
  /** The measured call. */
  run: () => Promise<unknown>;
  /** Untimed preparation before each call (e.g. a fresh mount). */
  before?: () => Promise<void>;
  /** Untimed cleanup after each call (e.g. remove the file it wrote). */
  after?: () => Promise<void>;
  /**
   * CPU counters in ms (e.g. `procCpuMs` of the processes doing the work), read just before
   * and just after each measured call, outside its timing: `Samples.cpu` gets how much each
   * grew per call. Wall times on a shared machine swing with the load; CPU per call does not.
   */
  cpu?: () => Record<string, number>;
}

/** Samples of one contender. */
export interface Samples {
  /** Median milliseconds. */
  ms: number;
  samples: number[];
  /** Per counter of the contender's `cpu`: its growth (ms) over each measured call, in round order. */
  cpu?: Record<string, number[]>;
}

/** Median growth (ms) of CPU counter `counter` over the measured calls of `s`, or undefined. */
export function cpuMedianMs(s: Samples | undefined, counter: string): number | undefined {
  const list = s?.cpu?.[counter];
  return list === undefined || list.length === 0 ? undefined : median(list);
}

/**
 * Measure many contenders in the same run: one untimed warm-up call each, then `repeats`
 * rounds in which every contender runs once, the order rotating by one each round so no
 * contender always runs first or on another's leftovers. Reports medians by name.
 */
export async function rounds(opts: {
  repeats: number;
  contenders: readonly Contender[];
  /** Told about each call as it finishes (progress). */
  onSample?: (name: string, ms: number) => void;
}): Promise<Map<string, Samples>> {
  const list = opts.contenders;
  const call = async (c: Contender): Promise<{ ms: number; cpu: Record<string, number> }> => {
    await c.before?.();
    let ms: number;
    const cpu = c.cpu?.() ?? {};
    try {
      ms = await timeMs(c.run);
    } catch (err) {
      // Clean up, but report the call's own failure rather than a follow-on one.
      await c.after?.().catch(() => undefined);
      throw err;
    }
    const cpuAfter = c.cpu?.() ?? {};
    for (const k of Object.keys(cpu)) cpu[k] = cpuAfter[k]! - cpu[k]!;
    await c.after?.();
    return { ms, cpu };
  };
  for (const c of list) await call(c);
  const samples = new Map<string, Samples>(list.map((c) => [c.name, { ms: NaN, samples: [], cpu: {} }]));
  for (let i = 0; i < opts.repeats; i++) {
    for (let j = 0; j < list.length; j++) {
      const c = list[(i + j) % list.length]!;
      const { ms, cpu } = await call(c);
      const s = samples.get(c.name)!;
      s.samples.push(ms);
      for (const [k, v] of Object.entries(cpu)) (s.cpu![k] ??= []).push(v);
      opts.onSample?.(c.name, ms);
    }
  }
  for (const s of samples.values()) s.ms = median(s.samples);
  return samples;
}
