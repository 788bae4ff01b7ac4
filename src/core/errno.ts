/**
 * The one errno table. Every surface (wire protocol, HTTP status, FUSE reply, CLI exit code)
 * derives its code for an error from this table and nowhere else.
 *
 * CLI exit codes are the Linux errno number itself (so `ENOENT` exits 2, `EACCES` 13), which
 * keeps them distinct and documented by the platform. `EPERM` is errno 1, so a crash exits
 * with {@link EXIT_INTERNAL_ERROR} (70, sysexits' EX_SOFTWARE) instead, outside the table.
 */
export interface ErrnoEntry {
  /** Linux errno number. */
  readonly errno: number;
  /** HTTP status for REST/WebDAV. */
  readonly http: number;
  /** Whether a caller may retry the same operation and expect it to succeed. */
  readonly retryable: boolean;
  /** Short human description, as strerror would give. */
  readonly text: string;
}

/** Errno names, as Linux spells them. */
export const ERRNO = {
  EPERM: { errno: 1, http: 403, retryable: false, text: 'operation not permitted' },
  ENOENT: { errno: 2, http: 404, retryable: false, text: 'no such file or directory' },
  EINTR: { errno: 4, http: 503, retryable: true, text: 'interrupted' },
  EIO: { errno: 5, http: 500, retryable: false, text: 'input/output error' },
  ENXIO: { errno: 6, http: 404, retryable: false, text: 'no such device or address' },
  E2BIG: { errno: 7, http: 413, retryable: false, text: 'argument list too long' },
  EBADF: { errno: 9, http: 400, retryable: false, text: 'bad file handle' },
  EAGAIN: { errno: 11, http: 503, retryable: true, text: 'resource temporarily unavailable' },
  ENOMEM: { errno: 12, http: 503, retryable: true, text: 'out of memory' },
  EACCES: { errno: 13, http: 403, retryable: false, text: 'permission denied' },
  EBUSY: { errno: 16, http: 423, retryable: true, text: 'resource busy' },
  EEXIST: { errno: 17, http: 409, retryable: false, text: 'file exists' },
  EXDEV: { errno: 18, http: 409, retryable: false, text: 'cross-source link or rename' },
  ENODEV: { errno: 19, http: 404, retryable: false, text: 'no such device' },
  ENOTDIR: { errno: 20, http: 409, retryable: false, text: 'not a directory' },
  EISDIR: { errno: 21, http: 409, retryable: false, text: 'is a directory' },
  EINVAL: { errno: 22, http: 400, retryable: false, text: 'invalid argument' },
  EMFILE: { errno: 24, http: 503, retryable: true, text: 'too many open files' },
  ETXTBSY: { errno: 26, http: 423, retryable: true, text: 'text file busy' },
  EFBIG: { errno: 27, http: 413, retryable: false, text: 'file too large' },
  ENOSPC: { errno: 28, http: 507, retryable: false, text: 'no space left on device' },
  ESPIPE: { errno: 29, http: 400, retryable: false, text: 'illegal seek' },
  EROFS: { errno: 30, http: 403, retryable: false, text: 'read-only file system' },
  EMLINK: { errno: 31, http: 409, retryable: false, text: 'too many links' },
  ERANGE: { errno: 34, http: 400, retryable: false, text: 'result out of range' },
  EDEADLK: { errno: 35, http: 409, retryable: false, text: 'resource deadlock avoided' },
  ENAMETOOLONG: { errno: 36, http: 414, retryable: false, text: 'file name too long' },
  ENOLCK: { errno: 37, http: 503, retryable: true, text: 'no locks available' },
  ENOSYS: { errno: 38, http: 501, retryable: false, text: 'operation not supported by this source' },
  ENOTEMPTY: { errno: 39, http: 409, retryable: false, text: 'directory not empty' },
  ELOOP: { errno: 40, http: 508, retryable: false, text: 'too many levels of symbolic links' },
  ENODATA: { errno: 61, http: 404, retryable: false, text: 'no such attribute' },
  EPROTO: { errno: 71, http: 400, retryable: false, text: 'protocol error' },
  EOVERFLOW: { errno: 75, http: 400, retryable: false, text: 'value too large' },
  EOPNOTSUPP: { errno: 95, http: 501, retryable: false, text: 'operation not supported' },
  EADDRINUSE: { errno: 98, http: 503, retryable: false, text: 'address already in use' },
  ENETUNREACH: { errno: 101, http: 502, retryable: true, text: 'network unreachable' },
  ECONNABORTED: { errno: 103, http: 502, retryable: true, text: 'connection aborted' },
  ECONNRESET: { errno: 104, http: 502, retryable: true, text: 'connection reset' },
  ENOTCONN: { errno: 107, http: 503, retryable: true, text: 'not connected' },
  ESHUTDOWN: { errno: 108, http: 503, retryable: true, text: 'endpoint is shutting down' },
  ETIMEDOUT: { errno: 110, http: 504, retryable: true, text: 'timed out' },
  ECONNREFUSED: { errno: 111, http: 502, retryable: true, text: 'connection refused' },
  EHOSTUNREACH: { errno: 113, http: 502, retryable: true, text: 'host unreachable' },
  ESTALE: { errno: 116, http: 410, retryable: false, text: 'stale file id' },
  EDQUOT: { errno: 122, http: 507, retryable: false, text: 'quota exceeded' },
  ECANCELED: { errno: 125, http: 503, retryable: true, text: 'operation canceled' },
  EKEYREJECTED: { errno: 129, http: 401, retryable: false, text: 'credential rejected' },
} as const satisfies Record<string, ErrnoEntry>;

/** An errno name from the table. */
export type ErrnoName = keyof typeof ERRNO;

const byNumber = new Map<number, ErrnoName>(
  (Object.keys(ERRNO) as ErrnoName[]).map((name) => [ERRNO[name].errno, name]),
);

/** Whether `name` is in the table. */
export function isErrnoName(name: unknown): name is ErrnoName {
  return typeof name === 'string' && Object.hasOwn(ERRNO, name);
}

/** The errno name for a Linux errno number; unknown numbers become `EIO`. */
export function errnoNameOf(errno: number): ErrnoName {
  return byNumber.get(Math.abs(errno)) ?? 'EIO';
}

/** HTTP status for an errno name. */
export function httpStatusOf(code: ErrnoName): number {
  return ERRNO[code].http;
}

/** FUSE reply code (negative errno) for an errno name. */
export function fuseCodeOf(code: ErrnoName): number {
  return -ERRNO[code].errno;
}

/**
 * CLI exit code for an internal error (something other than an `FsError` was thrown):
 * sysexits' `EX_SOFTWARE`, a number no entry of the table uses.
 */
export const EXIT_INTERNAL_ERROR = 70;

/** CLI exit code for an errno name: the errno number itself. */
export function exitCodeOf(code: ErrnoName): number {
  return ERRNO[code].errno;
}

/** Aliases that platforms and libraries use for codes in the table. */
export const ERRNO_ALIASES: Readonly<Record<string, ErrnoName>> = {
  EWOULDBLOCK: 'EAGAIN',
  ENOTSUP: 'EOPNOTSUPP',
  ENOATTR: 'ENODATA',
  EDEADLOCK: 'EDEADLK',
  EPIPE: 'ECONNRESET',
};
