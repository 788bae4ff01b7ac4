import type { Attr } from '../../core/attr.ts';
import type { S3Bucket } from './s3-bucket.ts';
import { fileAttr, withPosixMeta, type ObjectHeaders, type ObjectInfo, type PosixMeta } from './s3-meta.ts';
import { Spool } from './s3-spool.ts';

/** Where a writer's private copy starts from, until it is loaded. */
type Seed = { kind: 'object'; info: ObjectInfo } | { kind: 'writer'; writer: Writer } | undefined;

const CHUNK = 4 * 1024 * 1024;

/**
 * One write handle: a private copy of the file in a local spool, uploaded whole at close.
 * The current content is fetched lazily, on the first read, write or truncate that needs
 * it, so opening for write and closing without touching the data costs no download.
 */
export class Writer {
  readonly rel: string;
  readonly key: string;
  readonly canRead: boolean;
  readonly append: boolean;
  /** The name did not exist when the handle was made (close must create it even if empty). */
  readonly createdNew: boolean;
  /** `create` with `exclusive`: never replace an object that appeared meanwhile. */
  readonly exclusive: boolean;
  /** User metadata the upload will carry. */
  meta: Record<string, string>;
  readonly headers: ObjectHeaders;
  dirty: boolean;
  closing = false;
  closed = false;
  #spool: Spool;
  #seed: Seed;
  #loading: Promise<void> | undefined;
  #modifiedMs = Date.now();

  private constructor(opts: {
    rel: string;
    key: string;
    canRead: boolean;
    append: boolean;
    createdNew: boolean;
    exclusive: boolean;
    meta: Record<string, string>;
    headers: ObjectHeaders;
    seed: Seed;
    dirty: boolean;
    spool: Spool;
  }) {
    this.rel = opts.rel;
    this.key = opts.key;
    this.canRead = opts.canRead;
    this.append = opts.append;
    this.createdNew = opts.createdNew;
    this.exclusive = opts.exclusive;
    this.meta = opts.meta;
    this.headers = opts.headers;
    this.#seed = opts.seed;
    this.dirty = opts.dirty;
    this.#spool = opts.spool;
  }

  /**
   * A writer for `key`. `base` is the existing object (or another open writer's private
   * copy, for a file not yet visible); `truncate` starts empty instead.
   */
  static async open(opts: {
    spoolDir: string;
    rel: string;
    key: string;
    canRead: boolean;
    append: boolean;
    truncate: boolean;
    exclusive: boolean;
    base: ObjectInfo | Writer | undefined;
    meta: Record<string, string>;
    headers: ObjectHeaders;
  }): Promise<Writer> {
    const spool = await Spool.create(opts.spoolDir);
    const base = opts.base;
    let seed: Seed;
    if (!opts.truncate && base !== undefined) {
      seed = base instanceof Writer ? { kind: 'writer', writer: base } : { kind: 'object', info: base };
    }
    const meta = { ...opts.meta };
    if (opts.truncate) delete meta.mtime;
    return new Writer({
      ...opts,
      meta,
      createdNew: base === undefined,
      seed,
      dirty: opts.truncate && base !== undefined,
      spool,
    });
  }

  /** The spool file (for the upload at close). */
  get spool(): Spool {
    return this.#spool;
  }

  /** Current size of the private copy. */
  get size(): number {
    const seed = this.#seed;
    if (seed?.kind === 'object') return seed.info.size;
    if (seed?.kind === 'writer') return seed.writer.size;
    return this.#spool.size;
  }

  /** Attributes of the private copy. */
  attr(): Attr {
    return fileAttr({ size: this.size, lastModifiedMs: this.#modifiedMs, meta: this.meta });
  }

  /** Fetch the current content into the spool, once. */
  async load(bucket: S3Bucket): Promise<void> {
    if (this.#seed === undefined) return;
    this.#loading ??= (async () => {
      const seed = this.#seed;
      if (seed?.kind === 'object') {
        this.#spool.setLoadedSize(await bucket.download(seed.info.key, this.#spool.fh));
      } else if (seed?.kind === 'writer') {
        await seed.writer.load(bucket);
        for (let pos = 0; pos < seed.writer.#spool.size; pos += CHUNK) {
          await this.#spool.write(pos, await seed.writer.#spool.read(pos, CHUNK));
        }
      }
      this.#seed = undefined;
    })();
    try {
      await this.#loading;
    } finally {
      this.#loading = undefined;
    }
  }

  async read(bucket: S3Bucket, offset: number, length: number): Promise<Uint8Array> {
    await this.load(bucket);
    return this.#spool.read(offset, length);
  }

  async write(bucket: S3Bucket, offset: number, data: Uint8Array): Promise<number> {
    await this.load(bucket);
    const at = this.append ? this.#spool.size : offset;
    const n = await this.#spool.write(at, data);
    this.#changed();
    return n;
  }

  async truncate(bucket: S3Bucket, size: number): Promise<void> {
    if (size === 0) this.#seed = undefined;
    else await this.load(bucket);
    await this.#spool.truncate(size);
    this.#changed();
  }

  /** Apply attribute changes to what the upload will carry. */
  setPosix(changes: PosixMeta): void {
    this.meta = withPosixMeta(this.meta, 'file', changes);
  }

  #changed(): void {
    this.dirty = true;
    this.#modifiedMs = Date.now();
    // New content: the upload's LastModified is the mtime now, not a stored older one.
    delete this.meta.mtime;
  }

  /** Drop the private copy. */
  async dispose(): Promise<void> {
    this.closed = true;
    await this.#spool.dispose();
  }
}
