import { FsError } from '../../core/fs-error.ts';
import { lstatBig } from './fast-stat.ts';
import { IN, Inotify, type InotifyEvent } from './linux-native.ts';
import { ROOT_LOCAL } from './id-table.ts';
import { isTempName } from './temp-files.ts';
import type { ChangeWatcher, WatchContext } from './watch-context.ts';

const MASK =
  IN.CREATE |
  IN.DELETE |
  IN.MODIFY |
  IN.ATTRIB |
  IN.CLOSE_WRITE |
  IN.MOVED_FROM |
  IN.MOVED_TO |
  IN.DELETE_SELF |
  IN.MOVE_SELF |
  IN.ONLYDIR |
  IN.DONT_FOLLOW |
  IN.EXCL_UNLINK;

/** Directories watched per turn of the event loop when (re)starting, so start never stalls it. */
const ADD_BATCH = 512;

/**
 * Native change events for a linux export: one inotify instance watching every directory
 * the id map knows (the root first) while someone watches. Entry events are pushed at once;
 * data and attribute events are coalesced for `debounceMs` and resolved to ids with one
 * `lstat`. The adapter's own temp files are ignored. A directory inotify cannot watch (the
 * per-user watch limit) is handed to `fallback`, the polling scanner.
 */
export class InotifyWatcher implements ChangeWatcher {
  readonly #ctx: WatchContext;
  readonly #dirs: () => Iterable<number>;
  readonly #fallback: ChangeWatcher;
  readonly #debounceMs: number;
  #inotify: Inotify | undefined;
  readonly #wdDir = new Map<number, number>();
  readonly #dirWd = new Map<number, number>();
  readonly #pending = new Map<string, { dir: number; name: string; kinds: number }>();
  #flushTimer: NodeJS.Timeout | undefined;
  #fallbackUsed = false;
  #generation = 0;

  constructor(opts: {
    ctx: WatchContext;
    dirs: () => Iterable<number>;
    fallback: ChangeWatcher;
    debounceMs?: number;
  }) {
    this.#ctx = opts.ctx;
    this.#dirs = opts.dirs;
    this.#fallback = opts.fallback;
    this.#debounceMs = opts.debounceMs ?? 25;
  }

  get running(): boolean {
    return this.#inotify !== undefined;
  }

  /** Number of directories watched through inotify. */
  get watched(): number {
    return this.#dirWd.size;
  }

  start(): void {
    if (this.#inotify) return;
    this.#inotify = new Inotify({
      onEvent: (ev) => this.#onEvent(ev),
      onOverflow: () => this.#ctx.tree(ROOT_LOCAL),
    });
    const gen = ++this.#generation;
    this.add(ROOT_LOCAL);
    const pending = this.#dirs()[Symbol.iterator]();
    const step = (): void => {
      if (gen !== this.#generation || !this.#inotify) return;
      for (let i = 0; i < ADD_BATCH; i++) {
        const next = pending.next();
        if (next.done) return;
        this.add(next.value);
      }
      setImmediate(step);
    };
    step();
  }

  stop(): void {
    this.#generation++;
    this.#inotify?.close();
    this.#inotify = undefined;
    this.#wdDir.clear();
    this.#dirWd.clear();
    this.#pending.clear();
    if (this.#flushTimer !== undefined) clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    if (this.#fallbackUsed) this.#fallback.stop();
    this.#fallbackUsed = false;
  }

  add(dir: number): void {
    const inotify = this.#inotify;
    if (!inotify || this.#dirWd.has(dir)) return;
    const path = this.#ctx.dirPath(dir);
    if (path === undefined) return;
    let wd: number;
    try {
      wd = inotify.add(path, MASK);
    } catch (err) {
      const code = FsError.from(err, 'watch').code;
      if (code === 'ENOSPC' || code === 'ENOMEM') {
        // Out of inotify watches: poll this directory instead.
        this.#fallback.add(dir);
        if (!this.#fallbackUsed) this.#fallback.start();
        this.#fallbackUsed = true;
      }
      return;
    }
    const before = this.#wdDir.get(wd);
    if (before !== undefined) this.#dirWd.delete(before);
    this.#wdDir.set(wd, dir);
    this.#dirWd.set(dir, wd);
  }

  #onEvent(ev: InotifyEvent): void {
    if (ev.mask & IN.Q_OVERFLOW) {
      this.#ctx.tree(ROOT_LOCAL);
      return;
    }
    const dir = this.#wdDir.get(ev.wd);
    if (dir === undefined) return;
    if (ev.mask & IN.IGNORED) {
      this.#wdDir.delete(ev.wd);
      this.#dirWd.delete(dir);
      return;
    }
    if (ev.name === '') {
      if (ev.mask & IN.ATTRIB) this.#ctx.changed(dir, 'attr');
      if (ev.mask & (IN.DELETE_SELF | IN.MOVE_SELF) && dir === ROOT_LOCAL) this.#ctx.tree(ROOT_LOCAL);
      return;
    }
    if (isTempName(ev.name)) return;
    if (ev.mask & (IN.CREATE | IN.DELETE | IN.MOVED_FROM | IN.MOVED_TO)) this.#ctx.entry(dir, ev.name);
    let kinds = 0;
    if (ev.mask & (IN.MODIFY | IN.CLOSE_WRITE)) kinds |= KIND_DATA;
    if (ev.mask & IN.ATTRIB) kinds |= KIND_ATTR;
    if (ev.mask & IN.MOVED_TO) kinds |= KIND_MOVED;
    if (kinds !== 0) this.#schedule(dir, ev.name, kinds);
  }

  #schedule(dir: number, name: string, kinds: number): void {
    const key = `${dir}/${name}`;
    const p = this.#pending.get(key);
    if (p) p.kinds |= kinds;
    else this.#pending.set(key, { dir, name, kinds });
    if (this.#flushTimer === undefined) {
      this.#flushTimer = setTimeout(() => void this.#flush(), this.#debounceMs);
      this.#flushTimer.unref();
    }
  }

  async #flush(): Promise<void> {
    this.#flushTimer = undefined;
    const batch = [...this.#pending.values()];
    this.#pending.clear();
    const gen = this.#generation;
    await Promise.all(
      batch.map(async ({ dir, name, kinds }) => {
        const path = this.#ctx.dirPath(dir);
        if (path === undefined) return;
        let st;
        try {
          st = await lstatBig(`${path}/${name}`);
        } catch {
          if (gen === this.#generation) this.#ctx.entry(dir, name);
          return;
        }
        if (gen !== this.#generation) return;
        if (kinds & KIND_MOVED) this.#ctx.relearn(dir, name, st);
        const local = this.#ctx.localOf(st);
        if (local === undefined) {
          if (!(kinds & KIND_MOVED)) this.#ctx.entry(dir, name);
          return;
        }
        if (kinds & KIND_DATA) this.#ctx.changed(local, 'data');
        else if (kinds & KIND_ATTR) this.#ctx.changed(local, 'attr');
      }),
    );
  }
}

const KIND_DATA = 1;
const KIND_ATTR = 2;
const KIND_MOVED = 4;
