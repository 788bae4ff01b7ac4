import { lstat as lstatCallback, type BigIntStats } from 'node:fs';

const BIGINT = { bigint: true } as const;

/**
 * `lstat` with nanosecond times and exact inode numbers. Through the callback API: in
 * Node 20 `fs/promises.lstat` allocates a stats array per request and runs about half as
 * fast, which shows on every getattr and listing.
 */
export function lstatBig(path: string): Promise<BigIntStats> {
  return new Promise((resolve, reject) => {
    lstatCallback(path, BIGINT, (err, st) => (err ? reject(err) : resolve(st)));
  });
}

/** Whether an fs error means "nothing there (any more)". */
export function isGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP' || code === 'ENAMETOOLONG';
}

/** `lstatBig`, or undefined when the path holds nothing. */
export function lstatMaybe(path: string): Promise<BigIntStats | undefined> {
  return new Promise((resolve, reject) => {
    lstatCallback(path, BIGINT, (err, st) =>
      err ? (isGone(err) ? resolve(undefined) : reject(err)) : resolve(st),
    );
  });
}

/**
 * `lstat` the entries `names` of the directory `dir` with at most `concurrency` in flight,
 * straight on the callback API (no promise or async frame per entry: a listing of 100,000
 * entries feels the difference), handing each result to `map` at once so the bulky stats
 * objects die young. An entry that vanished gives undefined; any other error rejects.
 */
export function lstatAll<T>(
  dir: string,
  names: readonly string[],
  concurrency: number,
  map: (st: BigIntStats, index: number) => T,
): Promise<(T | undefined)[]> {
  const prefix = dir === '/' ? '/' : `${dir}/`;
  return new Promise((resolve, reject) => {
    const out = new Array<T | undefined>(names.length);
    let next = 0;
    let done = 0;
    let failed = false;
    if (names.length === 0) {
      resolve(out);
      return;
    }
    const start = (): void => {
      const i = next++;
      lstatSoon(prefix + names[i]!, (err, st) => {
        if (failed) return;
        try {
          if (err !== null && !isGone(err)) throw err;
          out[i] = err === null ? map(st, i) : undefined;
        } catch (e) {
          failed = true;
          reject(e instanceof Error ? e : new Error(String(e)));
          return;
        }
        if (++done === names.length) resolve(out);
        else if (next < names.length) start();
      });
    };
    for (let k = 0; k < Math.min(concurrency, names.length); k++) start();
  });
}

type StatCallback = (err: NodeJS.ErrnoException | null, st: BigIntStats) => void;
let queued: { path: string; cb: StatCallback }[] = [];
let flushScheduled = false;

function flushQueued(): void {
  flushScheduled = false;
  const batch = queued;
  queued = [];
  for (const { path, cb } of batch) {
    try {
      lstatCallback(path, BIGINT, cb);
    } catch (err) {
      // A path Node refuses outright (it never reaches the thread pool): fail that one call.
      const e = err as NodeJS.ErrnoException;
      process.nextTick(() =>
        cb(Object.assign(e, { code: e.code ?? 'EINVAL' }), undefined as unknown as BigIntStats),
      );
    }
  }
}

/**
 * `lstat` submitted with the others of this event-loop turn, in one burst after the
 * completions being processed. With many requests in flight (a busy export) the thread
 * pool then finds its queue full instead of being woken once per request, which costs
 * more than the request itself on a small machine. A lone request waits one loop turn.
 */
export function lstatSoon(path: string, cb: StatCallback): void {
  queued.push({ path, cb });
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flushQueued);
  }
}
