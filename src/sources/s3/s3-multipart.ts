import type { FileHandle } from 'node:fs/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import { FsError } from '../../core/fs-error.ts';
import { MAX_PART_SIZE } from './s3-config.ts';
import { isPreconditionFailed, s3ErrorName } from './s3-errors.ts';
import type { ObjectHeaders, ObjectInfo } from './s3-meta.ts';
import { mapLimit } from '../../core/map-limit.ts';
import { copySource, headerParams, readFully } from './s3-util.ts';

/** S3 allows at most this many parts per multipart upload. */
const MAX_PARTS = 10_000;
const MiB = 1024 * 1024;
/** Parts of a server-side multipart copy: large, since no bytes pass through us. */
const COPY_PART_SIZE = 512 * MiB;

/** Part size for an upload of `size` bytes: the configured size, grown to stay within 10,000 parts. */
export function partSizeFor(size: number, configured: number): number {
  const needed = Math.ceil(size / MAX_PARTS);
  if (needed <= configured) return configured;
  return Math.min(MAX_PART_SIZE, Math.ceil(needed / MiB) * MiB);
}

/**
 * Send a conditional request; a server that does not implement the condition (`NotImplemented`)
 * gets it again without, since the caller has checked what it could beforehand.
 */
export async function sendConditional<T>(
  send: (conditional: boolean) => Promise<T>,
  conditional: boolean,
): Promise<T> {
  try {
    return await send(conditional);
  } catch (err) {
    if (conditional && s3ErrorName(err) === 'NotImplemented') return send(false);
    throw err;
  }
}

/**
 * Multipart uploads (from a local file) and multipart copies (UploadPartCopy, for objects
 * over 5 GiB). A few parts are in flight at once; a failure aborts the upload so no parts
 * linger (best effort: a bucket lifecycle rule should reap incomplete uploads anyway).
 * Errors come back as the SDK threw them, except `EEXIST` for a failed `If-None-Match`.
 */
export class Multipart {
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #partSize: number;
  readonly #concurrency: number;

  constructor(opts: { client: S3Client; bucket: string; partSize: number; concurrency: number }) {
    this.#client = opts.client;
    this.#bucket = opts.bucket;
    this.#partSize = opts.partSize;
    this.#concurrency = opts.concurrency;
  }

  /** Upload `size` bytes of `fh` (from offset 0) as `key`. */
  async upload(opts: {
    key: string;
    fh: FileHandle;
    size: number;
    meta: Record<string, string>;
    headers: ObjectHeaders;
    ifNoneMatch: boolean;
  }): Promise<{ etag: string }> {
    const partSize = partSizeFor(opts.size, this.#partSize);
    const count = Math.max(1, Math.ceil(opts.size / partSize));
    return this.#run(opts.key, opts.meta, opts.headers, opts.ifNoneMatch, count, async (uploadId, n) => {
      const start = (n - 1) * partSize;
      const data = Buffer.alloc(Math.min(partSize, opts.size - start));
      await readFully(opts.fh, data, start);
      const r = await this.#client.send(
        new UploadPartCommand({
          Bucket: this.#bucket,
          Key: opts.key,
          UploadId: uploadId,
          PartNumber: n,
          Body: data,
          ContentLength: data.length,
        }),
      );
      return r.ETag;
    });
  }

  /** Copy `src` to `dstKey` server-side, part by part, with `meta` as its metadata. */
  async copy(src: ObjectInfo, dstKey: string, meta: Record<string, string>): Promise<{ etag: string }> {
    const partSize = Math.max(partSizeFor(src.size, this.#partSize), COPY_PART_SIZE);
    const count = Math.max(1, Math.ceil(src.size / partSize));
    return this.#run(dstKey, meta, src.headers, false, count, async (uploadId, n) => {
      const start = (n - 1) * partSize;
      const end = Math.min(src.size, start + partSize) - 1;
      const r = await this.#client.send(
        new UploadPartCopyCommand({
          Bucket: this.#bucket,
          Key: dstKey,
          UploadId: uploadId,
          PartNumber: n,
          CopySource: copySource(this.#bucket, src.key),
          CopySourceRange: `bytes=${start}-${end}`,
        }),
      );
      return r.CopyPartResult?.ETag;
    });
  }

  async #run(
    key: string,
    meta: Record<string, string>,
    headers: ObjectHeaders,
    ifNoneMatch: boolean,
    count: number,
    part: (uploadId: string, n: number) => Promise<string | undefined>,
  ): Promise<{ etag: string }> {
    const created = await this.#client.send(
      new CreateMultipartUploadCommand({
        Bucket: this.#bucket,
        Key: key,
        Metadata: meta,
        ...headerParams(headers),
      }),
    );
    const uploadId = created.UploadId;
    if (!uploadId) throw FsError.EIO('CreateMultipartUpload', key, 'S3 returned no upload id');
    try {
      const numbers = Array.from({ length: count }, (_, i) => i + 1);
      const parts = await mapLimit(numbers, this.#concurrency, async (n): Promise<CompletedPart> => ({
        PartNumber: n,
        ETag: await part(uploadId, n),
      }));
      const done = await sendConditional(
        (conditional) =>
          this.#client.send(
            new CompleteMultipartUploadCommand({
              Bucket: this.#bucket,
              Key: key,
              UploadId: uploadId,
              MultipartUpload: { Parts: parts },
              ...(conditional ? { IfNoneMatch: '*' } : {}),
            }),
          ),
        ifNoneMatch,
      );
      return { etag: done.ETag ?? '' };
    } catch (err) {
      await this.#client
        .send(new AbortMultipartUploadCommand({ Bucket: this.#bucket, Key: key, UploadId: uploadId }))
        .catch(() => undefined);
      if (isPreconditionFailed(err))
        throw FsError.EEXIST('CompleteMultipartUpload', key, 'object appeared meanwhile');
      throw err;
    }
  }
}
