import type { FileDoc } from '../../src/catalog/vfs/catalog-view.ts';
import type { MemoryCatalogView } from '../../src/catalog/vfs/memory-catalog-view.ts';
import { nsToMs } from '../../src/core/attr.ts';
import type { NodeId } from '../../src/core/ids.ts';
import type { Namespace } from '../../src/namespace/namespace.ts';

/**
 * Index the files under a namespace mount into a `MemoryCatalogView`, the way the catalog
 * indexes its Sources (a full crawl: new and changed files put, vanished ones removed), with
 * inodes kept per path so they stay stable. Re-crawls by itself on the namespace's
 * invalidations; `settle()` crawls now.
 */
export class TestIndexer {
  readonly #inodes = new Map<string, bigint>();
  #nextInode = 1000n;
  #stop: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #crawling: Promise<void> = Promise.resolve();

  constructor(
    readonly opts: {
      catalog: MemoryCatalogView;
      namespace: Namespace;
      mount: string;
      node: string;
      export: string;
    },
  ) {}

  /** Crawl now and follow changes. */
  async start(): Promise<void> {
    await this.settle();
    this.#stop = this.opts.namespace.watch(() => {
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => void this.settle().catch(() => undefined), 20);
    });
  }

  stop(): void {
    this.#stop?.();
    clearTimeout(this.#timer);
  }

  /** One full crawl (after any in flight). */
  settle(): Promise<void> {
    this.#crawling = this.#crawling.catch(() => undefined).then(() => this.#crawl());
    return this.#crawling;
  }

  async #crawl(): Promise<void> {
    const { catalog, namespace } = this.opts;
    const seen = new Set<string>();
    const walk = async (dir: NodeId, path: string): Promise<void> => {
      let cookie = '';
      for (;;) {
        const page = await namespace.readdirp({ dir, cookie, max: 1000 });
        for (const e of page.entries) {
          const p = `${path}/${e.name}`;
          if (e.attr.kind === 'dir') await walk(e.id, p);
          else if (e.attr.kind === 'file') {
            seen.add(p);
            let inode = this.#inodes.get(p);
            if (inode === undefined) this.#inodes.set(p, (inode = this.#nextInode++));
            const doc: FileDoc = {
              fileId: `${this.opts.node}:${this.opts.export}:${p}`,
              inode,
              node: this.opts.node,
              export: this.opts.export,
              path: p,
              nsPath: `${this.opts.mount}${p}`,
              size: e.attr.size,
              mtimeMs: nsToMs(e.attr.mtimeNs),
            };
            const old = catalog.fileByInode(inode);
            if (!old || old.size !== doc.size || old.mtimeMs !== doc.mtimeMs) catalog.put(doc);
          }
        }
        if (page.eof) break;
        cookie = page.cookie;
      }
    };
    await walk((await namespace.resolve({ path: this.opts.mount })).id, '');
    for (const doc of catalog.all()) {
      if (doc.export === this.opts.export && !seen.has(doc.path)) {
        catalog.remove(doc);
        this.#inodes.delete(doc.path);
      }
    }
  }
}
