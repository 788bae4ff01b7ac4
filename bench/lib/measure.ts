/** Median of a non-empty list. */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of nothing');
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Wall time of one call, in milliseconds. */
export async function timeMs(fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
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
