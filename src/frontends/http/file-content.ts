import { createHash, type Hash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Attr } from '../../core/attr.ts';
import { FsError } from '../../core/fs-error.ts';
import type { NodeId } from '../../core/ids.ts';
import type { Entry, Source } from '../../sources/source.ts';
import { sendFileBody } from '../send-file.ts';
import { contentTypeOf } from '../webdav/dav-content-type.ts';
import { etagOf, fileInfo, type FileInfo, type PathIndex, resolveParent, resolvePath } from './paths.ts';

/** Bytes read from the Source per call while streaming a download. */
const READ_CHUNK = 1024 * 1024;
/** Bytes gathered from an upload before each write to the Source. */
const WRITE_CHUNK = 1024 * 1024;
/** Digests remembered at most. */
const DIGESTS_MAX = 10_000;

/**
 * SHA-256 digests of file versions, by entity tag (which changes with the file). Filled by
 * every complete download and upload, and on request (`Want-Repr-Digest`), so a digest costs
 * one read of the file at most per version.
 */
export class DigestCache {
  readonly #byEtag = new Map<string, string>();

  get(etag: string): string | undefined {
    return this.#byEtag.get(etag);
  }

  set(etag: string, digest: string): void {
    this.#byEtag.delete(etag);
    this.#byEtag.set(etag, digest);
    if (this.#byEtag.size > DIGESTS_MAX) {
      const oldest = this.#byEtag.keys().next().value;
      if (oldest !== undefined) this.#byEtag.delete(oldest);
    }
  }
}

/** `Repr-Digest` / `Content-Digest` field value for a SHA-256 digest (RFC 9530). */
export function digestField(digest: string): string {
  return `sha-256=:${digest}:`;
}

/** The SHA-256 (base64) a digest field carries, if it names one. */
export function sha256Of(field: string | undefined): string | undefined {
  if (field === undefined) return undefined;
  const m = /(?:^|,)\s*sha-256\s*=\s*:([A-Za-z0-9+/=]+):/i.exec(field);
  return m?.[1];
}

/** A `Range` header's one byte range within `size`; undefined when the whole file is wanted. */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  // Several ranges, or another unit: serving the whole file is allowed (RFC 9110 §14.2).
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) throw rangeError(size);
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) return undefined;
  }
  if (start >= size) throw rangeError(size);
  return { start, end };
}

/** An unsatisfiable range: 416 with the size, as RFC 9110 asks. */
export class RangeNotSatisfiable extends Error {
  constructor(readonly size: number) {
    super(`range not satisfiable (size ${size})`);
  }
}

function rangeError(size: number): RangeNotSatisfiable {
  return new RangeNotSatisfiable(size);
}

/** A request header as one string (repeated fields joined with commas). */
function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

function httpDate(attr: Attr): string {
  return new Date(Number(attr.mtimeNs / 1_000_000n)).toUTCString();
}

/** Whether a conditional GET may answer 304 (`If-None-Match`, else `If-Modified-Since`). */
function notModified(req: IncomingMessage, etag: string, attr: Attr): boolean {
  const inm = header(req, 'if-none-match');
  if (inm !== undefined) return inm.trim() === '*' || inm.split(',').some((t) => t.trim() === etag);
  const ims = header(req, 'if-modified-since');
  if (ims === undefined) return false;
  const since = Date.parse(ims);
  return !Number.isNaN(since) && Math.floor(Number(attr.mtimeNs / 1_000_000n) / 1000) * 1000 <= since;
}

/** Whether `If-Range` (if any) still names this version, so the range applies. */
function rangeStillValid(req: IncomingMessage, etag: string, attr: Attr): boolean {
  const ifRange = header(req, 'if-range');
  if (ifRange === undefined) return true;
  if (ifRange.startsWith('"') || ifRange.startsWith('W/')) return ifRange === etag;
  return ifRange === httpDate(attr);
}

/** Read the whole file to get its SHA-256 (base64). */
async function digestFile(source: Source, id: NodeId): Promise<string> {
  const { handle } = await source.openFile({ id, flags: { read: true, write: false } });
  try {
    const hash = createHash('sha256');
    for (let offset = 0; ;) {
      const bytes = await source.read({ handle, offset, length: READ_CHUNK });
      if (bytes.byteLength === 0) break;
      hash.update(bytes);
      offset += bytes.byteLength;
    }
    return hash.digest('base64');
  } finally {
    await source.closeFile({ handle }).catch(() => undefined);
  }
}

/**
 * Answer `GET`/`HEAD` of a file's content: `ETag`, `Last-Modified`, conditional requests
 * (304), one byte range (206, or 416 when unsatisfiable), and `Repr-Digest` (SHA-256 of the
 * whole file) when it is known or asked for with `Want-Repr-Digest`. The body is streamed
 * from the Source as {@link sendFileBody} does, following the client's pace.
 */
export async function sendContent(opts: {
  req: IncomingMessage;
  res: ServerResponse;
  source: Source;
  path: string;
  index: PathIndex;
  digests: DigestCache;
  head: boolean;
}): Promise<void> {
  const { req, res, source } = opts;
  const entry = await resolvePath({ source, path: opts.path, op: 'download', index: opts.index });
  if (entry.attr.kind === 'dir') throw FsError.EISDIR('download', entry.path);
  if (entry.attr.kind !== 'file') throw FsError.EINVAL('download', entry.path, 'not a regular file');
  const { attr } = entry;
  const etag = etagOf(entry.id, attr);
  const headers: Record<string, string> = {
    etag,
    'last-modified': httpDate(attr),
    'accept-ranges': 'bytes',
    'cache-control': 'private, no-cache',
    // Served from the node's own origin: never let a stored HTML file run as a page there.
    'content-security-policy': 'sandbox',
    'x-content-type-options': 'nosniff',
  };
  if (notModified(req, etag, attr)) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  let digest = opts.digests.get(etag);
  if (digest === undefined && sha256Wanted(header(req, 'want-repr-digest'))) {
    digest = await digestFile(source, entry.id);
    opts.digests.set(etag, digest);
  }
  if (digest !== undefined) headers['repr-digest'] = digestField(digest);
  let range: { start: number; end: number } | undefined;
  try {
    range = rangeStillValid(req, etag, attr) ? parseRange(header(req, 'range'), attr.size) : undefined;
  } catch (err) {
    if (!(err instanceof RangeNotSatisfiable)) throw err;
    res.writeHead(416, { ...headers, 'content-range': `bytes */${err.size}`, 'content-length': '0' });
    res.end();
    return;
  }
  const start = range?.start ?? 0;
  const end = range?.end ?? attr.size - 1;
  const length = Math.max(0, end - start + 1);
  headers['content-type'] = contentTypeOf(entry.path.slice(entry.path.lastIndexOf('/') + 1));
  headers['content-length'] = String(length);
  if (range) headers['content-range'] = `bytes ${start}-${end}/${attr.size}`;
  res.writeHead(range ? 206 : 200, headers);
  if (opts.head || length === 0) {
    if (!range && digest === undefined) opts.digests.set(etag, createHash('sha256').digest('base64'));
    res.end();
    return;
  }
  // A whole-file download hashes on the way, so the next one can carry the digest.
  const hash: Hash | undefined =
    range === undefined && digest === undefined ? createHash('sha256') : undefined;
  const { handle } = await source.openFile({ id: entry.id, flags: { read: true, write: false } });
  try {
    const outcome = await sendFileBody({
      source,
      handle,
      start,
      end: end + 1,
      res,
      onBytes: hash && ((bytes) => hash.update(bytes)),
    });
    if (outcome === 'short') throw FsError.EIO('download', entry.path, 'the file shrank while being sent');
    if (outcome === 'complete' && hash) opts.digests.set(etag, hash.digest('base64'));
  } finally {
    await source.closeFile({ handle }).catch(() => undefined);
  }
}

function sha256Wanted(field: string | undefined): boolean {
  if (field === undefined) return false;
  const m = /(?:^|,)\s*sha-256\s*=\s*(\d+)/i.exec(field);
  return m !== null && Number(m[1]) > 0;
}

/** An HTTP precondition that failed (`If-Match`, `If-None-Match: *`): 412. */
export class PreconditionFailed extends Error {}

/**
 * Take a `PUT` of a file's content: the body is streamed into a file created through the
 * Source, which makes it visible whole only when it is complete (the Source's atomic
 * write); a client that goes away, a body shorter than its `Content-Length` or a digest that
 * does not match (`Content-Digest`/`Repr-Digest` with sha-256) leave the old content, or no
 * file, behind. `If-Match` and `If-None-Match: *` make the write conditional.
 */
export async function receiveContent(opts: {
  req: IncomingMessage;
  source: Source;
  path: string;
  index: PathIndex;
  digests: DigestCache;
  overwrite: boolean;
}): Promise<{ created: boolean; info: FileInfo; digest: string }> {
  const { req, source } = opts;
  const { parent, name, path } = await resolveParent({
    source,
    path: opts.path,
    op: 'upload',
    index: opts.index,
  });
  const existing = await source.lookup({ parent: parent.id, name }).catch((err: unknown) => {
    if (FsError.is(err, 'ENOENT')) return undefined;
    throw err;
  });
  if (existing?.attr.kind === 'dir') throw FsError.EISDIR('upload', path);
  checkWritePreconditions(req, existing);
  if (existing !== undefined && !opts.overwrite)
    throw FsError.EEXIST('upload', path, 'file exists (overwrite=false)');
  const expected = sha256Of(header(req, 'content-digest')) ?? sha256Of(header(req, 'repr-digest'));
  const declared =
    header(req, 'content-length') === undefined ? undefined : Number(header(req, 'content-length'));

  const created = await source.create({
    parent: parent.id,
    name,
    mode: 0o644,
    exclusive: existing === undefined && !opts.overwrite,
  });
  const hash = createHash('sha256');
  let offset = 0;
  let done = false;
  try {
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = async () => {
      if (pendingBytes === 0) return;
      const data = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
      for (let at = 0; at < data.byteLength;) {
        const { written } = await source.write({ handle: created.handle, offset, data: data.subarray(at) });
        if (written <= 0) throw FsError.EIO('upload', path, 'the source accepted no bytes');
        at += written;
        offset += written;
      }
    };
    for await (const chunk of req as AsyncIterable<Buffer>) {
      hash.update(chunk);
      pending.push(chunk);
      pendingBytes += chunk.byteLength;
      if (pendingBytes >= WRITE_CHUNK) await flush();
    }
    await flush();
    if (!req.complete) throw FsError.ECONNABORTED('upload', path, 'the client stopped sending');
    if (declared !== undefined && declared !== offset) {
      throw FsError.EINVAL('upload', path, `received ${offset} bytes of the ${declared} announced`);
    }
    const digest = hash.digest('base64');
    if (expected !== undefined && expected !== digest) {
      throw FsError.EINVAL(
        'upload',
        path,
        `content digest mismatch: got sha-256 ${digest}, expected ${expected}`,
      );
    }
    await source.closeFile({ handle: created.handle });
    done = true;
    const entry = await source.lookup({ parent: parent.id, name });
    opts.index.remember(entry.id, path);
    const info = fileInfo({ path, id: entry.id, attr: entry.attr });
    opts.digests.set(info.etag, digest);
    return { created: existing === undefined, info, digest };
  } finally {
    if (!done) await source.closeFile({ handle: created.handle, abort: true }).catch(() => undefined);
  }
}

function checkWritePreconditions(req: IncomingMessage, existing: Entry | undefined): void {
  const ifMatch = header(req, 'if-match');
  if (ifMatch !== undefined) {
    const current = existing === undefined ? undefined : etagOf(existing.id, existing.attr);
    const ok =
      current !== undefined &&
      (ifMatch.trim() === '*' || ifMatch.split(',').some((t) => t.trim() === current));
    if (!ok) throw new PreconditionFailed('If-Match: the file is not at that version');
  }
  const inm = header(req, 'if-none-match');
  if (inm?.trim() === '*' && existing !== undefined) {
    throw new PreconditionFailed('If-None-Match: * but the file exists');
  }
}
