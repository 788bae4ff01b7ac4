import type { Attr } from '../../core/attr.ts';
import { FsError } from '../../core/fs-error.ts';
import { exportIndexOf, localPartOf, makeId, rootId, type NodeId } from '../../core/ids.ts';
import { checkName } from '../../core/names.ts';
import type { ListedObject, S3Bucket } from './s3-bucket.ts';
import { mapLimit } from '../../core/map-limit.ts';
import { IdMap } from './s3-ids.ts';
import {
  dirAttr,
  fileAttr,
  formatMtime,
  withPosixMeta,
  type ObjectHeaders,
  type ObjectInfo,
  type PosixMeta,
} from './s3-meta.ts';
import type { DirSnapshot } from './s3-scanner.ts';
import { Spool } from './s3-spool.ts';
import { BoundedMap } from '../../core/bounded-map.ts';

/** A file or directory of the export, by key relative to the prefix ('' = root; dirs end with '/'). */
export interface NodeRef {
  kind: 'file' | 'dir';
  rel: string;
}

/** A name in a directory listing. */
export interface Listed {
  kind: 'file' | 'dir';
  obj?: ListedObject | undefined;
}

/** What the tree remembers of an object's metadata, keyed by key, validated by ETag. */
type CachedMeta =
  | {
      absent: false;
      etag: string;
      lastModifiedMs: number | undefined;
      meta: Record<string, string>;
      headers: ObjectHeaders;
    }
  | { absent: true };

const S3_MAX_KEY_BYTES = 1024;
const META_CACHE_MAX = 100_000;
/** How long a full scan for unknown ids answers for (repeated unknown ids do not rescan). */
const ID_SCAN_REUSE_MS = 5000;

/** Whether a key segment can be a file name (listing skips the rest: they are unreachable). */
export function isValidName(name: string): boolean {
  try {
    checkName('list', name);
    return true;
  } catch {
    return false;
  }
}

/** Split a rel into its parent directory rel and its name. */
export function splitRel(rel: string): { parent: string; name: string } {
  const bare = rel.endsWith('/') ? rel.slice(0, -1) : rel;
  const cut = bare.lastIndexOf('/');
  return { parent: cut < 0 ? '' : bare.slice(0, cut + 1), name: bare.slice(cut + 1) };
}

/**
 * The export's keys seen as a tree: ids ↔ keys, whether a name is a file or a directory,
 * directory attributes from marker objects, and a cache of object metadata (validated by
 * ETag and LastModified, so a listing can reuse what a HEAD or an upload learned).
 */
export class S3Tree {
  readonly bucket: S3Bucket;
  readonly #prefix: string;
  readonly #exportIndex: number;
  readonly #idScanLimit: number;
  readonly #spoolDir: string;
  readonly #ids = new IdMap();
  readonly #meta = new BoundedMap<string, CachedMeta>({ max: META_CACHE_MAX });
  #idScan: Promise<void> | undefined;
  #idScanDoneMs = -Infinity;

  constructor(opts: {
    bucket: S3Bucket;
    prefix: string;
    exportIndex: number;
    idScanLimit: number;
    spoolDir: string;
  }) {
    this.bucket = opts.bucket;
    this.#spoolDir = opts.spoolDir;
    this.#prefix = opts.prefix;
    this.#exportIndex = opts.exportIndex;
    this.#idScanLimit = opts.idScanLimit;
  }

  /** The key of a rel; `ENAMETOOLONG` beyond S3's 1024 bytes. */
  key(rel: string): string {
    const key = this.#prefix + rel;
    if (Buffer.byteLength(key, 'utf8') > S3_MAX_KEY_BYTES) {
      throw FsError.ENAMETOOLONG('s3', rel, `object key would exceed ${S3_MAX_KEY_BYTES} bytes`);
    }
    return key;
  }

  idOf(rel: string): NodeId {
    return rel === '' ? rootId(this.#exportIndex) : makeId(this.#exportIndex, this.#ids.idFor(rel));
  }

  /** What an id names; `ESTALE` when no key has it. */
  async node(id: NodeId): Promise<NodeRef> {
    if (exportIndexOf(id) !== this.#exportIndex)
      throw FsError.ESTALE('s3', id.toString(), 'id of another export');
    const local = localPartOf(id);
    if (local === 1n) return { kind: 'dir', rel: '' };
    const rel = this.#ids.relOf(local) ?? (await this.#resolveUnknown(local));
    if (rel === undefined) throw FsError.ESTALE('s3', id.toString(), 'no object has this id');
    return { kind: rel.endsWith('/') ? 'dir' : 'file', rel };
  }

  /** A directory's node; `ENOTDIR` for a file id. */
  async dirNode(id: NodeId): Promise<NodeRef> {
    const node = await this.node(id);
    if (node.kind !== 'dir') throw FsError.ENOTDIR('s3', id.toString());
    return node;
  }

  /**
   * An id this process has not handed out (e.g. from before a restart): list the export
   * once (up to `id_scan_limit` keys) registering every key's id. Scans are shared and
   * reused for a few seconds, so a burst of stale ids costs one listing.
   */
  async #resolveUnknown(local: bigint): Promise<string | undefined> {
    if (this.#idScanLimit === 0) return undefined;
    if (!this.#idScan && Date.now() - this.#idScanDoneMs > ID_SCAN_REUSE_MS) {
      this.#idScan = this.#scanAllKeys().finally(() => {
        this.#idScan = undefined;
        this.#idScanDoneMs = Date.now();
      });
    }
    await this.#idScan;
    return this.#ids.relOf(local);
  }

  async #scanAllKeys(): Promise<void> {
    let seen = 0;
    for await (const page of this.bucket.list(this.#prefix)) {
      for (const obj of page.objects) {
        const parts = obj.key.slice(this.#prefix.length).split('/');
        let rel = '';
        for (let i = 0; i < parts.length; i++) {
          const part = parts[i]!;
          if (i === parts.length - 1 && part === '') break; // a marker: its directory is registered
          if (!isValidName(part)) break;
          rel += i < parts.length - 1 ? part + '/' : part;
          this.#ids.idFor(rel);
        }
        if (++seen >= this.#idScanLimit) return;
      }
    }
  }

  // ---- metadata cache ----

  /** Remember an object's metadata (from HEAD, or from an upload or copy just made). */
  remember(
    key: string,
    v: {
      etag: string;
      lastModifiedMs?: number | undefined;
      meta: Record<string, string>;
      headers: ObjectHeaders;
    },
  ): void {
    this.#meta.set(key, { absent: false, ...v, lastModifiedMs: v.lastModifiedMs });
  }

  /** Note that a directory has no marker object. */
  rememberNoMarker(key: string): void {
    this.#meta.set(key, { absent: true });
  }

  forget(key: string): void {
    this.#meta.delete(key);
  }

  /** HEAD an object, keeping what it says. */
  async head(key: string): Promise<ObjectInfo | undefined> {
    const info = await this.bucket.head(key);
    if (info) this.remember(key, info);
    else this.#meta.delete(key);
    return info;
  }

  /** Full info for a listed object: metadata from the cache when it still matches, else HEAD. */
  async infoFor(obj: ListedObject): Promise<ObjectInfo | undefined> {
    const c = this.#meta.get(obj.key);
    if (
      c &&
      !c.absent &&
      c.etag === obj.etag &&
      (c.lastModifiedMs === undefined || c.lastModifiedMs === obj.lastModifiedMs)
    ) {
      c.lastModifiedMs = obj.lastModifiedMs;
      return { ...obj, meta: c.meta, headers: c.headers };
    }
    return this.head(obj.key);
  }

  // ---- directories ----

  /** Attributes of the directory `rel`, or undefined when it does not exist. */
  async dirAttrOf(rel: string): Promise<Attr | undefined> {
    if (rel === '' && this.#prefix === '') return dirAttr();
    const first = await this.bucket.firstKeys(this.key(rel), 1);
    return this.dirAttrFromFirst(rel, first[0]);
  }

  /** Directory attributes given the first key under it (the marker sorts first when present). */
  async dirAttrFromFirst(rel: string, first: ListedObject | undefined): Promise<Attr | undefined> {
    const key = this.key(rel);
    if (first === undefined) return rel === '' ? dirAttr() : undefined;
    if (first.key !== key) {
      this.rememberNoMarker(key);
      return dirAttr();
    }
    return dirAttr(await this.infoFor(first));
  }

  /** Directory attributes for a listing: the remembered marker, else a lookup of it. */
  async childDirAttr(rel: string): Promise<Attr | undefined> {
    const c = this.#meta.get(this.key(rel));
    if (c?.absent) return dirAttr();
    if (c && c.lastModifiedMs !== undefined)
      return dirAttr({ lastModifiedMs: c.lastModifiedMs, meta: c.meta });
    return this.dirAttrOf(rel);
  }

  async dirExists(rel: string): Promise<boolean> {
    if (rel === '') return true;
    const key = this.key(rel);
    // A marker known to exist is checked with a HEAD, which stays cheap however big the directory.
    const c = this.#meta.get(key);
    if (c && !c.absent && (await this.head(key)) !== undefined) return true;
    return (await this.bucket.firstKeys(key, 1)).length > 0;
  }

  /** ENOENT for a missing name, or ESTALE when its parent directory itself is gone. */
  async missing(op: string, parentRel: string, name: string): Promise<FsError> {
    if (!(await this.dirExists(parentRel)))
      return FsError.ESTALE(op, parentRel, 'directory no longer exists');
    return FsError.ENOENT(op, parentRel + name);
  }

  /** What a name is: a directory wins over a file of the same name. */
  async kindAt(
    rel: string,
  ): Promise<{ kind: 'file'; info: ObjectInfo } | { kind: 'dir'; first: ListedObject[] } | undefined> {
    const [info, first] = await Promise.all([
      this.head(this.key(rel)),
      this.bucket.firstKeys(this.key(rel + '/'), 2),
    ]);
    if (first.length > 0) return { kind: 'dir', first };
    return info ? { kind: 'file', info } : undefined;
  }

  /**
   * A directory that exists only through its keys (no marker) vanishes with its last entry:
   * before removing an entry, make sure its directory has a marker.
   */
  async keepDir(rel: string): Promise<void> {
    if (rel === '') return;
    const key = this.key(rel);
    const c = this.#meta.get(key);
    if (c && !c.absent) return;
    if ((await this.head(key)) !== undefined) return;
    const { etag } = await this.bucket.put({ key, data: new Uint8Array(0), meta: {}, headers: {} });
    this.remember(key, { etag, meta: {}, headers: {} });
  }

  /** Every name in a directory (one delimited listing), and the scanner's view of it. */
  async listDir(
    rel: string,
  ): Promise<{ listed: Map<string, Listed>; snapshot: DirSnapshot; exists: boolean }> {
    const dirKey = this.key(rel);
    const listed = new Map<string, Listed>();
    let any = false;
    for await (const page of this.bucket.list(dirKey, '/')) {
      for (const obj of page.objects) {
        any = true;
        const name = obj.key.slice(dirKey.length);
        if (name === '' || !isValidName(name)) continue;
        if (!listed.has(name)) listed.set(name, { kind: 'file', obj });
      }
      for (const p of page.prefixes) {
        any = true;
        const name = p.slice(dirKey.length, -1);
        // A file and a directory of the same name: the directory is what the tree shows.
        if (isValidName(name)) listed.set(name, { kind: 'dir' });
      }
    }
    const snapshot: DirSnapshot = new Map();
    for (const [name, l] of listed) {
      snapshot.set(name, {
        kind: l.kind,
        sig: l.obj ? `${l.obj.etag}|${l.obj.size}|${l.obj.lastModifiedMs}` : '',
        lastModifiedMs: l.obj?.lastModifiedMs ?? 0,
      });
    }
    return { listed, snapshot, exists: any || rel === '' };
  }

  // ---- moving objects ----

  /** Copy an object, storing its mtime in metadata so the copy's new LastModified does not change it. */
  async copyKeepingMtime(info: ObjectInfo, dstKey: string): Promise<void> {
    const meta =
      info.meta.mtime !== undefined
        ? info.meta
        : { ...info.meta, mtime: formatMtime(BigInt(info.lastModifiedMs) * 1_000_000n) };
    const { etag, lastModifiedMs } = await this.bucket.copy(info, dstKey, meta);
    this.remember(dstKey, { etag, lastModifiedMs, meta, headers: info.headers });
  }

  /**
   * Move every key under a directory prefix: all copies first, then the deletes, so a
   * failure part-way leaves objects duplicated, never lost. Not atomic (see the docs).
   */
  async moveDir(srcRel: string, dstRel: string): Promise<void> {
    const srcKey = this.key(srcRel);
    const dstKey = this.key(dstRel);
    const objects: ListedObject[] = [];
    for await (const page of this.bucket.list(srcKey)) objects.push(...page.objects);
    await mapLimit(objects, 8, async (obj) => {
      const info = await this.infoFor(obj);
      if (info) await this.copyKeepingMtime(info, this.key(dstRel + obj.key.slice(srcKey.length)));
    });
    if (objects.length === 0) {
      // Nothing under the prefix (a race): the destination still gets its directory.
      await this.bucket.put({ key: dstKey, data: new Uint8Array(0), meta: {}, headers: {} });
    }
    await this.bucket.deleteMany(objects.map((o) => o.key));
    for (const o of objects) this.#meta.delete(o.key);
  }

  // ---- attributes ----

  /** Set a directory's attributes in its marker (written if the directory had none). */
  async setDirPosix(rel: string, changes: PosixMeta): Promise<Attr | undefined> {
    const key = this.key(rel);
    const first = (await this.bucket.firstKeys(key, 1))[0];
    if (first === undefined && rel !== '') return undefined;
    const marker = first?.key === key ? await this.infoFor(first) : undefined;
    const meta = withPosixMeta(marker?.meta ?? {}, 'dir', changes);
    const headers = marker?.headers ?? {};
    const { etag } = await this.bucket.put({ key, data: new Uint8Array(0), meta, headers });
    this.remember(key, { etag, meta, headers });
    return dirAttr({ lastModifiedMs: Date.now(), meta });
  }

  /** Set a file's attributes: the object is copied onto itself with the new metadata. */
  async setFilePosix(info: ObjectInfo, changes: PosixMeta): Promise<Attr> {
    const meta = withPosixMeta(info.meta, 'file', changes);
    const r = await this.bucket.copy(info, info.key, meta);
    const lastModifiedMs = r.lastModifiedMs ?? info.lastModifiedMs;
    this.remember(info.key, { etag: r.etag, lastModifiedMs, meta, headers: info.headers });
    return fileAttr({ size: info.size, lastModifiedMs, meta });
  }

  /** Truncate or extend an object: download what is kept, pad with zeros, upload it back. */
  async truncateObject(info: ObjectInfo, size: number, changes: PosixMeta): Promise<Attr> {
    const base = { ...info.meta };
    delete base.mtime; // new content: LastModified is the mtime again
    const meta = withPosixMeta(base, 'file', changes);
    const spool = await Spool.create(this.#spoolDir);
    try {
      if (size > 0) {
        spool.setLoadedSize(await this.bucket.download(info.key, spool.fh, Math.min(size, info.size)));
        await spool.truncate(size);
      }
      const { etag } = await this.bucket.upload({
        key: info.key,
        fh: spool.fh,
        size,
        meta,
        headers: info.headers,
      });
      this.remember(info.key, { etag, meta, headers: info.headers });
    } finally {
      await spool.dispose();
    }
    return fileAttr({ size, lastModifiedMs: Date.now(), meta });
  }
}
