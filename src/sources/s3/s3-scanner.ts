import { mapLimit } from '../../core/map-limit.ts';

/** One name in a directory listing, as the scanner compares it. */
export interface ScanEntry {
  kind: 'file' | 'dir';
  /** Changes when the object changes (ETag, size, LastModified); '' for directories. */
  sig: string;
  lastModifiedMs: number;
}

/** A directory's names at one moment. */
export type DirSnapshot = Map<string, ScanEntry>;

/** A change the scanner found: a name appeared/vanished/changed kind, or a file's content changed. */
export interface ScanChange {
  dirRel: string;
  name: string;
  change: 'entry' | 'data';
}

/** Allowance for S3's one-second LastModified and clock skew when judging "changed since". */
const SKEW_MS = 2000;
/** A directory nobody has looked at for this long is no longer polled (each poll is a LIST). */
const IDLE_MS = 10 * 60_000;

/**
 * Polls the directories clients have been looking at (ListObjectsV2 with a delimiter, one
 * per directory per pass) and reports what changed since the previous pass, in one batch
 * per pass. It runs only while started (someone watches). A directory seen for the first
 * time has no previous listing: objects modified since watching began count as changed,
 * so a change made right after `watch()` is not lost in the baseline.
 */
export class S3Scanner implements AsyncDisposable {
  readonly #dirs = new Map<string, { snapshot: DirSnapshot | undefined; usedMs: number }>();
  readonly #list: (dirRel: string) => Promise<DirSnapshot>;
  readonly #report: (changes: ScanChange[]) => void;
  readonly #intervalMs: number;
  readonly #maxDirs: number;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #startedMs = 0;
  #pass: Promise<void> | undefined;

  constructor(opts: {
    intervalMs: number;
    maxDirs?: number;
    list: (dirRel: string) => Promise<DirSnapshot>;
    report: (changes: ScanChange[]) => void;
  }) {
    this.#intervalMs = opts.intervalMs;
    this.#maxDirs = opts.maxDirs ?? 64;
    this.#list = opts.list;
    this.#report = opts.report;
    this.#dirs.set('', { snapshot: undefined, usedMs: Infinity });
  }

  /** Note that clients look at `dirRel` (the most recent ones are polled; the root always is). */
  touch(dirRel: string): void {
    const state = this.#dirs.get(dirRel);
    if (dirRel === '') return;
    if (state) {
      state.usedMs = Date.now();
      this.#dirs.delete(dirRel);
      this.#dirs.set(dirRel, state);
      return;
    }
    this.#dirs.set(dirRel, { snapshot: undefined, usedMs: Date.now() });
    if (this.#dirs.size > this.#maxDirs) {
      for (const key of this.#dirs.keys()) {
        if (key === '') continue;
        this.#dirs.delete(key);
        break;
      }
    }
  }

  /** A listing the adapter made anyway: the baseline for a directory that has none yet. */
  seed(dirRel: string, snapshot: DirSnapshot): void {
    this.touch(dirRel);
    const state = this.#dirs.get(dirRel);
    if (state && state.snapshot === undefined) state.snapshot = snapshot;
  }

  /** Directories tracked, most recently used last. */
  get tracked(): string[] {
    return [...this.#dirs.keys()];
  }

  /** Begin polling (idempotent). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#startedMs = Date.now();
    this.#schedule(0);
  }

  /** Stop polling; resolves once a pass in progress has finished. */
  async stop(): Promise<void> {
    this.#running = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#pass;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  #schedule(delay: number): void {
    if (!this.#running) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#pass = this.scanOnce().finally(() => {
        this.#pass = undefined;
        this.#schedule(this.#intervalMs);
      });
    }, delay);
    this.#timer.unref();
  }

  /** One pass over the tracked directories (also usable directly). */
  async scanOnce(): Promise<void> {
    const changes: ScanChange[] = [];
    const idleSince = Date.now() - IDLE_MS;
    for (const [dirRel, state] of this.#dirs) if (state.usedMs < idleSince) this.#dirs.delete(dirRel);
    const dirs = [...this.#dirs.entries()].reverse();
    await mapLimit(dirs, 4, async ([dirRel, state]) => {
      let now: DirSnapshot;
      try {
        now = await this.#list(dirRel);
      } catch {
        return; // Unreachable for now; the next pass tries again.
      }
      const before = state.snapshot;
      for (const [name, entry] of now) {
        const old = before?.get(name);
        if (before === undefined) {
          if (entry.kind === 'file' && entry.lastModifiedMs >= this.#startedMs - SKEW_MS) {
            changes.push({ dirRel, name, change: 'entry' });
          }
        } else if (old === undefined || old.kind !== entry.kind) {
          changes.push({ dirRel, name, change: 'entry' });
        } else if (old.sig !== entry.sig) {
          changes.push({ dirRel, name, change: 'data' });
        }
      }
      for (const name of before?.keys() ?? []) {
        if (!now.has(name)) changes.push({ dirRel, name, change: 'entry' });
      }
      if (this.#dirs.has(dirRel)) state.snapshot = now;
    }).catch(() => undefined);
    if (changes.length > 0) this.#report(changes);
  }
}
