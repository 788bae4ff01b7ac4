import { FsError } from '../core/fs-error.ts';
import type { LockInfo, LockKind, LockType } from './source.ts';

interface HeldLock extends LockInfo {
  /** Exclusive end offset; Infinity for "to the end of the file". */
  end: number;
}

interface Waiter {
  owner: string;
  type: 'read' | 'write';
  start: number;
  end: number;
  wake: () => void;
  cancel: (err: FsError) => void;
}

function endOf(start: number, length: number): number {
  return length === 0 ? Infinity : start + length;
}

/**
 * In-process advisory byte-range locks (POSIX record-lock semantics per owner: a lock
 * request splits, merges and replaces the owner's own locks; locks of different owners
 * conflict when they overlap and either is a write lock). Keyed by file so every handle
 * on the same file shares one table.
 */
export class LockTable {
  readonly #locks = new Map<string, HeldLock[]>();
  readonly #waiters = new Map<string, Set<Waiter>>();

  /** The first lock held by another owner that conflicts with the request, or null. */
  test(
    file: string,
    req: { owner: string; type: 'read' | 'write'; start: number; length: number },
  ): LockInfo | null {
    const end = endOf(req.start, req.length);
    for (const held of this.#locks.get(file) ?? []) {
      if (held.owner === req.owner) continue;
      if (held.start < end && req.start < held.end && (held.type === 'write' || req.type === 'write')) {
        return { type: held.type, start: held.start, length: held.length, owner: held.owner };
      }
    }
    return null;
  }

  /** Take, change or release a lock now; a conflict gives EAGAIN. */
  set(file: string, req: { owner: string; type: LockType; start: number; length: number }): void {
    if (req.start < 0 || req.length < 0) throw FsError.EINVAL('lock', file, 'negative lock range');
    if (req.type !== 'unlock') {
      const conflict = this.test(file, { ...req, type: req.type });
      if (conflict) throw FsError.EAGAIN('lock', file, `range held by ${conflict.owner}`);
    }
    const end = endOf(req.start, req.length);
    const kept: HeldLock[] = [];
    for (const held of this.#locks.get(file) ?? []) {
      if (held.owner !== req.owner || held.end <= req.start || end <= held.start) {
        kept.push(held);
        continue;
      }
      // Keep the parts of the owner's old lock outside the new range.
      if (held.start < req.start) kept.push(this.#span(held, held.start, req.start));
      if (end < held.end) kept.push(this.#span(held, end, held.end));
    }
    if (req.type !== 'unlock') kept.push(this.#span({ owner: req.owner, type: req.type }, req.start, end));
    if (kept.length === 0) this.#locks.delete(file);
    else this.#locks.set(file, kept);
    this.#wake(file);
  }

  /** Wait until the lock can be taken, then take it. `signal` aborts the wait with EINTR. */
  async wait(
    file: string,
    req: { owner: string; type: 'read' | 'write'; start: number; length: number },
    signal?: AbortSignal,
  ): Promise<void> {
    for (;;) {
      if (!this.test(file, req)) return this.set(file, req);
      if (this.#wouldDeadlock(file, req.owner)) throw FsError.EDEADLK('lock', file);
      await new Promise<void>((resolve, reject) => {
        const waiter: Waiter = {
          ...req,
          end: endOf(req.start, req.length),
          wake: () => resolve(),
          cancel: (err) => reject(err),
        };
        const set = this.#waiters.get(file) ?? new Set<Waiter>();
        set.add(waiter);
        this.#waiters.set(file, set);
        signal?.addEventListener(
          'abort',
          () => {
            set.delete(waiter);
            reject(new FsError({ code: 'EINTR', op: 'lock', path: file, detail: 'lock wait aborted' }));
          },
          { once: true },
        );
      });
    }
  }

  /**
   * Release every lock of `owner` (on close), on one file or all, and fail its pending waits
   * with EBADF so a wait cannot take a lock for a handle that is gone.
   */
  releaseOwner(owner: string, file?: string): void {
    for (const [f, waiters] of this.#waiters) {
      if (file !== undefined && f !== file) continue;
      for (const w of waiters) {
        if (w.owner !== owner) continue;
        waiters.delete(w);
        w.cancel(FsError.EBADF('lock', f, 'the handle was closed while waiting for the lock'));
      }
    }
    const files = file === undefined ? [...this.#locks.keys()] : [file];
    for (const f of files) {
      const list = this.#locks.get(f);
      if (!list) continue;
      const kept = list.filter((l) => l.owner !== owner);
      if (kept.length === list.length) continue;
      if (kept.length === 0) this.#locks.delete(f);
      else this.#locks.set(f, kept);
      this.#wake(f);
    }
  }

  /** Locks currently held on a file (for diagnostics and tests). */
  held(file: string): LockInfo[] {
    return (this.#locks.get(file) ?? []).map(({ type, start, length, owner }) => ({
      type,
      start,
      length,
      owner,
    }));
  }

  #span(base: { type: 'read' | 'write'; owner: string }, start: number, end: number): HeldLock {
    return { type: base.type, owner: base.owner, start, end, length: end === Infinity ? 0 : end - start };
  }

  #wake(file: string): void {
    const set = this.#waiters.get(file);
    if (!set) return;
    this.#waiters.delete(file);
    for (const w of set) w.wake();
  }

  /** A waiting owner that already blocks the holder of the range would wait forever. */
  #wouldDeadlock(file: string, owner: string): boolean {
    const holders = new Set((this.#locks.get(file) ?? []).map((l) => l.owner));
    for (const w of this.#waiters.get(file) ?? []) {
      if (holders.has(w.owner) && w.owner !== owner) {
        for (const l of this.#locks.get(file) ?? []) {
          if (l.owner === owner && l.start < w.end && w.start < l.end) return true;
        }
      }
    }
    return false;
  }
}

/**
 * One {@link LockTable} per lock kind: `flock` locks and POSIX record locks are separate
 * spaces (as on Linux), so a lock of one kind never conflicts with, nor waits for, the other.
 */
export class LockSpaces {
  readonly posix = new LockTable();
  readonly flock = new LockTable();

  /** The table of `kind` (default `posix`). */
  of(kind: LockKind | undefined): LockTable {
    return kind === 'flock' ? this.flock : this.posix;
  }

  /** Release every lock of `owner` in both spaces (see {@link LockTable.releaseOwner}). */
  releaseOwner(owner: string, file?: string): void {
    this.posix.releaseOwner(owner, file);
    this.flock.releaseOwner(owner, file);
  }
}
