import { randomUUID } from 'node:crypto';
import { FsError } from '../../core/fs-error.ts';
import { type DavPath, isWithin } from './dav-paths.ts';

/** One WebDAV lock (RFC 4918 §6). */
export interface DavLock {
  /** `urn:uuid:…`, unguessable. */
  token: string;
  /** The locked resource (its root, for a depth-infinity lock on a collection). */
  root: DavPath;
  depth: '0' | 'infinity';
  scope: 'exclusive' | 'shared';
  /** The client's `owner` element, replayed verbatim in lockdiscovery. */
  ownerXml: string;
  /** The credential that took it: only it may use the token. */
  credentialId: string;
  /** Seconds asked for (after the cap). */
  timeoutSec: number;
  /** When it lapses (ms since the epoch). */
  expires: number;
}

/** Longest lock lifetime granted; `Timeout: Infinite` and longer requests get this. */
export const MAX_LOCK_SECONDS = 24 * 3600;
/** Lifetime when the client names none. */
export const DEFAULT_LOCK_SECONDS = 600;

/**
 * The seconds a `Timeout` header asks for (`Second-N` or `Infinite`, comma-separated
 * preferences; the first understood one wins), capped at {@link MAX_LOCK_SECONDS}.
 */
export function parseTimeout(header: string | undefined): number {
  for (const part of (header ?? '').split(',')) {
    const item = part.trim();
    if (/^infinite$/i.test(item)) return MAX_LOCK_SECONDS;
    const m = /^second-(\d{1,12})$/i.exec(item);
    if (m?.[1] !== undefined) return Math.max(1, Math.min(MAX_LOCK_SECONDS, Number(m[1])));
  }
  return DEFAULT_LOCK_SECONDS;
}

/**
 * The node's WebDAV locks, in memory: they protect resources against other WebDAV clients
 * (a write without the token answers 423 Locked), not against the protocol, FUSE or local
 * programs, and they are gone when the node restarts (clients then see their token refused
 * and lock again). Locks are keyed by path. Expired locks are dropped as they are met.
 */
export class DavLockManager {
  readonly #locks = new Map<string, DavLock>();
  readonly #now: () => number;

  constructor(opts: { now?: () => number } = {}) {
    this.#now = opts.now ?? Date.now;
  }

  #live(): DavLock[] {
    const now = this.#now();
    const out: DavLock[] = [];
    for (const [token, lock] of this.#locks) {
      if (lock.expires <= now) this.#locks.delete(token);
      else out.push(lock);
    }
    return out;
  }

  /** Locks that cover `path`: on it, or depth-infinity on an ancestor. */
  covering(path: DavPath): DavLock[] {
    return this.#live().filter(
      (l) => l.root.key === path.key || (l.depth === 'infinity' && isWithin(path, l.root)),
    );
  }

  /** Locks on `path` or anything below it. */
  within(path: DavPath): DavLock[] {
    return this.#live().filter((l) => isWithin(l.root, path));
  }

  /** A live lock by token. */
  get(token: string): DavLock | undefined {
    const lock = this.#locks.get(token);
    if (lock && lock.expires <= this.#now()) {
      this.#locks.delete(token);
      return undefined;
    }
    return lock;
  }

  /**
   * Take a new lock. A conflict (an exclusive lock anywhere that would overlap, or any lock
   * overlapping a new exclusive one) is `EBUSY` (answered 423 Locked).
   */
  lock(opts: Omit<DavLock, 'token' | 'expires'>): DavLock {
    const overlapping = [
      ...this.covering(opts.root),
      ...(opts.depth === 'infinity'
        ? this.within(opts.root).filter((l) => l.root.key !== opts.root.key)
        : []),
    ];
    const conflict = overlapping.find((l) => l.scope === 'exclusive' || opts.scope === 'exclusive');
    if (conflict) throw FsError.EBUSY('lock', opts.root.key, `locked by ${conflict.token}`);
    const lock: DavLock = {
      ...opts,
      token: `urn:uuid:${randomUUID()}`,
      expires: this.#now() + opts.timeoutSec * 1000,
    };
    this.#locks.set(lock.token, lock);
    return lock;
  }

  /** Extend a lock's life by `timeoutSec` from now. */
  refresh(lock: DavLock, timeoutSec: number): DavLock {
    lock.timeoutSec = timeoutSec;
    lock.expires = this.#now() + timeoutSec * 1000;
    return lock;
  }

  /** Remove a lock. */
  unlock(token: string): boolean {
    return this.#locks.delete(token);
  }

  /** Drop every lock on `path` or below (the resource was deleted or moved away). */
  dropWithin(path: DavPath): void {
    for (const lock of this.within(path)) this.#locks.delete(lock.token);
  }

  /**
   * Refuse a change to `path` unless the request presents a token of every lock in the way
   * (`EBUSY`, answered 423). In the way are the locks covering `path`, the depth-0 lock of
   * its parent collection when `membership` (adding or removing a member changes the
   * collection), and with `subtree`, every lock below `path` (DELETE or MOVE of a
   * collection). A token counts only for the credential that took the lock. Shared locks on
   * one resource are satisfied by any one of their tokens.
   */
  check(opts: {
    path: DavPath;
    parent?: DavPath | undefined;
    subtree?: boolean;
    tokens: ReadonlySet<string>;
    credentialId: string;
  }): void {
    const inWay = new Map<string, DavLock>();
    for (const l of this.covering(opts.path)) inWay.set(l.token, l);
    if (opts.parent) for (const l of this.covering(opts.parent)) inWay.set(l.token, l);
    if (opts.subtree) for (const l of this.within(opts.path)) inWay.set(l.token, l);
    const held = (l: DavLock) => opts.tokens.has(l.token) && l.credentialId === opts.credentialId;
    const byRoot = new Map<string, DavLock[]>();
    for (const l of inWay.values()) byRoot.set(l.root.key, [...(byRoot.get(l.root.key) ?? []), l]);
    for (const [root, locks] of byRoot) {
      if (!locks.some(held)) throw FsError.EBUSY('webdav', root, 'locked: the request lacks its lock token');
    }
  }
}
