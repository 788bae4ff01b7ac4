import type { LocalFd } from './local-fd.ts';
import { FsError } from '../../core/fs-error.ts';
import { LockSpaces } from '../lock-table.ts';
import type { LockInfo, LockKind, LockType } from '../source.ts';

/** Kernel locks on a descriptor (Linux OFD locks and flock), non-blocking. */
export interface KernelLocks {
  /** Place, convert or release; a conflicting lock of another open file description → EAGAIN. */
  set(fd: number, type: LockType, start: number, length: number): Promise<void>;
  /** The first conflicting lock held through another open file description, or null. */
  test(
    fd: number,
    type: 'read' | 'write',
    start: number,
    length: number,
  ): Promise<{ type: 'read' | 'write'; start: number; length: number; pid: number } | null>;
  /**
   * Take, convert or release the descriptor's `flock(2)` lock; a conflicting flock of another
   * open file description → EAGAIN. Absent: flock-kind locks are arbitrated in process only.
   */
  flock?: ((fd: number, type: LockType) => Promise<void>) | undefined;
}

/** One lock request, as the adapter passes it on. */
export interface LocalLockRequest {
  /** The file (its local id as a string). */
  key: string;
  handle: number;
  owner: string;
  cmd: 'test' | 'set' | 'wait';
  type: LockType;
  start: number;
  length: number;
  /** The lock space (default `posix`); `flock` locks are whole-file. */
  kind?: LockKind | undefined;
  /** Open a descriptor on the file to mirror the locks on (verified to be the right inode). */
  openMirror: () => Promise<LocalFd>;
  /** Whether the handle is still open (a wait ends when it is closed). */
  isOpen: () => boolean;
}

interface MirrorFile {
  fh: Promise<LocalFd | undefined>;
  users: Set<number>;
}

const rank = { none: 0, read: 1, write: 2 } as const;

/**
 * Advisory locks of a local export. Tessera's own clients are arbitrated in process by a
 * `LockTable` per lock kind keyed by file id (so locks of one owner never conflict, whichever
 * handle they came through, and POSIX locks never meet flocks); with `kernel` (Linux) the
 * union of each kind is mirrored onto one descriptor per file — POSIX locks as OFD locks,
 * flocks as its `flock(2)` lock, two spaces the kernel keeps apart on one description too —
 * so processes on the host see them and theirs make ours fail with EAGAIN. Operations on one
 * file are serialized, keeping the tables and the kernel in step.
 */
export class LocalLocks {
  readonly tables = new LockSpaces();
  readonly #kernel: KernelLocks | undefined;
  readonly #files = new Map<string, MirrorFile>();
  readonly #queues = new Map<string, Promise<unknown>>();

  constructor(opts: { kernel?: KernelLocks | undefined } = {}) {
    this.#kernel = opts.kernel;
  }

  async lock(req: LocalLockRequest): Promise<LockInfo | null> {
    const { key, owner, start, length } = req;
    const table = this.tables.of(req.kind);
    if (req.type === 'unlock') {
      await this.#serial(key, async () => {
        table.set(key, { owner, type: 'unlock', start, length });
        if (req.kind === 'flock') await this.#syncFlock(key);
        else await this.#sync(key, start, length);
      });
      return null;
    }
    const lock = { owner, type: req.type, start, length };
    if (req.cmd === 'test') {
      const conflict = table.test(key, lock);
      if (conflict || !this.#kernel) return conflict;
      // Serialized: a lock taken meanwhile must not meet the probe's flock.
      if (req.kind === 'flock') return this.#serial(key, () => this.#hostFlock(req, lock.type));
      const fd = await this.#fd(req);
      const host = fd === undefined ? null : await this.#kernel.test(fd, req.type, start, length);
      if (!host) return null;
      return {
        type: host.type,
        start: host.start,
        length: host.length,
        owner: host.pid > 0 ? `host pid ${host.pid}` : 'host',
      };
    }
    if (req.cmd === 'set') {
      await this.#serial(key, async () => {
        const conflict = table.test(key, lock);
        if (conflict) throw FsError.EAGAIN('lock', key, `range held by ${conflict.owner}`);
        await this.#take(req);
        table.set(key, lock);
      });
      return null;
    }
    // wait: queue in process first, then poll the kernel while a host process holds the range.
    await table.wait(key, lock);
    if (!this.#kernel) return null;
    for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
      try {
        // The table already holds the new lock: a failed flock conversion restores the others'.
        await this.#serial(key, () => this.#take(req, owner));
        return null;
      } catch (err) {
        if (!FsError.is(err, 'EAGAIN')) throw err;
      }
      if (!req.isOpen()) throw FsError.EBADF('lock', key, 'the handle was closed while waiting for the lock');
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  /** Release what `handle` held (its default owner and any owner it locked for) at close. */
  async release(key: string, handle: number, owners: Iterable<string>): Promise<void> {
    await this.#serial(key, async () => {
      for (const owner of owners) this.tables.releaseOwner(owner, key);
      const file = this.#files.get(key);
      if (!file) return;
      file.users.delete(handle);
      if (file.users.size > 0) {
        await this.#sync(key, 0, 0);
        await this.#syncFlock(key);
        return;
      }
      this.#files.delete(key);
      // Closing the descriptor drops every kernel lock mirrored on it.
      await (await file.fh.catch(() => undefined))?.close().catch(() => undefined);
    });
  }

  /** Close every mirror descriptor (source close). */
  async closeAll(): Promise<void> {
    const files = [...this.#files.values()];
    this.#files.clear();
    await Promise.all(
      files.map(async (f) => (await f.fh.catch(() => undefined))?.close().catch(() => undefined)),
    );
  }

  /**
   * Place the request's lock on the mirror descriptor. A failed flock conversion has dropped
   * the description's old flock (flock(2) converts by unlocking first), so the union of the
   * table's flocks is put back, leaving out `pending`, an owner whose new lock is already in
   * the table while it waits.
   */
  async #take(req: LocalLockRequest, pending?: string): Promise<void> {
    const fd = await this.#fd(req);
    if (fd === undefined || !this.#kernel) return;
    try {
      if (req.kind !== 'flock') await this.#kernel.set(fd, req.type, req.start, req.length);
      else if (this.#kernel.flock) await this.#kernel.flock(fd, req.type);
    } catch (err) {
      const code = FsError.from(err, 'lock').code;
      if (code === 'EAGAIN' || code === 'EACCES') {
        if (req.kind === 'flock') await this.#syncFlock(req.key, pending);
        throw FsError.EAGAIN('lock', req.key, 'range held by a process on the host');
      }
      // A descriptor that cannot carry this lock (read-only file, write lock): in process only.
      if (code !== 'EBADF') throw err;
    }
  }

  async #fd(req: LocalLockRequest): Promise<number | undefined> {
    if (!this.#kernel) return undefined;
    let file = this.#files.get(req.key);
    if (!file) {
      file = { fh: req.openMirror().catch(() => undefined), users: new Set() };
      this.#files.set(req.key, file);
    }
    file.users.add(req.handle);
    return (await file.fh)?.fd;
  }

  /**
   * A host process's flock that conflicts with a `type` flock. There is no flock test call, so
   * this probes with a descriptor of its own (a host process's non-blocking flock in that
   * instant fails as it would against any holder); with Tessera holding a flock on the file,
   * only a host's shared flock is possible (ours would have failed otherwise) and a probe could
   * not tell it from ours, so none is reported.
   */
  async #hostFlock(req: LocalLockRequest, type: 'read' | 'write'): Promise<LockInfo | null> {
    const flock = this.#kernel?.flock;
    if (!flock || this.tables.flock.held(req.key).length > 0) return null;
    const probe = await req.openMirror().catch(() => undefined);
    if (!probe) return null;
    try {
      await flock(probe.fd, type);
      return null;
    } catch (err) {
      if (!FsError.is(FsError.from(err, 'lock'), 'EAGAIN')) return null;
      // A write probe fails on a host's shared or exclusive flock; a read probe tells which.
      const exclusive = type === 'read' || (await this.#hostFlock(req, 'read')) !== null;
      return { type: exclusive ? 'write' : 'read', start: 0, length: 0, owner: 'host' };
    } finally {
      // Closing the probe drops any flock it got.
      await probe.close().catch(() => undefined);
    }
  }

  /** Make the mirror's flock the strongest of the table's flocks on the file (bar `without`'s). */
  async #syncFlock(key: string, without?: string): Promise<void> {
    const file = this.#files.get(key);
    const flock = this.#kernel?.flock;
    if (!file || !flock) return;
    const fd = (await file.fh)?.fd;
    if (fd === undefined) return;
    let type: LockType = 'unlock';
    for (const l of this.tables.flock.held(key)) if (l.owner !== without && type !== 'write') type = l.type;
    await flock(fd, type).catch(() => undefined);
  }

  /** Make the kernel locks over `[start, start+length)` match the union of the table's. */
  async #sync(key: string, start: number, length: number): Promise<void> {
    const file = this.#files.get(key);
    if (!file || !this.#kernel) return;
    const fd = (await file.fh)?.fd;
    if (fd === undefined) return;
    const end = length === 0 ? Infinity : start + length;
    const held = this.tables.posix
      .held(key)
      .map((l) => ({ type: l.type, start: l.start, end: l.length === 0 ? Infinity : l.start + l.length }));
    const points = new Set<number>([start, end]);
    for (const l of held) {
      if (l.start > start && l.start < end) points.add(l.start);
      if (l.end > start && l.end < end) points.add(l.end);
    }
    const cuts = [...points].sort((a, b) => a - b);
    const segments: { type: LockType; start: number; end: number }[] = [];
    for (let i = 0; i + 1 < cuts.length; i++) {
      const a = cuts[i]!;
      const b = cuts[i + 1]!;
      let best: keyof typeof rank = 'none';
      for (const l of held) if (l.start <= a && l.end >= b && rank[l.type] > rank[best]) best = l.type;
      const type: LockType = best === 'none' ? 'unlock' : best;
      const last = segments[segments.length - 1];
      if (last && last.type === type && last.end === a) last.end = b;
      else segments.push({ type, start: a, end: b });
    }
    for (const s of segments) {
      await this.#kernel
        .set(fd, s.type, s.start, s.end === Infinity ? 0 : s.end - s.start)
        .catch(() => undefined);
    }
  }

  #serial<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#queues.get(key) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.#queues.set(key, tail);
    void tail.then(() => {
      if (this.#queues.get(key) === tail) this.#queues.delete(key);
    });
    return run;
  }
}
