import { randomUUID } from 'node:crypto';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { FsError } from '../../core/fs-error.ts';
import { fromS3Error, isNotFound, isPreconditionFailed, s3ErrorName, s3Status } from './s3-errors.ts';
import type { ObjectHeaders, ObjectInfo } from './s3-meta.ts';
import { Multipart, sendConditional } from './s3-multipart.ts';
import { copySource, headerParams, readFully } from './s3-util.ts';

/** One object as a listing reports it (no user metadata). */
export interface ListedObject {
  key: string;
  size: number;
  etag: string;
  lastModifiedMs: number;
}

/** One page of a listing. */
export interface ListPage {
  objects: ListedObject[];
  /** Common prefixes (with their trailing delimiter). */
  prefixes: string[];
  next?: string | undefined;
}

/** Largest object a single CopyObject may copy. */
const MAX_SINGLE_COPY = 5 * 1024 ** 3;

function isInvalidRange(err: unknown): boolean {
  return s3ErrorName(err) === 'InvalidRange' || s3Status(err) === 416;
}

/**
 * The S3 requests the adapter makes, with S3 errors mapped to `FsError` at this edge.
 * Knows nothing of files and directories: only keys.
 */
export class S3Bucket {
  readonly client: S3Client;
  readonly bucket: string;
  readonly #ctx: { bucket: string; endpoint?: string | undefined };
  readonly #partSize: number;
  readonly #spoolDir: string;
  readonly #multipart: Multipart;

  constructor(opts: {
    client: S3Client;
    bucket: string;
    endpoint?: string | undefined;
    partSize: number;
    uploadConcurrency: number;
    spoolDir: string;
  }) {
    this.client = opts.client;
    this.bucket = opts.bucket;
    this.#ctx = { bucket: opts.bucket, endpoint: opts.endpoint };
    this.#partSize = opts.partSize;
    this.#spoolDir = opts.spoolDir;
    this.#multipart = new Multipart({
      client: opts.client,
      bucket: opts.bucket,
      partSize: opts.partSize,
      concurrency: opts.uploadConcurrency,
    });
  }

  /** Map an SDK error for `op` on `key`. */
  error(err: unknown, op: string, key: string | undefined): FsError {
    return fromS3Error(err, op, key, this.#ctx);
  }

  /** HEAD an object; undefined when it does not exist. */
  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return {
        key,
        size: r.ContentLength ?? 0,
        lastModifiedMs: r.LastModified?.getTime() ?? 0,
        etag: r.ETag ?? '',
        meta: { ...(r.Metadata ?? {}) },
        headers: {
          contentType: r.ContentType,
          cacheControl: r.CacheControl,
          contentDisposition: r.ContentDisposition,
          contentEncoding: r.ContentEncoding,
          contentLanguage: r.ContentLanguage,
        },
      };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw this.error(err, 'HeadObject', key);
    }
  }

  /** One page of ListObjectsV2. */
  async listPage(
    prefix: string,
    opts: { delimiter?: string | undefined; maxKeys?: number; token?: string | undefined } = {},
  ): Promise<ListPage> {
    try {
      const r = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: prefix === '' ? undefined : prefix,
          Delimiter: opts.delimiter,
          MaxKeys: opts.maxKeys,
          ContinuationToken: opts.token,
        }),
      );
      return {
        objects: (r.Contents ?? []).flatMap((o) =>
          o.Key === undefined
            ? []
            : [
                {
                  key: o.Key,
                  size: o.Size ?? 0,
                  etag: o.ETag ?? '',
                  lastModifiedMs: o.LastModified?.getTime() ?? 0,
                },
              ],
        ),
        prefixes: (r.CommonPrefixes ?? []).flatMap((p) => (p.Prefix === undefined ? [] : [p.Prefix])),
        next: r.IsTruncated ? r.NextContinuationToken : undefined,
      };
    } catch (err) {
      throw this.error(err, 'ListObjectsV2', prefix);
    }
  }

  /** Every page of a listing. */
  async *list(prefix: string, delimiter?: string): AsyncGenerator<ListPage> {
    let token: string | undefined;
    do {
      const page = await this.listPage(prefix, { delimiter, token });
      yield page;
      token = page.next;
    } while (token !== undefined);
  }

  /** The first `n` keys under `prefix` (in key order). */
  async firstKeys(prefix: string, n: number): Promise<ListedObject[]> {
    return (await this.listPage(prefix, { maxKeys: n })).objects;
  }

  /**
   * GET a byte range (`end` exclusive; undefined = to the end). Undefined when the range
   * starts past the end of the object; `total` is the object's size when S3 says it.
   */
  async getRange(
    key: string,
    start: number,
    end: number | undefined,
  ): Promise<{ body: Readable; total: number | undefined } | undefined> {
    try {
      const r = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Range: `bytes=${start}-${end === undefined ? '' : end - 1}`,
        }),
      );
      const total = /\/([0-9]+)$/.exec(r.ContentRange ?? '')?.[1];
      return { body: r.Body as Readable, total: total === undefined ? undefined : Number(total) };
    } catch (err) {
      if (isInvalidRange(err)) return undefined;
      throw this.error(err, 'GetObject', key);
    }
  }

  /**
   * Download an object (its first `limit` bytes when given) into `fh` from offset 0;
   * returns the byte count.
   */
  async download(key: string, fh: FileHandle, limit?: number): Promise<number> {
    if (limit === 0) return 0;
    let body: Readable;
    try {
      const r = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Range: limit === undefined ? undefined : `bytes=0-${limit - 1}`,
        }),
      );
      body = r.Body as Readable;
    } catch (err) {
      if (limit !== undefined && isInvalidRange(err)) return 0;
      throw this.error(err, 'GetObject', key);
    }
    let pos = 0;
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        await fh.write(chunk, 0, chunk.length, pos);
        pos += chunk.length;
      }
    } catch (err) {
      body.destroy();
      throw this.error(err, 'GetObject', key);
    }
    return pos;
  }

  /**
   * Store `size` bytes of `fh` (from offset 0) as `key`: one PutObject below the part size,
   * else a multipart upload. With `ifNoneMatch` an existing key gives `EEXIST` where the
   * server enforces conditions.
   */
  async upload(opts: {
    key: string;
    fh: FileHandle;
    size: number;
    meta: Record<string, string>;
    headers: ObjectHeaders;
    ifNoneMatch?: boolean | undefined;
  }): Promise<{ etag: string }> {
    if (opts.size < this.#partSize) {
      const data = Buffer.alloc(opts.size);
      if (opts.size > 0) await readFully(opts.fh, data, 0);
      return this.put({ ...opts, data });
    }
    try {
      return await this.#multipart.upload({ ...opts, ifNoneMatch: opts.ifNoneMatch === true });
    } catch (err) {
      throw this.error(err, 'UploadPart', opts.key);
    }
  }

  /** PutObject from memory. */
  async put(opts: {
    key: string;
    data: Uint8Array;
    meta: Record<string, string>;
    headers: ObjectHeaders;
    ifNoneMatch?: boolean | undefined;
  }): Promise<{ etag: string }> {
    const send = (conditional: boolean) =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: opts.key,
          Body: opts.data,
          ContentLength: opts.data.byteLength,
          Metadata: opts.meta,
          ...headerParams(opts.headers),
          ...(conditional ? { IfNoneMatch: '*' } : {}),
        }),
      );
    try {
      return { etag: (await sendConditional(send, opts.ifNoneMatch === true)).ETag ?? '' };
    } catch (err) {
      if (isPreconditionFailed(err)) throw FsError.EEXIST('PutObject', opts.key, 'object appeared meanwhile');
      throw this.error(err, 'PutObject', opts.key);
    }
  }

  /**
   * Copy `src` to `dstKey` with its metadata replaced by `meta` (headers kept). Objects
   * over 5 GiB go through UploadPartCopy. A server that cannot resolve the copy source of
   * an existing object (some S3 clones decode it differently) gets a download + upload.
   */
  async copy(
    src: ObjectInfo,
    dstKey: string,
    meta: Record<string, string>,
  ): Promise<{ etag: string; lastModifiedMs?: number | undefined }> {
    try {
      if (src.size > MAX_SINGLE_COPY) return await this.#multipart.copy(src, dstKey, meta);
      const r = await this.client.send(
        new CopyObjectCommand({
          Bucket: this.bucket,
          Key: dstKey,
          CopySource: copySource(this.bucket, src.key),
          MetadataDirective: 'REPLACE',
          Metadata: meta,
          ...headerParams(src.headers),
        }),
      );
      return {
        etag: r.CopyObjectResult?.ETag ?? src.etag,
        lastModifiedMs: r.CopyObjectResult?.LastModified?.getTime(),
      };
    } catch (err) {
      if (isNotFound(err) && (await this.head(src.key)) !== undefined)
        return this.#copyThroughSpool(src, dstKey, meta);
      throw this.error(err, 'CopyObject', src.key);
    }
  }

  async #copyThroughSpool(
    src: ObjectInfo,
    dstKey: string,
    meta: Record<string, string>,
  ): Promise<{ etag: string }> {
    const path = join(this.#spoolDir, `copy-${randomUUID()}`);
    const fh = await open(path, 'w+', 0o600);
    try {
      const size = await this.download(src.key, fh);
      return await this.upload({ key: dstKey, fh, size, meta, headers: src.headers });
    } finally {
      await fh.close();
      await unlink(path).catch(() => undefined);
    }
  }

  /** Delete one object (deleting a missing key is not an error in S3). */
  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      throw this.error(err, 'DeleteObject', key);
    }
  }

  /** Delete many objects, 1,000 per request. */
  async deleteMany(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      let errors: { Key?: string | undefined; Code?: string | undefined }[] | undefined;
      try {
        const r = await this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
          }),
        );
        errors = r.Errors;
      } catch (err) {
        throw this.error(err, 'DeleteObjects', batch[0]);
      }
      const first = errors?.[0];
      if (first)
        throw this.error({ name: first.Code ?? 'Unknown', Code: first.Code }, 'DeleteObjects', first.Key);
    }
  }
}
