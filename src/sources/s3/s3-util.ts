import type { FileHandle } from 'node:fs/promises';
import { FsError } from '../../core/fs-error.ts';
import type { ObjectHeaders } from './s3-meta.ts';

/** Encode a copy source the way S3 wants it (rclone's escaping: path-escape, plus `?`, `#`, `+`). */
export function copySource(bucket: string, key: string): string {
  return encodeURI(`${bucket}/${key}`).replace(
    /[?#+]/g,
    (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase(),
  );
}

/** The SDK parameters for an object's standard headers. */
export function headerParams(h: ObjectHeaders): Record<string, string> {
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
