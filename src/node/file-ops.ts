import { createHash } from 'node:crypto';
import { FsError } from '../core/fs-error.ts';
import type { NodeId } from '../core/ids.ts';
import { MAX_PAYLOAD_BYTES } from '../protocol/frames.ts';
import type { Invalidation, Source } from '../sources/source.ts';
import { readdirPages } from '../sources/readdir-pages.ts';

/** Bytes per read when the node streams a file itself (HASH, TAKE). */
const CHUNK = 1024 * 1024;

/**
 * SHA-256 of a file's bytes, streamed through the Source's own reads (so `get`/`put` can
 * verify a transfer end to end against what the node actually holds). With `offset` and/or
 * `length`, of that byte range only (cut short at the end of the file); `size` is the number
 * of bytes hashed.
 */
export async function hashFile(opts: {
  source: Source;
  id: NodeId;
  offset?: number | undefined;
  length?: number | undefined;
  signal?: AbortSignal | undefined;
}): Promise<{ algo: 'sha256'; hex: string; size: number }> {
  const { handle } = await opts.source.openFile({ id: opts.id, flags: { read: true, write: false } });
  try {
    const hash = createHash('sha256');
    const start = opts.offset ?? 0;
    const limit = opts.length ?? Number.MAX_SAFE_INTEGER;
    let size = 0;
    while (size < limit) {
      opts.signal?.throwIfAborted();
      const want = Math.min(CHUNK, limit - size);
      const chunk = await opts.source.read({ handle, offset: start + size, length: want });
      hash.update(chunk);
      size += chunk.byteLength;
      if (chunk.byteLength < want) break;
    }
    return { algo: 'sha256', hex: hash.digest('hex'), size };
  } finally {
    await opts.source.closeFile({ handle }).catch(() => undefined);
  }
}

/** Read a whole file, refusing files bigger than `limit` with `EFBIG`. */
export async function readWhole(opts: { source: Source; id: NodeId; limit: number }): Promise<Buffer> {
  const { handle } = await opts.source.openFile({ id: opts.id, flags: { read: true, write: false } });
  try {
    const parts: Buffer[] = [];
    let size = 0;
    for (;;) {
      const chunk = await opts.source.read({ handle, offset: size, length: CHUNK });
      size += chunk.byteLength;
      if (size > opts.limit)
        throw FsError.EFBIG('take', opts.id.toString(), `larger than ${opts.limit} bytes`);
      parts.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      if (chunk.byteLength < CHUNK) break;
    }
    return Buffer.concat(parts);
  } finally {
    await opts.source.closeFile({ handle }).catch(() => undefined);
  }
}

/** Whether an invalidation touches `id`: its data or attributes, or an entry in it. */
export function touches(ev: Invalidation, id: NodeId): boolean {
  return ev.kind === 'entry' ? ev.parent === id : ev.id === id;
}

/** Watches one id for invalidations; see {@link watchChanges}. */
export interface ChangeWatch {
  /** Forget changes seen so far. */
  clear(): void;
  /**
   * The first change since the last `clear` (at once if one already happened), or
   * undefined when `timeoutMs` passes first. Rejects with the signal's reason on abort.
   */
  next(opts: { timeoutMs: number; signal: AbortSignal }): Promise<Invalidation | undefined>;
  stop(): void;
}

/**
 * Start watching `id` for invalidations the session may see. Start it before looking at the
 * current state, so a change that happens while looking is not missed.
 */
export function watchChanges(opts: {
  source: Source;
  id: NodeId;
  visible: (ev: Invalidation) => boolean;
}): ChangeWatch {
  let seen: Invalidation | undefined;
  let waiter: ((ev: Invalidation) => void) | undefined;
  const stop = opts.source.watch((ev) => {
    if (!touches(ev, opts.id) || !opts.visible(ev)) return;
    if (waiter) waiter(ev);
    else seen ??= ev;
  });
  return {
    clear() {
      seen = undefined;
    },
    next({ timeoutMs, signal }) {
      if (seen) {
        const ev = seen;
        seen = undefined;
        return Promise.resolve(ev);
      }
      if (signal.aborted) return Promise.reject(signal.reason as Error);
      return new Promise<Invalidation | undefined>((resolve, reject) => {
        const finish = () => {
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          waiter = undefined;
        };
        const onAbort = () => {
          finish();
          reject(signal.reason as Error);
        };
        const timer = setTimeout(() => {
          finish();
          resolve(undefined);
        }, timeoutMs);
        waiter = (ev) => {
          finish();
          resolve(ev);
        };
        signal.addEventListener('abort', onAbort, { once: true });
      });
    },
    stop,
  };
}

/** Serializes async work per key (one TAKE at a time per queue directory). */
export class KeyedMutex {
  readonly #tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#tails.get(key) ?? Promise.resolve();
    const mine = prev.then(fn, fn);
    const tail = mine.catch(() => undefined);
    this.#tails.set(key, tail);
    try {
      return await mine;
    } finally {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }
}

/** One entry taken from a queue directory. */
export interface Taken {
  name: string;
  data: Buffer;
}

async function listFiles(source: Source, dir: NodeId): Promise<{ name: string; id: NodeId }[]> {
  const out: { name: string; id: NodeId }[] = [];
  for await (const entries of readdirPages({ source, dir, max: 1000 })) {
    for (const e of entries) {
      // Dot files are the usual "still being written" convention of queue directories.
      if (e.attr.kind === 'file' && !e.name.startsWith('.')) out.push({ name: e.name, id: e.id });
    }
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Take the oldest file of `dir` now, or undefined when it has none. */
async function takeOnce(source: Source, dir: NodeId): Promise<Taken | undefined> {
  for (const candidate of await listFiles(source, dir)) {
    let data: Buffer;
    try {
      data = await readWhole({ source, id: candidate.id, limit: MAX_PAYLOAD_BYTES });
      await source.unlink({ parent: dir, name: candidate.name });
    } catch (err) {
      // Removed behind our back (not by another TAKE: those wait for the mutex): next one.
      if (FsError.is(err, 'ENOENT') || FsError.is(err, 'ESTALE')) continue;
      throw err;
    }
    return { name: candidate.name, data };
  }
  return undefined;
}

/**
 * TAKE: remove the oldest file (by name) of directory `dir` and return its content. TAKEs on
 * one directory run one at a time on this node, so two takers never get the same file.
 * Without `timeoutMs` an empty directory answers `EAGAIN`; with it, the take waits for an
 * entry to appear (woken by invalidations) until the time is up.
 */
export async function takeFromDir(opts: {
  source: Source;
  dir: NodeId;
  timeoutMs?: number | undefined;
  mutex: KeyedMutex;
  signal: AbortSignal;
  visible: (ev: Invalidation) => boolean;
}): Promise<Taken> {
  const deadline = Date.now() + (opts.timeoutMs ?? 0);
  const watch = watchChanges({ source: opts.source, id: opts.dir, visible: opts.visible });
  try {
    for (;;) {
      watch.clear();
      const taken = await opts.mutex.run(opts.dir.toString(), () => takeOnce(opts.source, opts.dir));
      if (taken) return taken;
      const remaining = deadline - Date.now();
      const changed = remaining > 0 && (await watch.next({ timeoutMs: remaining, signal: opts.signal }));
      if (!changed) throw FsError.EAGAIN('take', opts.dir.toString(), 'queue directory is empty');
    }
  } finally {
    watch.stop();
  }
}
