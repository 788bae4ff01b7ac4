import { FsError } from '../core/fs-error.ts';

interface Snapshot {
  names: string[];
  expires: number;
}

/** Default cap on entries per `readdirp` page. */
export const MAX_READDIR_PAGE = 10_000;

function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Cookie paging for `readdirp`, shared by the adapters. The first page lists the directory
 * once and keeps a sorted snapshot of its names; later pages continue from the snapshot, so
 * an entry that exists for the whole listing is returned exactly once however the directory
 * changes meanwhile. The cookie also carries the last name returned: if the snapshot has
 * expired (or the Source restarted) the listing resumes after that name in a fresh sort.
 */
export class DirPager {
  readonly #snapshots = new Map<string, Snapshot>();
  readonly #ttlMs: number;
  readonly #maxSnapshots: number;
  #next = 1;

  constructor(opts: { ttlMs?: number; maxSnapshots?: number } = {}) {
    this.#ttlMs = opts.ttlMs ?? 60_000;
    this.#maxSnapshots = opts.maxSnapshots ?? 512;
  }

  /**
   * One page of names. `list` reads the directory's current names (any order); it is
   * called for the first page and when a snapshot has to be rebuilt.
   */
  async page(req: {
    cookie: string;
    max: number;
    list: () => Promise<string[]>;
  }): Promise<{ names: string[]; cookie: string; eof: boolean }> {
    const max = Math.max(1, Math.min(Math.floor(req.max) || 1, MAX_READDIR_PAGE));
    let token: string;
    let offset: number;
    let snap: Snapshot | undefined;
    if (req.cookie === '') {
      token = this.#store(await req.list());
      offset = 0;
      snap = this.#snapshots.get(token);
    } else {
      const parsed = parseCookie(req.cookie);
      snap = this.#snapshots.get(parsed.token);
      token = parsed.token;
      offset = parsed.offset;
      if (!snap || offset > snap.names.length) {
        token = this.#store(await req.list());
        snap = this.#snapshots.get(token);
        offset = snap ? upperBound(snap.names, parsed.last) : 0;
      }
    }
    if (!snap) throw FsError.EIO('readdirp', undefined, 'directory snapshot lost');
    snap.expires = Date.now() + this.#ttlMs;
    const names = snap.names.slice(offset, offset + max);
    const end = offset + names.length;
    const eof = end >= snap.names.length;
    const last = names.length > 0 ? names[names.length - 1]! : parseLast(req.cookie);
    if (eof) this.#snapshots.delete(token);
    return { names, cookie: makeCookie(token, end, last), eof };
  }

  #store(names: string[]): string {
    const now = Date.now();
    for (const [key, snap] of this.#snapshots) {
      if (snap.expires < now || this.#snapshots.size >= this.#maxSnapshots) this.#snapshots.delete(key);
      else break;
    }
    const token = (this.#next++).toString(36);
    this.#snapshots.set(token, { names: names.slice().sort(compareNames), expires: now + this.#ttlMs });
    return token;
  }

  /** Drop every snapshot (on close). */
  clear(): void {
    this.#snapshots.clear();
  }
}

function makeCookie(token: string, offset: number, last: string): string {
  return `${token}.${offset}.${Buffer.from(last, 'utf8').toString('base64url')}`;
}

function parseCookie(cookie: string): { token: string; offset: number; last: string } {
  const m = /^([0-9a-z]{1,12})\.([0-9]{1,10})\.([A-Za-z0-9_-]*)$/.exec(cookie);
  if (!m) throw FsError.EINVAL('readdirp', cookie, 'malformed readdir cookie');
  return { token: m[1]!, offset: Number(m[2]), last: Buffer.from(m[3]!, 'base64url').toString('utf8') };
}

function parseLast(cookie: string): string {
  return cookie === '' ? '' : parseCookie(cookie).last;
}

/** Index of the first name strictly greater than `name`. */
function upperBound(names: readonly string[], name: string): number {
  let lo = 0;
  let hi = names.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareNames(names[mid]!, name) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
