import { createHash } from 'node:crypto';
import { isAbsolute, join } from 'node:path';
import { CachingSource } from '../client/cache/caching-source.ts';
import { KnownNodes } from '../client/known-nodes.ts';
import type { ConnectOptions, Trust } from '../client/connection.ts';
import { writeFileAtomic } from '../core/atomic-file.ts';
import { loadConfig, type MountEntry, mountPathOf, type TesseraConfig } from '../core/config.ts';
import { FsError } from '../core/fs-error.ts';
import { homePaths } from '../core/home.ts';
import type { Logger } from '../core/log.ts';
import { AliasSource, type AliasStatus } from '../namespace/alias-source.ts';
import type { Backoff } from '../namespace/endpoint.ts';
import type { Namespace } from '../namespace/namespace.ts';
import type { Source } from '../sources/source.ts';
import { fileStamp } from './file-stamp.ts';
import type { MountCounters } from './metrics.ts';
import { mountCredential, mountCredentialsFile } from './mount-credentials.ts';

/** A mount as the node reports it (`tessera mounts --json`); never a credential. */
export interface MountStatus extends Partial<AliasStatus> {
  path: string;
  alias: string;
  export: string;
  slot: number | undefined;
  ro: boolean;
  rename: 'exdev' | 'copy';
  state: 'mounted' | 'failed';
  error?: string | undefined;
}

/** The status file the running node keeps in its home for the CLI. */
export function mountsStatusFile(home: string): string {
  return join(home, 'state', 'mounts.json');
}

const POLL_MS = 1000;
const STATUS_DEBOUNCE_MS = 200;

interface Active {
  entry: MountEntry;
  key: string;
  alias: AliasSource | undefined;
  /** What is mounted: the alias, or the cache in front of it (closing it closes the alias). */
  mounted: Source | undefined;
  error: string | undefined;
}

/**
 * The node's remote mounts: one {@link AliasSource} per `[[mount]]` entry of tessera.toml,
 * mounted into the namespace at its path (default `/<alias>/<export>`) in the slot of its
 * index. The config file is watched (a cheap stat once a second), so `tessera mount` and
 * `tessera unmount`, which edit it, take effect on the running node; a changed entry is
 * mounted again. Mount status (serving endpoint, health, switches) is written to
 * `state/mounts.json` (mode 0600) whenever it changes.
 */
export class MountManager implements AsyncDisposable {
  readonly #home: string;
  readonly #namespace: Namespace;
  readonly #log: Logger;
  readonly #backoff: Backoff | undefined;
  readonly #active = new Map<string, Active>();
  #stamp = '';
  #timer: NodeJS.Timeout | undefined;
  #statusTimer: NodeJS.Timeout | undefined;
  #reloading: Promise<void> = Promise.resolve();
  #closed = false;
  #cache: TesseraConfig['cache'] | undefined;

  constructor(opts: { home: string; namespace: Namespace; logger: Logger; backoff?: Backoff | undefined }) {
    this.#home = opts.home;
    this.#namespace = opts.namespace;
    this.#log = opts.logger.child({ component: 'mounts' });
    this.#backoff = opts.backoff;
  }

  /** Mount every configured mount and start watching the config. Idempotent. */
  async open(): Promise<void> {
    if (this.#timer || this.#closed) return;
    await this.reload();
    this.#timer = setInterval(() => void this.reload(), POLL_MS);
    this.#timer.unref();
  }

  /** Apply the config's mounts now (when the file changed since the last look). */
  reload(): Promise<void> {
    this.#reloading = this.#reloading
      .then(() => this.#reload())
      .catch((err: unknown) => {
        this.#log.error('mount reload failed', { error: err });
      });
    return this.#reloading;
  }

  /** Totals over every mount, for the node's metrics. */
  counters(): MountCounters {
    const out: MountCounters = { active: 0, switches: 0, reconnects: 0, movedHandles: 0 };
    for (const a of this.#active.values()) {
      if (!a.alias) continue;
      const st = a.alias.status();
      out.active++;
      out.switches += st.switchCount;
      out.movedHandles += st.movedHandles;
      for (const e of st.endpoints) out.reconnects += Math.max(0, e.sessions - 1);
      if (out.cache === undefined && a.mounted instanceof CachingSource && a.mounted.isOpen) {
        const { hits, misses, fetchedBytes, rejected, evictions, bytes } = a.mounted.stats;
        out.cache = { hits, misses, fetchedBytes, rejected, evictions, bytes };
      }
    }
    return out;
  }

  /** Status of every mount. */
  status(): MountStatus[] {
    return [...this.#active.values()].map((a) => {
      const slot = this.#namespace.table.byPath(mountPathOf(a.entry))?.slot;
      return {
        path: mountPathOf(a.entry),
        alias: a.entry.alias,
        export: a.entry.export,
        slot,
        ro: a.entry.ro,
        rename: a.entry.rename,
        state: a.alias && slot !== undefined ? 'mounted' : 'failed',
        error: a.error,
        ...a.alias?.status(),
      };
    });
  }

  async #reload(): Promise<void> {
    if (this.#closed) return;
    const file = homePaths(this.#home).configFile;
    // A new secret for a handle (tessera mount again) changes the credential store only.
    const stamp = `${await fileStamp(file)}|${await fileStamp(mountCredentialsFile(this.#home))}`;
    if (stamp === this.#stamp) return;
    let mounts: MountEntry[];
    try {
      const { config } = await loadConfig({ file });
      mounts = config.mount;
      this.#cache = config.cache;
    } catch (err) {
      // A config being edited by hand may be invalid for a moment: keep what runs.
      this.#log.warn('config not loaded; mounts unchanged', { error: err });
      return;
    }
    this.#stamp = stamp;
    const wanted = new Map<string, { entry: MountEntry; key: string }>();
    for (const entry of mounts) wanted.set(mountPathOf(entry), { entry, key: await this.#keyOf(entry) });
    for (const [path, active] of this.#active) {
      if (wanted.get(path)?.key === active.key) continue;
      if (!(await this.#unmount(path, active))) this.#stamp = ''; // Busy: try again next time.
    }
    const fresh = [...wanted].filter(([path]) => !this.#active.has(path));
    await Promise.all(fresh.map(([path, { entry, key }]) => this.#mount(path, entry, key)));
    this.#statusChanged();
  }

  /** What a mount depends on: its entry and the credentials it uses (as a digest). */
  async #keyOf(entry: MountEntry): Promise<string> {
    const hash = createHash('sha256').update(JSON.stringify(entry));
    for (const e of entry.endpoint) {
      const cred = await mountCredential({ home: this.#home, handle: e.credential }).catch(() => undefined);
      hash.update(cred ? `|${cred.id}:${cred.secret}` : '|missing');
    }
    return hash.digest('hex');
  }

  async #mount(path: string, entry: MountEntry, key: string): Promise<void> {
    const active: Active = {
      entry,
      key,
      alias: undefined,
      mounted: undefined,
      error: undefined,
    };
    this.#active.set(path, active);
    try {
      const endpoints: ConnectOptions[] = [];
      for (const e of entry.endpoint) {
        const trust: Trust = e.fingerprint
          ? { fingerprint: e.fingerprint.toUpperCase() }
          : { knownNodes: new KnownNodes(join(this.#home, 'known_nodes.json')) };
        const credential = await mountCredential({ home: this.#home, handle: e.credential });
        endpoints.push({ url: e.url, credential, trust });
      }
      const alias = new AliasSource({
        alias: entry.alias,
        exportName: entry.export,
        endpoints,
        logger: this.#log,
        ro: entry.ro,
        backoff: this.#backoff,
        waitMs: 10_000,
        // A node does not wait long on a remote that is down; the mount catches up later.
        openWaitMs: 2000,
      });
      alias.onStatusChange(() => this.#statusChanged());
      const cache = this.#cache;
      const source: Source =
        entry.cache && cache
          ? new CachingSource({
              inner: alias,
              dir: isAbsolute(cache.dir) ? cache.dir : join(this.#home, cache.dir),
              maxBytes: cache.max_size,
              minFreeBytes: cache.min_free,
              scope: `${entry.alias}${entry.export}`,
              logger: this.#log,
            })
          : alias;
      await source.open();
      try {
        await this.#namespace.mount({
          path,
          source,
          exportName: entry.export,
          ro: entry.ro,
          slot: entry.index,
          rename: entry.rename,
        });
      } catch (err) {
        await source.close();
        throw err;
      }
      active.alias = alias;
      active.mounted = source;
      if (!alias.endpoints.some((e) => e.state === 'up')) {
        // Mounted before any endpoint answered, with assumed caps: mount again once one has
        // described the export, so the namespace shows its real caps.
        const stop = alias.onStatusChange(() => {
          if (!alias.endpoints.some((e) => e.state === 'up')) return;
          stop();
          active.key = 'caps now known';
          this.#stamp = '';
          void this.reload();
        });
      }
      this.#log.info('mounted', { path, alias: entry.alias, export: entry.export });
    } catch (err) {
      active.error = FsError.from(err, 'mount', path).message;
      this.#log.error('mount failed', { path, error: err });
    }
  }

  /** Unmount; false when files under it are open (it stays, and is tried again). */
  async #unmount(path: string, active: Active): Promise<boolean> {
    if (active.alias) {
      try {
        await this.#namespace.unmount({ path });
      } catch (err) {
        if (FsError.is(err, 'EBUSY')) {
          this.#log.warn('unmount deferred: files under the mount are open', { path });
          return false;
        }
        if (!FsError.is(err, 'ENOENT')) throw err;
      }
      await active.mounted?.close();
    }
    this.#active.delete(path);
    this.#log.info('unmounted', { path });
    return true;
  }

  #statusChanged(): void {
    if (this.#closed || this.#statusTimer) return;
    this.#statusTimer = setTimeout(() => {
      this.#statusTimer = undefined;
      void this.#writeStatus();
    }, STATUS_DEBOUNCE_MS);
    this.#statusTimer.unref();
  }

  async #writeStatus(): Promise<void> {
    const data = `${JSON.stringify({ updated: new Date().toISOString(), mounts: this.status() }, null, 2)}\n`;
    await writeFileAtomic({ file: mountsStatusFile(this.#home), data, mode: 0o600 }).catch((err: unknown) =>
      this.#log.warn('mount status not written', { error: err }),
    );
  }

  /** Stop watching, unmount everything, close the aliases. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    clearInterval(this.#timer);
    await this.#reloading;
    this.#closed = true;
    clearTimeout(this.#statusTimer);
    for (const [path, active] of [...this.#active]) {
      await this.#namespace.unmount({ path }).catch(() => undefined);
      await active.mounted?.close();
    }
    this.#active.clear();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
