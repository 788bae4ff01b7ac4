import { FsError } from '../core/fs-error.ts';
import { exportIndexOf, rootId } from '../core/ids.ts';
import type { Logger } from '../core/log.ts';
import type { MountInfo, Namespace } from '../namespace/namespace.ts';
import type { Invalidation } from '../sources/source.ts';
import { takeRescan } from './catalog-file.ts';
import { MountIndexer } from './mount-indexer.ts';
import { type MountStatus, mountStates, updateMountState } from './mount-state.ts';
import { search, type SearchPage, type SearchQuery } from './search.ts';
import { recordStorage } from './storage.ts';
import { CatalogStore, dirPrefix, prefixEnd } from './store.ts';

/** Options of {@link Catalog}. */
export interface CatalogOptions {
  /** The SQLite file (`<home>/state/catalog.db` in a node). */
  file: string;
  namespace: Namespace;
  /** This node's name: the `node` of documents of its own exports. */
  nodeName: string;
  logger: Logger;
  /**
   * Which node and export hold a mount's data (default: this node, the mount's export name).
   * Mounts of other nodes' exports say theirs here.
   */
  nodeOfMount?: ((m: MountInfo) => { node: string; export: string }) | undefined;
  /** Watcher debounce per path (default 500 ms). */
  debounceMs?: number | undefined;
  /** Events per second that make a storm (default 1,000) when sustained `stormSeconds` (default 5). */
  stormRate?: number | undefined;
  stormSeconds?: number | undefined;
  /** How often mounts are checked for reachability (reconciliation after a reconnect); default 5 s. */
  checkIntervalMs?: number | undefined;
  /** How often storage utilization is sampled (default 10 min). */
  storageIntervalMs?: number | undefined;
}

/**
 * The catalog service of a node: indexes every mount of the namespace into its store and
 * answers search. One indexer per mount (crawl, then watch); mounts added to or removed from
 * the namespace are picked up; a removed mount's documents go (its label assignments stay,
 * keyed by file id, and come back with the files). A periodic check notices mounts that stop
 * or start answering (a remote node restarting) and reconciles them, and samples storage.
 */
export class Catalog implements AsyncDisposable {
  readonly store: CatalogStore;
  readonly #o: CatalogOptions;
  readonly #log: Logger;
  readonly #indexers = new Map<number, MountIndexer>();
  #unwatch: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #lastStorage = 0;
  #opened = false;
  #syncing: Promise<void> = Promise.resolve();
  /** The storage sample under way (it never rejects: failures are logged per mount). */
  #storage: Promise<void> = Promise.resolve();
  #filling: Promise<void> | undefined;

  constructor(opts: CatalogOptions) {
    this.#o = opts;
    this.store = new CatalogStore({ file: opts.file });
    this.#log = opts.logger.child({ component: 'catalog' });
  }

  /** Open the store and start indexing every mount. Idempotent. */
  async open(): Promise<void> {
    if (this.#opened) return;
    this.#opened = true;
    await this.store.open();
    // Indexers of a previous run that were mid-crawl: their state is stale.
    this.store.db.prepare("UPDATE mounts SET state = 'pending' WHERE state NOT IN ('unmounted')").run();
    this.#unwatch = this.#o.namespace.watch((ev) => this.#route(ev));
    await this.#syncMounts();
    this.#timer = setInterval(() => void this.#tick(), this.#o.checkIntervalMs ?? 5000);
    this.#timer.unref();
    // Not awaited: a mount that is slow to answer statfs must not hold up the node's start.
    this.#storage = this.#sampleStorage();
  }

  /** Stop indexing and close the store. Idempotent. */
  async close(): Promise<void> {
    if (!this.#opened) return;
    this.#opened = false;
    clearInterval(this.#timer);
    this.#unwatch?.();
    await this.#syncing;
    await Promise.all([...this.#indexers.values()].map((i) => i.close()));
    await this.#filling;
    this.#indexers.clear();
    // Nothing indexes the mounts now: a crawl cut short must not read as one in progress
    // (`tessera index status --wait` would wait for it forever).
    this.store.db.prepare("UPDATE mounts SET state = 'stopped' WHERE state != 'unmounted'").run();
    await this.store.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Resolves once every indexer has nothing queued or running (events still in their debounce wait count). */
  async settled(): Promise<void> {
    for (;;) {
      await this.#storage;
      await this.#syncing;
      await Promise.all([...this.#indexers.values()].map((i) => i.settled()));
      if (![...this.#indexers.values()].some((i) => i.busy)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * Bring the name index up to date with the documents (a batch per turn of the event loop,
   * so the node keeps serving). Search is complete without it (rows not yet indexed are
   * scanned); it runs when the indexers are idle, after their crawls and event batches and
   * on the periodic check, and this resolves when it stops (done, or an indexer has work).
   */
  async indexNames(): Promise<void> {
    // Cleared in a `.finally` callback, which runs after the assignment: a run that ends
    // without awaiting (nothing to index, an indexer busy) must not leave a settled promise
    // behind, or every later call would return it and the index would never grow again.
    this.#filling ??= this.#fillNames().finally(() => {
      this.#filling = undefined;
    });
    await this.#filling;
  }

  async #fillNames(): Promise<void> {
    try {
      // Only while no indexer works: a crawl's writes come first; the next batch calls again.
      const idle = () => this.#opened && ![...this.#indexers.values()].some((i) => i.busy);
      while (idle() && this.store.indexNames() > 0) await new Promise((r) => setImmediate(r));
    } catch (err) {
      this.#log.warn('filling the name index failed (search scans the rest)', { error: err });
    }
  }

  /** Search the catalog (see {@link search}). */
  search(query: SearchQuery): SearchPage {
    return search(this.store, query);
  }

  /** Index state of every mount the catalog knows. */
  status(): MountStatus[] {
    return mountStates(this.store);
  }

  /** Crawl a mount again (every mount when `mount` is absent). */
  reindex(opts: { mount?: string | undefined } = {}): void {
    const targets = [...this.#indexers.values()].filter(
      (i) => opts.mount === undefined || i.target.mount === opts.mount,
    );
    if (opts.mount !== undefined && targets.length === 0)
      throw FsError.ENOENT('index', opts.mount, 'no such mount in the namespace');
    for (const i of targets) i.requestCrawl('requested');
  }

  #route(ev: Invalidation): void {
    const slot = exportIndexOf(ev.kind === 'entry' ? ev.parent : ev.id);
    if (slot === 0) {
      // The namespace's own directories changed: a mount came or went.
      this.#syncing = this.#syncing.then(() => this.#syncMounts());
      return;
    }
    this.#indexers.get(slot)?.push(ev);
  }

  async #syncMounts(): Promise<void> {
    if (!this.#opened) return;
    const ns = this.#o.namespace;
    const mounts = ns.mounts();
    const exports = new Map((await ns.listExports()).map((e) => [exportIndexOf(e.root), e]));
    for (const [slot, indexer] of this.#indexers) {
      const m = mounts.find((x) => x.slot === slot);
      if (m?.path === indexer.target.mount) continue;
      this.#indexers.delete(slot);
      await indexer.close();
      this.#forgetMount(indexer.target.mount);
    }
    for (const m of mounts) {
      if (this.#indexers.has(m.slot)) continue;
      // Virtual directories list files the catalog already has: indexing them would loop.
      // Hidden mounts (the diagnostics tree) hold generated status, not files.
      if (m.source_kind === 'virtual' || m.hidden === true) continue;
      const { node, export: exportName } = this.#o.nodeOfMount?.(m) ?? {
        node: this.#o.nodeName,
        export: m.export,
      };
      const indexer = new MountIndexer({
        store: this.store,
        onWritten: () => void this.indexNames(),
        source: ns,
        target: {
          mount: m.path,
          slot: m.slot,
          node,
          export: exportName,
          sourceKind: m.source_kind,
          persistentIds: exports.get(m.slot)?.caps.persistent_ids ?? false,
        },
        logger: this.#o.logger,
        debounceMs: this.#o.debounceMs,
        stormRate: this.#o.stormRate,
        stormSeconds: this.#o.stormSeconds,
      });
      this.#indexers.set(m.slot, indexer);
      indexer.start();
    }
  }

  /** A mount left the namespace: its documents go; label assignments stay for its return. */
  #forgetMount(mount: string): void {
    const prefix = dirPrefix(mount);
    this.store.transaction(() => {
      this.store
        .stmt('DELETE FROM files WHERE mount = ? OR (path >= ? AND path < ?)')
        .run(mount, prefix, prefixEnd(prefix));
      this.store
        .stmt('DELETE FROM dir_digests WHERE path = ? OR (path >= ? AND path < ?)')
        .run(mount, prefix, prefixEnd(prefix));
    });
    updateMountState(this.store, mount, { state: 'unmounted' });
    this.#log.info('mount left the namespace: its documents were removed', { mount });
  }

  async #tick(): Promise<void> {
    try {
      await Promise.all([...this.#indexers.values()].map((i) => i.check()));
      void this.indexNames();
      const rescan = takeRescan(this.store);
      if (rescan) {
        for (const i of this.#indexers.values())
          if (rescan.mount === null || rescan.mount === i.target.mount) i.requestCrawl('requested');
      }
      if (Date.now() - this.#lastStorage >= (this.#o.storageIntervalMs ?? 600_000))
        await (this.#storage = this.#sampleStorage());
    } catch (err) {
      this.#log.warn('catalog check failed', { error: err });
    }
  }

  /** One storage sample per mount that answers; the mounts are asked all at once. */
  async #sampleStorage(): Promise<void> {
    this.#lastStorage = Date.now();
    const live = [...this.#indexers.values()].filter((i) => !i.offline);
    const answers = await Promise.allSettled(
      live.map((i) => this.#o.namespace.statfs({ id: rootId(i.target.slot) })),
    );
    if (!this.#opened) return;
    answers.forEach((a, n) => {
      const { target } = live[n]!;
      if (a.status === 'rejected') {
        this.#log.debug('statfs failed', { mount: target.mount, error: a.reason });
        return;
      }
      try {
        recordStorage(this.store, {
          mount: target.mount,
          node: target.node,
          export: target.export,
          statfs: a.value,
        });
      } catch (err) {
        this.#log.warn('cannot record a storage sample', { mount: target.mount, error: err });
      }
    });
  }
}
