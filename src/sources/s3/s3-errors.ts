import type { ErrnoName } from '../../core/errno.ts';
import { FsError } from '../../core/fs-error.ts';

/** What an S3 SDK error carries that the mapping looks at. */
interface SdkErrorShape {
  name?: unknown;
  Code?: unknown;
  code?: unknown;
  message?: unknown;
  $metadata?: { httpStatusCode?: number };
}

/** The error name S3 (or the SDK, or Node's network stack) gave. */
export function s3ErrorName(err: unknown): string {
  const e = err as SdkErrorShape | null;
  if (typeof e?.Code === 'string') return e.Code;
  if (typeof e?.name === 'string' && e.name !== 'Error' && e.name !== 'S3ServiceException') return e.name;
  if (typeof e?.code === 'string') return e.code;
  return 'Unknown';
}

/** HTTP status of an S3 error response, if it got that far. */
export function s3Status(err: unknown): number | undefined {
  return (err as SdkErrorShape | null)?.$metadata?.httpStatusCode;
}

/** Whether S3 said the object (or the prefix's first key) does not exist. */
export function isNotFound(err: unknown): boolean {
  const name = s3ErrorName(err);
  if (name === 'NoSuchBucket') return false;
  return name === 'NoSuchKey' || name === 'NotFound' || (s3Status(err) === 404 && name !== 'NoSuchUpload');
}

/** Whether a conditional request's precondition failed (e.g. `If-None-Match: *` hit an existing key). */
export function isPreconditionFailed(err: unknown): boolean {
  const name = s3ErrorName(err);
  return name === 'PreconditionFailed' || name === 'ConditionalRequestConflict' || s3Status(err) === 412;
}

const NETWORK: Record<string, ErrnoName> = {
  ECONNREFUSED: 'ECONNREFUSED',
  ECONNRESET: 'ECONNRESET',
  EPIPE: 'ECONNRESET',
  ECONNABORTED: 'ECONNABORTED',
  ETIMEDOUT: 'ETIMEDOUT',
  ESOCKETTIMEDOUT: 'ETIMEDOUT',
  TimeoutError: 'ETIMEDOUT',
  RequestTimeout: 'ETIMEDOUT',
  RequestTimeoutException: 'ETIMEDOUT',
  ENOTFOUND: 'EHOSTUNREACH',
  EAI_AGAIN: 'EHOSTUNREACH',
  EHOSTUNREACH: 'EHOSTUNREACH',
  ENETUNREACH: 'ENETUNREACH',
};

/**
 * Translate an S3 SDK (or network) error into an `FsError` at the adapter's edge. `what`
 * names the key or prefix concerned; `bucket` and `endpoint` go into messages that need them.
 */
export function fromS3Error(
  err: unknown,
  op: string,
  what: string | undefined,
  ctx: { bucket: string; endpoint?: string | undefined },
): FsError {
  if (err instanceof FsError) return err;
  const name = s3ErrorName(err);
  const status = s3Status(err);
  const make = (code: ErrnoName, detail: string, retryable?: boolean): FsError =>
    new FsError({ code, op, path: what, detail, retryable, cause: err });
  const net = NETWORK[name];
  if (net !== undefined) {
    const where = ctx.endpoint ?? 'the S3 endpoint';
    return make(net, `cannot reach ${where} (${name})`);
  }
  switch (name) {
    case 'NoSuchBucket':
      return make('ENOENT', `bucket '${ctx.bucket}' does not exist`);
    case 'NoSuchKey':
    case 'NotFound':
      return make('ENOENT', 'no such object');
    case 'AccessDenied':
    case 'AllAccessDisabled':
    case 'AccountProblem':
    case 'Forbidden':
      return make('EACCES', `access denied by S3 for bucket '${ctx.bucket}'`);
    case 'InvalidAccessKeyId':
      return make('EKEYREJECTED', 'S3 does not know the access key id (check the credentials)');
    case 'SignatureDoesNotMatch':
      return make(
        'EKEYREJECTED',
        'S3 rejected the request signature: the secret access key does not match the key id',
      );
    case 'ExpiredToken':
    case 'TokenRefreshRequired':
    case 'InvalidToken':
      return make('EKEYREJECTED', 'the S3 session token is expired or invalid');
    case 'CredentialsProviderError':
      return make('EKEYREJECTED', 'no AWS credentials could be found (set the credentials options)');
    case 'KeyTooLongError':
      return make('ENAMETOOLONG', 'object key is longer than S3 allows (1024 bytes)');
    case 'EntityTooLarge':
      return make('EFBIG', 'object is larger than S3 allows');
    case 'SlowDown':
    case 'ServiceUnavailable':
    case 'Throttling':
    case 'ThrottlingException':
      return make('EAGAIN', `S3 is throttling requests (${name})`, true);
    case 'NotImplemented':
      return make('EOPNOTSUPP', 'the S3 server does not implement this request');
    case 'AbortError':
      return make('ECANCELED', 'S3 request aborted');
  }
  if (status === 404) return make('ENOENT', 'no such object');
  if (status === 403) return make('EACCES', `access denied by S3 for bucket '${ctx.bucket}'`);
  if (status === 503) return make('EAGAIN', `S3 is unavailable (${name})`, true);
  if (status !== undefined && status >= 500) return make('EIO', `S3 server error ${status} (${name})`, true);
  const message =
    typeof (err as SdkErrorShape | null)?.message === 'string'
      ? String((err as SdkErrorShape).message)
      : name;
  return make('EIO', `S3 error ${name}: ${message}`);
}
