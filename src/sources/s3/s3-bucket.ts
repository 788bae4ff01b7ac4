import { randomUUID } from 'node:crypto';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import { FsError } from '../../core/fs-error.ts';
import { MAX_PART_SIZE } from './s3-config.ts';
import { fromS3Error, isNotFound, isPreconditionFailed, s3ErrorName, s3Status } from './s3-errors.ts';
import type { ObjectHeaders, ObjectInfo } from './s3-meta.ts';

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
/** S3 allows at most this many parts per multipart upload. */
const MAX_PARTS = 10_000;

/** Encode a copy source the way S3 wants it (rclone's escaping: path-escape, plus `?`, `#`, `+`). */
function copySource(bucket: string, key: string): string {
  return encodeURI(`${bucket}/${key}`).replace(
    /[?#+]/g,
    (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase(),
  );
}

/** Part size for an upload of `size` bytes: the configured size, grown to stay within 10,000 parts. */
export function partSizeFor(size: number, configured: number): number {
  const needed = Math.ceil(size / MAX_PARTS);
  if (needed <= configured) return configured;
  const MiB = 1024 * 1024;
  return Math.min(MAX_PART_SIZE, Math.ceil(needed / MiB) * MiB);
}

/** Run `fn` over `items` with at most `limit` in flight; the first failure stops new work. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, i);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  const results = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, worker));
  const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (rejected) throw rejected.reason;
  return out;
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
  readonly #concurrency: number;
  readonly #spoolDir: string;

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
    this.#concurrency = opts.uploadConcurrency;
    this.#spoolDir = opts.spoolDir;
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
    opts: { delimiter?: string; maxKeys?: number; token?: string | undefined } = {},
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
      if (s3ErrorName(err) === 'InvalidRange' || s3Status(err) === 416) return undefined;
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
      if (limit !== undefined && (s3ErrorName(err) === 'InvalidRange' || s3Status(err) === 416)) return 0;
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
   * else a multipart upload with a few parts in flight (aborted on failure). With
   * `ifNoneMatch` an existing key gives `EEXIST` where the server enforces conditions.
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
    return this.#multipart(opts);
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
      return { etag: (await this.#conditional(send, opts.ifNoneMatch === true)).ETag ?? '' };
    } catch (err) {
      if (isPreconditionFailed(err)) throw FsError.EEXIST('PutObject', opts.key, 'object appeared meanwhile');
      throw this.error(err, 'PutObject', opts.key);
    }
  }

  /** Send a conditional request; a server that does not implement the condition gets it plain. */
  async #conditional<T>(send: (conditional: boolean) => Promise<T>, conditional: boolean): Promise<T> {
    try {
      return await send(conditional);
    } catch (err) {
      if (conditional && s3ErrorName(err) === 'NotImplemented') return send(false);
      throw err;
    }
  }

  async #multipart(opts: {
    key: string;
    fh: FileHandle;
    size: number;
    meta: Record<string, string>;
    headers: ObjectHeaders;
    ifNoneMatch?: boolean | undefined;
  }): Promise<{ etag: string }> {
    const { key } = opts;
    const partSize = partSizeFor(opts.size, this.#partSize);
    const uploadId = await this.#createUpload(key, opts.meta, opts.headers);
    try {
      const count = Math.max(1, Math.ceil(opts.size / partSize));
      const numbers = Array.from({ length: count }, (_, i) => i + 1);
      const parts = await mapLimit(numbers, this.#concurrency, async (n): Promise<CompletedPart> => {
        const start = (n - 1) * partSize;
        const data = Buffer.alloc(Math.min(partSize, opts.size - start));
        await readFully(opts.fh, data, start);
        const r = await this.client.send(
          new UploadPartCommand({
            Bucket: this.bucket,
            Key: key,
            UploadId: uploadId,
            PartNumber: n,
            Body: data,
            ContentLength: data.length,
          }),
        );
        return { PartNumber: n, ETag: r.ETag };
      });
      return await this.#completeUpload(key, uploadId, parts, opts.ifNoneMatch === true);
    } catch (err) {
      await this.#abortUpload(key, uploadId);
      if (FsError.is(err)) throw err;
      if (isPreconditionFailed(err))
        throw FsError.EEXIST('CompleteMultipartUpload', key, 'object appeared meanwhile');
      throw this.error(err, 'UploadPart', key);
    }
  }

  async #createUpload(key: string, meta: Record<string, string>, headers: ObjectHeaders): Promise<string> {
    try {
      const r = await this.client.send(
        new CreateMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          Metadata: meta,
          ...headerParams(headers),
        }),
      );
      if (!r.UploadId) throw FsError.EIO('CreateMultipartUpload', key, 'S3 returned no upload id');
      return r.UploadId;
    } catch (err) {
      throw this.error(err, 'CreateMultipartUpload', key);
    }
  }

  async #completeUpload(
    key: string,
    uploadId: string,
    parts: CompletedPart[],
    ifNoneMatch: boolean,
  ): Promise<{ etag: string }> {
    const send = (conditional: boolean) =>
      this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts },
          ...(conditional ? { IfNoneMatch: '*' } : {}),
        }),
      );
    return { etag: (await this.#conditional(send, ifNoneMatch)).ETag ?? '' };
  }

  /** Best effort: some servers cannot abort, and the upload failed anyway. */
  async #abortUpload(key: string, uploadId: string): Promise<void> {
    try {
      await this.client.send(
        new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }),
      );
    } catch {
      // A lifecycle rule for incomplete uploads cleans up what an abort could not.
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
    if (src.size > MAX_SINGLE_COPY) return this.#multipartCopy(src, dstKey, meta);
    try {
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
    const fh = await open(path, 'w+');
    try {
      const size = await this.download(src.key, fh);
      return await this.upload({ key: dstKey, fh, size, meta, headers: src.headers });
    } finally {
      await fh.close();
      await unlink(path).catch(() => undefined);
    }
  }

  async #multipartCopy(
    src: ObjectInfo,
    dstKey: string,
    meta: Record<string, string>,
  ): Promise<{ etag: string }> {
    const partSize = Math.max(partSizeFor(src.size, this.#partSize), 512 * 1024 * 1024);
    const uploadId = await this.#createUpload(dstKey, meta, src.headers);
    try {
      const count = Math.ceil(src.size / partSize);
      const numbers = Array.from({ length: count }, (_, i) => i + 1);
      const parts = await mapLimit(numbers, this.#concurrency, async (n): Promise<CompletedPart> => {
        const start = (n - 1) * partSize;
        const end = Math.min(src.size, start + partSize) - 1;
        const r = await this.client.send(
          new UploadPartCopyCommand({
            Bucket: this.bucket,
            Key: dstKey,
            UploadId: uploadId,
            PartNumber: n,
            CopySource: copySource(this.bucket, src.key),
            CopySourceRange: `bytes=${start}-${end}`,
          }),
        );
        return { PartNumber: n, ETag: r.CopyPartResult?.ETag };
      });
      return await this.#completeUpload(dstKey, uploadId, parts, false);
    } catch (err) {
      await this.#abortUpload(dstKey, uploadId);
      throw this.error(err, 'UploadPartCopy', src.key);
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

function headerParams(h: ObjectHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  if (h.contentType !== undefined) out.ContentType = h.contentType;
  if (h.cacheControl !== undefined) out.CacheControl = h.cacheControl;
  if (h.contentDisposition !== undefined) out.ContentDisposition = h.contentDisposition;
  if (h.contentEncoding !== undefined) out.ContentEncoding = h.contentEncoding;
  if (h.contentLanguage !== undefined) out.ContentLanguage = h.contentLanguage;
  return out;
}

/** Fill `buf` from `fh` at `position`; a short file is an error (the spool shrank under us). */
export async function readFully(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesRead } = await fh.read(buf, done, buf.length - done, position + done);
    if (bytesRead === 0) throw FsError.EIO('upload', undefined, 'spool file is shorter than expected');
    done += bytesRead;
  }
}
