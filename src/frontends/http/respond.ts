import type { IncomingMessage, ServerResponse } from 'node:http';
import { httpStatusOf } from '../../core/errno.ts';
import { FsError } from '../../core/fs-error.ts';

/** Largest JSON request body the API reads (larger ones answer 413). */
export const MAX_JSON_BODY = 64 * 1024;

/** Answer with a JSON body. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body, (_key, value: unknown) =>
    typeof value === 'bigint' ? value.toString() : value,
  );
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

/**
 * An HTTP precondition that failed (`If-Match`, `If-None-Match: *`, a stale revision): 412,
 * which no errno means (the body says `EINVAL`, with the reason).
 */
export class PreconditionFailed extends Error {}

/**
 * Answer with an error: the status comes from the errno table (412 for a
 * {@link PreconditionFailed}), the body is the error's JSON form (`{"error": {code, op, path,
 * message, retryable}}`). A response already under way cannot change its status any more, so
 * it is cut off instead (the client sees a short body).
 */
export function sendError(res: ServerResponse, err: unknown, op: string): FsError {
  const precondition = err instanceof PreconditionFailed;
  const error = precondition ? FsError.EINVAL(op, undefined, err.message) : FsError.from(err, op);
  if (res.headersSent) {
    res.destroy();
    return error;
  }
  const status = precondition ? 412 : httpStatusOf(error.code);
  const headers: Record<string, string> =
    status === 401 ? { 'www-authenticate': 'Bearer realm="tessera"' } : {};
  sendJson(res, status, { error: error.toJSON() }, headers);
  return error;
}

/** Read a JSON request body of at most {@link MAX_JSON_BODY} bytes (an empty body is `{}`). */
export async function readJsonBody(req: IncomingMessage, op: string): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_JSON_BODY)
    throw FsError.E2BIG(op, undefined, `request body over ${MAX_JSON_BODY} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > MAX_JSON_BODY) throw FsError.E2BIG(op, undefined, `request body over ${MAX_JSON_BODY} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw FsError.EINVAL(op, undefined, 'request body is not valid JSON');
  }
}
