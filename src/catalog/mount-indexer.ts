import { setTimeout as sleep } from 'node:timers/promises';
import { FsError } from '../core/fs-error.ts';
import { localPartOf, type NodeId, rootId } from '../core/ids.ts';
import type { Logger } from '../core/log.ts';
import type { Invalidation, Source } from '../sources/source.ts';
import { crawl, type MountTarget, sightingOf } from './crawler.ts';
import { EventQueue } from './event-queue.ts';
import { updateMountState } from './mount-state.ts';
import type { CatalogStore, CatalogWrite } from './store.ts';
import { childPath } from '../core/names.ts';

/** Options of {@link MountIndexer}. */
export interface MountIndexerOptions {
  store: CatalogStore;
  /** The namespace the mount is in. */
  source: Source;
  target: MountTarget & { slot: number; sourceKind: string };
  logger: Logger;
  debounceMs?: number | undefined;
  stormRate?: number | undefined;
  stormSeconds?: number | undefined;
  /** Crawl concurrency (directories listed at once). */
  concurrency?: number | undefined;
  /** Called after each crawl or event batch (the catalog fills its name index behind them). */
  onWritten?: (() => void) | undefined;
}

/** Errors that mean "cannot reach the data now", not "the data is wrong". */
function isOffline(err: unknown): boolean {
  return err instanceof FsError && err.retryable && err.code !== 'ECANCELED';
}

/**
 * Indexes one mount of the namespace: a full crawl first, then watcher events (debounced per
 * path, a rename as one move, a storm replaced by a full crawl). When the mount cannot be
 * reached the indexer goes offline; the first successful check afterwards runs a
 * reconciliation crawl (the stat fast-path makes it cheap) before events are trusted again.
 * All work is serialized: one crawl or one event batch at a time.
 */
export class MountIndexer {
  readonly target: MountIndexerOptions['target'];
  readonly #o: MountIndexerOptions;
  readonly #log: Logger;
  readonly #queue: EventQueue;
  #chain: Promise<void> = Promise.resolve();
  #held: Invalidation[][] = [];
  #crawling = false;
  #crawlWanted = false;
  #offline = false;
  #closed = false;
  #abort = new AbortController();

  constructor(opts: MountIndexerOptions) {
    this.#o = opts;
    this.target = opts.target;
    this.#log = opts.logger.child({ component: 'catalog', fields: { mount: opts.target.mount } });
    this.#queue = new EventQueue({
      debounceMs: opts.debounceMs,
      stormRate: opts.stormRate,
      stormSeconds: opts.stormSeconds,
      onFlush: (events) => this.#onEvents(events),
      onStorm: () => {
        this.#log.warn('event storm: switching to a full crawl');
        updateMountState(this.#o.store, this.target.mount, { state: 'storm' });
        this.requestCrawl('storm');
      },
    });
  }

  /** Whether a crawl or event batch is running or waiting. */
  get busy(): boolean {
    return this.#crawling || this.#crawlWanted || this.#held.length > 0 || this.#queue.size > 0;
  }

  get offline(): boolean {
    return this.#offline;
  }

  /** Start: record the mount and crawl it. */
  start(): void {
    const t = this.target;
    updateMountState(this.#o.store, t.mount, {
      node: t.node,
      export: t.export,
      sourceKind: t.sourceKind,
      state: 'pending',
    });
    this.requestCrawl('start');
  }

  /** Take a namespace event that belongs to this mount. */
  push(ev: Invalidation): void {
    if (this.#closed || this.#offline) return;
    this.#queue.push(ev);
  }

  /** Resolves once everything queued so far is done (tests, `index --wait`). */
  async settled(): Promise<void> {
    let chain: Promise<void>;
    do {
      chain = this.#chain;
      await chain;
    } while (chain !== this.#chain);
  }

  #enqueue(work: () => Promise<void>): void {
    this.#chain = this.#chain
      .then(work)
      .catch((err: unknown) => {
        if (this.#closed) return;
        if (isOffline(err)) return this.#goOffline(err);
        this.#log.error('indexing failed', { error: err });
        updateMountState(this.#o.store, this.target.mount, { lastError: FsError.from(err, 'index').message });
      })
      .finally(() => {
        if (!this.#closed) this.#o.onWritten?.();
      });
  }

  #goOffline(err: unknown): void {
    if (this.#offline) return;
    this.#offline = true;
    this.#log.warn('mount unreachable: indexing paused until it answers again', { error: err });
    updateMountState(this.#o.store, this.target.mount, {
      state: 'offline',
      lastError: FsError.from(err, 'index').message,
    });
  }

  /**
   * Check that the mount answers; if it was offline and answers again, run the
   * reconciliation crawl. Called periodically by the catalog.
   */
  async check(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#o.source.getattr({ id: rootId(this.target.slot) });
    } catch (err) {
      if (isOffline(err) || FsError.is(err, 'ESTALE')) this.#goOffline(err);
      return;
    }
    if (this.#offline) {
      this.#offline = false;
      this.#log.info('mount answers again: reconciliation crawl');
      this.requestCrawl('reconnect');
    }
  }

  /** Run a full crawl of the mount (coalesced with one already waiting). */
  requestCrawl(reason: string): void {
    if (this.#crawlWanted || this.#closed) return;
    this.#crawlWanted = true;
    this.#enqueue(async () => {
      this.#crawlWanted = false;
      await this.#fullCrawl(reason);
      // Still storming: events were dropped meanwhile, crawl again once it calms down.
      if (this.#queue.storming) {
        // Aborted by close(), which awaits this chain: an unref'd timer alone could leave
        // close() pending forever once nothing else keeps the process alive.
        await sleep(1000, undefined, { signal: this.#abort.signal }).catch(() => undefined);
        this.requestCrawl('storm');
      }
    });
  }

  async #fullCrawl(reason: string): Promise<void> {
    const { store } = this.#o;
    const t = this.target;
    const started = Date.now();
    this.#crawling = true;
    updateMountState(store, t.mount, {
      state: 'crawling',
      seen: 0,
      crawlStartedAt: started,
      lastError: null,
    });
    this.#log.info('crawl started', { reason });
    try {
      let lastReport = 0;
      const r = await crawl({
        store,
        source: this.#o.source,
        target: t,
        dir: rootId(t.slot),
        path: t.mount,
        concurrency: this.#o.concurrency,
        signal: this.#abort.signal,
        onProgress: (seen) => {
          if (Date.now() - lastReport < 250) return;
          lastReport = Date.now();
          updateMountState(store, t.mount, { seen });
        },
      });
      const finished = Date.now();
      const row = store.stmt('SELECT crawls FROM mounts WHERE mount = ?').get(t.mount) as { crawls: number };
      updateMountState(store, t.mount, {
        state: this.#queue.storming ? 'storm' : 'watching',
        seen: r.seen,
        crawls: row.crawls + 1,
        crawlFinishedAt: finished,
        lastCrawlMs: finished - started,
      });
      this.#log.info('crawl finished', { reason, ms: finished - started, ...r });
    } finally {
      this.#crawling = false;
    }
  }

  #onEvents(events: Invalidation[]): void {
    this.#held.push(events);
    this.#enqueue(async () => {
      const batch = this.#held.shift();
      if (batch) await this.#apply(batch);
    });
  }

  /** The namespace path of directory `id` of this mount, if indexed. */
  #dirPath(id: NodeId): string | undefined {
    const local = localPartOf(id);
    if (local === 1n) return this.target.mount;
    const doc = this.#o.store.fileByLocal(this.target.mount, Number(local));
    return doc?.kind === 'dir' ? doc.path : undefined;
  }

  async #apply(events: Invalidation[]): Promise<void> {
    const { store, source } = this.#o;
    const t = this.target;
    const upserts: CatalogWrite[] = [];
    const removals: CatalogWrite[] = [];
    const subtrees: { id: NodeId; path: string }[] = [];
    for (const ev of events) {
      if (ev.kind === 'tree') {
        const path = this.#dirPath(ev.id);
        // The whole mount may have changed (a reconnect, a watch overflow): a full crawl,
        // recorded as one (it supersedes the rest of this batch).
        if (path === t.mount || path === undefined) {
          this.requestCrawl('tree invalidation');
          return;
        }
        subtrees.push({ id: ev.id, path });
        continue;
      }
      if (ev.kind === 'entry') {
        const parentPath = this.#dirPath(ev.parent);
        if (parentPath === undefined) continue; // Its directory is not indexed yet: that directory's own event crawls it.
        const path = childPath(parentPath, ev.name);
        try {
          const e = await source.lookup({ parent: ev.parent, name: ev.name });
          const s = sightingOf(t, path, e);
          upserts.push({ op: 'upsert', file: s });
          // A directory that appeared (not one renamed within the mount) brings its contents.
          if (s.kind === 'dir' && store.fileByLocal(t.mount, s.local) === undefined)
            subtrees.push({ id: e.id, path });
        } catch (err) {
          if (!FsError.is(err, 'ENOENT') && !FsError.is(err, 'ESTALE')) throw err;
          const doc = store.fileByPath(path);
          if (doc) removals.push({ op: 'remove', path, local: doc.local });
        }
        continue;
      }
      const doc = store.fileByLocal(t.mount, Number(localPartOf(ev.id)));
      if (!doc) continue; // Not indexed yet: its entry event adds it.
      try {
        const attr = await source.getattr({ id: ev.id });
        upserts.push({ op: 'upsert', file: sightingOf(t, doc.path, { id: ev.id, attr }) });
      } catch (err) {
        if (!FsError.is(err, 'ENOENT') && !FsError.is(err, 'ESTALE')) throw err;
        removals.push({ op: 'remove', path: doc.path, local: doc.local });
      }
    }
    // Appearances first: a rename moves the document before its old name is looked at.
    upserts.sort((a, b) => depth(a) - depth(b));
    store.write([...upserts, ...removals]);
    for (const dir of subtrees)
      await crawl({ store, source, target: t, dir: dir.id, path: dir.path, signal: this.#abort.signal });
    updateMountState(store, t.mount, { lastEventAt: Date.now() });
  }

  /** Stop: drop queued events, abort a crawl in progress, wait for it. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.close();
    this.#abort.abort();
    await this.#chain;
  }
}

function depth(w: CatalogWrite): number {
  return w.op === 'upsert' ? w.file.path.split('/').length : 0;
}
