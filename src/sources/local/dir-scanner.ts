import type { BigIntStats } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { lstatBig, lstatMaybe } from './fast-stat.ts';
import { mapLimit } from '../../core/map-limit.ts';
import { isTempName } from './temp-files.ts';
import type { ChangeWatcher, WatchContext } from './watch-context.ts';
import { BoundedMap } from '../../core/bounded-map.ts';

interface Seen {
  ino: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  size: bigint;
}

interface DirState extends Seen {
  entries: Map<string, Seen>;
}

/** Directories at most this big are re-listed on every pass even when their mtime is unchanged. */
const ALWAYS_LIST_BELOW = 2048;
/** Directories remembered at most (the oldest interest is dropped first). */
const MAX_DIRS = 10_000;

function seen(st: BigIntStats): Seen {
  return { ino: st.ino, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, size: st.size };
}

/**
 * Invalidation by polling, for sources without native change events: every `intervalMs` it
 * re-reads the directories clients have looked at and compares each entry's inode, mtime,
 * ctime and size with the previous pass. It runs only between `start` and `stop`; a
 * directory added while running gets its baseline at once, so changes right after are seen.
 */
export class DirScanner implements ChangeWatcher {
  readonly #ctx: WatchContext;
  readonly #intervalMs: number;
  readonly #concurrency: number;
  readonly #dirs = new BoundedMap<number, DirState | null>({ max: MAX_DIRS });
  #running = false;
  #timer: NodeJS.Timeout | undefined;
  #pass: Promise<void> | undefined;

  constructor(opts: { ctx: WatchContext; intervalMs: number; concurrency?: number }) {
    this.#ctx = opts.ctx;
    this.#intervalMs = opts.intervalMs;
    this.#concurrency = opts.concurrency ?? 16;
  }

  get running(): boolean {
    return this.#running;
  }

  /** Directories currently polled. */
  get size(): number {
    return this.#dirs.size;
  }

  add(dir: number): void {
    if (this.#dirs.has(dir)) return;
    this.#dirs.set(dir, null);
    if (this.#running) void this.#scan(dir, false);
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    // A copy of the keys: setting a key of a BoundedMap moves it to the end, so iterating the
    // map itself while setting would never end.
    for (const dir of [...this.#dirs.keys()]) this.#dirs.set(dir, null);
    this.#pass = this.#all(false).finally(() => this.#schedule());
  }

  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Run one full pass now (tests and callers that want a prompt answer). */
  async scanNow(): Promise<void> {
    await this.#pass;
    await this.#all(true);
  }

  #schedule(): void {
    if (!this.#running) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#pass = this.#all(true).finally(() => this.#schedule());
    }, this.#intervalMs);
    this.#timer.unref();
  }

  async #all(emit: boolean): Promise<void> {
    await mapLimit([...this.#dirs.keys()], 4, async (dir) => {
      if (this.#running) await this.#scan(dir, emit && this.#dirs.get(dir) !== null);
    });
  }

  async #scan(dir: number, emit: boolean): Promise<void> {
    const path = this.#ctx.dirPath(dir);
    const prev = this.#dirs.get(dir) ?? undefined;
    if (path === undefined) {
      this.#dirs.delete(dir);
      return;
    }
    let st: BigIntStats;
    try {
      st = await lstatBig(path);
    } catch {
      if (emit && prev) this.#ctx.tree(dir);
      this.#dirs.delete(dir);
      return;
    }
    if (!st.isDirectory() || (prev && prev.ino !== st.ino)) {
      if (emit && prev) this.#ctx.tree(dir);
      this.#dirs.delete(dir);
      return;
    }
    const relist =
      !prev ||
      prev.mtimeNs !== st.mtimeNs ||
      prev.ctimeNs !== st.ctimeNs ||
      prev.entries.size < ALWAYS_LIST_BELOW;
    let names: string[];
    try {
      names = relist ? (await readdir(path)).filter((n) => !isTempName(n)) : [...prev.entries.keys()];
    } catch {
      return;
    }
    const stats = await mapLimit(names, this.#concurrency, async (name) => {
      return lstatMaybe(`${path}/${name}`).catch(() => undefined);
    });
    const entries = new Map<string, Seen>();
    names.forEach((name, i) => {
      const s = stats[i];
      if (s) entries.set(name, seen(s));
    });
    if (!this.#dirs.has(dir)) return; // dropped meanwhile
    this.#dirs.set(dir, { ...seen(st), entries });
    if (!emit || !prev) return;
    for (const name of prev.entries.keys()) if (!entries.has(name)) this.#ctx.entry(dir, name);
    names.forEach((name, i) => {
      const now = entries.get(name);
      const s = stats[i];
      if (!now || !s) return;
      const before = prev.entries.get(name);
      if (!before || before.ino !== now.ino) {
        this.#ctx.entry(dir, name);
        return;
      }
      const kind =
        before.size !== now.size || before.mtimeNs !== now.mtimeNs
          ? 'data'
          : before.ctimeNs !== now.ctimeNs
            ? 'attr'
            : undefined;
      if (kind === undefined) return;
      const local = this.#ctx.localOf(s);
      if (local === undefined) this.#ctx.entry(dir, name);
      else this.#ctx.changed(local, kind);
    });
  }
}
