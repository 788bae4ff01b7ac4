import { z } from 'zod';
import { ERRNO, ERRNO_ALIASES, type ErrnoName, isErrnoName } from './errno.ts';

/** The JSON shape an `FsError` takes on the wire and in logs. */
export interface FsErrorJSON {
  code: ErrnoName;
  op: string;
  path?: string | undefined;
  message: string;
  retryable: boolean;
}

const fsErrorJsonSchema = z.object({
  code: z.string(),
  op: z.string().max(200),
  path: z.string().max(8192).optional(),
  message: z.string().max(16384),
  retryable: z.boolean(),
});

type Factory = (op: string, path?: string, detail?: string) => FsError;

function factory(code: ErrnoName): Factory {
  return (op, path, detail) => new FsError({ code, op, path, detail });
}

/**
 * The one error class of Tessera. Carries a Linux errno name, the operation and path it
 * concerns, and whether retrying can succeed. Adapters translate native errors into it at
 * their edge (`FsError.from`); every surface maps `code` through the errno table.
 */
export class FsError extends Error {
  /** Errno name, e.g. `ENOENT`. */
  readonly code: ErrnoName;
  /** Linux errno number for `code`. */
  readonly errno: number;
  /** The operation that failed (`lookup`, `rename`, `config`, …). */
  readonly op: string;
  /** The path or id the operation concerned, when there is one. */
  readonly path: string | undefined;
  /** Whether retrying the same operation may succeed (connection loss, timeouts, EAGAIN). */
  readonly retryable: boolean;

  constructor(opts: {
    code: ErrnoName;
    op: string;
    path?: string | undefined;
    detail?: string | undefined;
    retryable?: boolean | undefined;
    message?: string | undefined;
    cause?: unknown;
  }) {
    const entry = ERRNO[opts.code];
    const message =
      opts.message ??
      `${opts.code}: ${opts.detail ?? entry.text}${opts.op ? `, ${opts.op}` : ''}${opts.path !== undefined ? ` '${opts.path}'` : ''}`;
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'FsError';
    this.code = opts.code;
    this.errno = entry.errno;
    this.op = opts.op;
    this.path = opts.path;
    this.retryable = opts.retryable ?? entry.retryable;
  }

  /** Whether `err` is an `FsError`, optionally of the given code. */
  static is(err: unknown, code?: ErrnoName): err is FsError {
    return err instanceof FsError && (code === undefined || err.code === code);
  }

  /**
   * Translate any thrown value into an `FsError`: an `FsError` passes through, a Node.js
   * system error keeps its errno name, anything unknown becomes `EIO`.
   */
  static from(err: unknown, op: string, path?: string): FsError {
    if (err instanceof FsError) return err;
    const native = err as { code?: unknown; message?: unknown } | null;
    const rawCode = typeof native?.code === 'string' ? native.code : undefined;
    const code: ErrnoName = isErrnoName(rawCode)
      ? rawCode
      : rawCode !== undefined && ERRNO_ALIASES[rawCode] !== undefined
        ? ERRNO_ALIASES[rawCode]
        : 'EIO';
    const detail = code === 'EIO' && typeof native?.message === 'string' ? native.message : ERRNO[code].text;
    return new FsError({ code, op, path, detail, cause: err });
  }

  /** Serialize for the wire or a log line. */
  toJSON(): FsErrorJSON {
    return {
      code: this.code,
      op: this.op,
      path: this.path,
      message: this.message,
      retryable: this.retryable,
    };
  }

  /** Rebuild an error from its JSON form; malformed input or an unknown code gives `EIO`. */
  static fromJSON(value: unknown): FsError {
    const parsed = fsErrorJsonSchema.safeParse(value);
    if (!parsed.success) {
      return new FsError({ code: 'EIO', op: 'decode-error', detail: 'malformed error payload' });
    }
    const { code, op, path, message, retryable } = parsed.data;
    if (!isErrnoName(code)) {
      return new FsError({
        code: 'EIO',
        op,
        path,
        retryable,
        message: `EIO: unknown error code ${code}: ${message}`,
      });
    }
    return new FsError({ code, op, path, retryable, message });
  }

  static readonly EPERM = factory('EPERM');
  static readonly ENOENT = factory('ENOENT');
  static readonly EINTR = factory('EINTR');
  static readonly EIO = factory('EIO');
  static readonly ENXIO = factory('ENXIO');
  static readonly ENODEV = factory('ENODEV');
  static readonly E2BIG = factory('E2BIG');
  static readonly EBADF = factory('EBADF');
  static readonly EAGAIN = factory('EAGAIN');
  static readonly ENOMEM = factory('ENOMEM');
  static readonly EACCES = factory('EACCES');
  static readonly EBUSY = factory('EBUSY');
  static readonly EEXIST = factory('EEXIST');
  static readonly EXDEV = factory('EXDEV');
  static readonly ENOTDIR = factory('ENOTDIR');
  static readonly EISDIR = factory('EISDIR');
  static readonly EINVAL = factory('EINVAL');
  static readonly EMFILE = factory('EMFILE');
  static readonly ETXTBSY = factory('ETXTBSY');
  static readonly EFBIG = factory('EFBIG');
  static readonly ENOSPC = factory('ENOSPC');
  static readonly ESPIPE = factory('ESPIPE');
  static readonly EROFS = factory('EROFS');
  static readonly EMLINK = factory('EMLINK');
  static readonly ERANGE = factory('ERANGE');
  static readonly EDEADLK = factory('EDEADLK');
  static readonly ENAMETOOLONG = factory('ENAMETOOLONG');
  static readonly ENOLCK = factory('ENOLCK');
  static readonly ENOSYS = factory('ENOSYS');
  static readonly ENOTEMPTY = factory('ENOTEMPTY');
  static readonly ELOOP = factory('ELOOP');
  static readonly ENODATA = factory('ENODATA');
  static readonly EPROTO = factory('EPROTO');
  static readonly EOVERFLOW = factory('EOVERFLOW');
  static readonly EOPNOTSUPP = factory('EOPNOTSUPP');
  static readonly EADDRINUSE = factory('EADDRINUSE');
  static readonly ENETUNREACH = factory('ENETUNREACH');
  static readonly ECONNABORTED = factory('ECONNABORTED');
  static readonly ECONNRESET = factory('ECONNRESET');
  static readonly ENOTCONN = factory('ENOTCONN');
  static readonly ESHUTDOWN = factory('ESHUTDOWN');
  static readonly ETIMEDOUT = factory('ETIMEDOUT');
  static readonly ECONNREFUSED = factory('ECONNREFUSED');
  static readonly EHOSTUNREACH = factory('EHOSTUNREACH');
  static readonly ESTALE = factory('ESTALE');
  static readonly EDQUOT = factory('EDQUOT');
  static readonly ECANCELED = factory('ECANCELED');
  static readonly EKEYREJECTED = factory('EKEYREJECTED');
}
