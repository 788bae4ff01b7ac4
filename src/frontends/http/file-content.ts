import { createHash, type Hash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BoundedMap } from '../../core/bounded-map.ts';
import { FsError } from '../../core/fs-error.ts';
import type { NodeId } from '../../core/ids.ts';
import type { Source } from '../../sources/source.ts';
import { uploadFile, writesAtomically } from '../receive-body.ts';
import { sendFileBody } from '../send-file.ts';
import { PreconditionFailed } from './respond.ts';
import { contentTypeOf } from '../content-type.ts';
import { etagOf, headerOf, httpDateOf, preconditions, requestedRange } from '../http-conditions.ts';
import { fileInfo, type FileInfo, type PathIndex, resolveParent, resolvePath } from './paths.ts';

/** Bytes read from the Source per call while streaming a download. */
const READ_CHUNK = 1024 * 1024;
/** Digests remembered at most. */
const DIGESTS_MAX = 10_000;

/**
 * SHA-256 digests (base64) of file versions, by entity tag (which changes with the file). Filled
 * by every complete download and upload, and on request (`Want-Repr-Digest`), so a digest costs
 * one read of the file at most per version.
 */
export type DigestCache = Map<string, string>;

/** An empty {@link DigestCache} of at most {@link DIGESTS_MAX} digests. */
export function digestCache(): DigestCache {
  return new BoundedMap({ max: DIGESTS_MAX });
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
  const etag = etagOf(entry);
  const headers: Record<string, string> = {
    etag,
    'last-modified': httpDateOf(entry),
    'accept-ranges': 'bytes',
    'cache-control': 'private, no-cache',
    // Served from the node's own origin: never let a stored HTML file run as a page there.
    'content-security-policy': 'sandbox',
    'x-content-type-options': 'nosniff',
  };
  const outcome = preconditions({ req, entry, read: true });
  if (outcome.status === 412) throw new PreconditionFailed(outcome.reason);
  if (outcome.status === 304) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  let digest = opts.digests.get(etag);
  if (digest === undefined && sha256Wanted(headerOf(req, 'want-repr-digest'))) {
    digest = await digestFile(source, entry.id);
    opts.digests.set(etag, digest);
  }
  if (digest !== undefined) headers['repr-digest'] = digestField(digest);
  const range = requestedRange(req, entry);
  if (range === 'unsatisfiable') {
    res.writeHead(416, { ...headers, 'content-range': `bytes */${attr.size}`, 'content-length': '0' });
    res.end();
    return;
  }
  const { start, end } = range ?? { start: 0, end: attr.size };
  const length = end - start;
  headers['content-type'] = contentTypeOf(entry.path.slice(entry.path.lastIndexOf('/') + 1));
  headers['content-length'] = String(length);
  if (range) headers['content-range'] = `bytes ${start}-${end - 1}/${attr.size}`;
  res.writeHead(range ? 206 : 200, headers);
  if (opts.head || length === 0) {
    // Only an empty file's digest is known without reading it (a HEAD reads nothing).
    if (attr.size === 0 && digest === undefined)
      opts.digests.set(etag, createHash('sha256').digest('base64'));
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
      end,
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

/**
 * Take a `PUT` of a file's content: the body is streamed into the file as
 * {@link uploadFile} does, visible whole only when it is complete (an existing file keeps
 * its mode and extended attributes); a client that goes away, a body shorter than its
 * `Content-Length` or a digest that does not match (`Content-Digest`/`Repr-Digest` with
 * sha-256) leave the old content, or no file, behind. `If-Match` and `If-None-Match: *` make
 * the write conditional.
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
  const outcome = preconditions({ req, entry: existing, read: false });
  if (outcome.status === 412) throw new PreconditionFailed(outcome.reason);
  if (existing !== undefined && !opts.overwrite)
    throw FsError.EEXIST('upload', path, 'file exists (overwrite=false)');
  const expected = sha256Of(headerOf(req, 'content-digest')) ?? sha256Of(headerOf(req, 'repr-digest'));

  const hash = createHash('sha256');
  let digest = '';
  const entry = await uploadFile({
    req,
    source,
    parent: parent.id,
    name,
    existing,
    // Create-only (overwrite=false, or If-None-Match: *) stays so if another writer makes the
    // file while the body arrives.
    exclusive: !opts.overwrite || headerOf(req, 'if-none-match')?.trim() === '*',
    atomic: await writesAtomically(source, parent.id),
    op: 'upload',
    path,
    onBytes: (bytes) => hash.update(bytes),
    verify: () => {
      digest = hash.digest('base64');
      if (expected !== undefined && expected !== digest) {
        throw FsError.EINVAL(
          'upload',
          path,
          `content digest mismatch: got sha-256 ${digest}, expected ${expected}`,
        );
      }
    },
  });
  opts.index.remember(entry.id, path);
  const info = fileInfo({ path, id: entry.id, attr: entry.attr });
  opts.digests.set(info.etag, digest);
  return { created: existing === undefined, info, digest };
}
