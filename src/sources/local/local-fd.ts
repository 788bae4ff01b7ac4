import * as fs from 'node:fs';

type Done<T> = (err: NodeJS.ErrnoException | null, value: T) => void;

function badf(syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`EBADF: bad file descriptor, ${syscall}`), {
    code: 'EBADF',
    errno: -9,
    syscall,
  });
}

/**
 * An open file of a local export by its raw descriptor: the local source's one kind of open
 * file. Node's `FileHandle` cannot adopt a descriptor opened elsewhere (the tessera_linux
 * addon's `createTemp` opens one in the same thread-pool job as its checks), so this is the
 * small part of it the source needs, over the `node:fs` callback API.
 *
 * Like a `FileHandle`, a close waits for the calls in flight on the descriptor (its number
 * could otherwise go to another file under them) and is idempotent; calls after it reject
 * `EBADF`. {@link LocalFd.lend} hands the descriptor to a native job that closes it.
 */
export class LocalFd {
  #fd: number;
  #state: 'open' | 'lent' | 'closed' = 'open';
  #busy = 0;
  #idle: (() => void)[] = [];
  #closing: Promise<void> | undefined;
  /** Closed while lent: closed when given back. */
  #closeWhenBack = false;

  constructor(fd: number) {
    this.#fd = fd;
  }

  /** Open `path` (`flags` as for `fs.open`, `mode` for a created file). */
  static open(path: string, flags: number | string, mode?: number): Promise<LocalFd> {
    return new Promise((resolve, reject) =>
      fs.open(path, flags, mode, (err, fd) => (err ? reject(err) : resolve(new LocalFd(fd)))),
    );
  }

  /** The descriptor number (-1 once closed). */
  get fd(): number {
    return this.#state === 'closed' ? -1 : this.#fd;
  }

  /** Whether no call is in flight on the descriptor (it may be lent). */
  get idle(): boolean {
    return this.#busy === 0 && this.#state === 'open';
  }

  read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return this.#call('read', (fd, cb: Done<number>) => fs.read(fd, buf, offset, length, position, cb));
  }

  /** One `pwrite` (`write` at the end with `position` null); the bytes it wrote. */
  write(buf: Uint8Array, offset: number, length: number, position: number | null): Promise<number> {
    return this.#call('write', (fd, cb: Done<number>) => fs.write(fd, buf, offset, length, position, cb));
  }

  /** One `pwritev`; the bytes it wrote. */
  writev(parts: Uint8Array[], position: number): Promise<number> {
    return this.#call('writev', (fd, cb: Done<number>) => fs.writev(fd, parts, position, cb));
  }

  stat(): Promise<fs.BigIntStats> {
    return this.#call('fstat', (fd, cb: Done<fs.BigIntStats>) => fs.fstat(fd, { bigint: true }, cb));
  }

  truncate(size: number): Promise<void> {
    return this.#call('ftruncate', (fd, cb: Done<void>) => fs.ftruncate(fd, size, (err) => cb(err)));
  }

  chmod(mode: number): Promise<void> {
    return this.#call('fchmod', (fd, cb: Done<void>) => fs.fchmod(fd, mode, (err) => cb(err)));
  }

  chown(uid: number, gid: number): Promise<void> {
    return this.#call('fchown', (fd, cb: Done<void>) => fs.fchown(fd, uid, gid, (err) => cb(err)));
  }

  utimes(atime: number, mtime: number): Promise<void> {
    return this.#call('futime', (fd, cb: Done<void>) => fs.futimes(fd, atime, mtime, (err) => cb(err)));
  }

  datasync(): Promise<void> {
    return this.#call('fdatasync', (fd, cb: Done<void>) => fs.fdatasync(fd, (err) => cb(err)));
  }

  sync(): Promise<void> {
    return this.#call('fsync', (fd, cb: Done<void>) => fs.fsync(fd, (err) => cb(err)));
  }

  /** Close once no call is in flight; again, or after a lent descriptor was used up, a no-op. */
  close(): Promise<void> {
    if (this.#state === 'closed') return this.#closing ?? Promise.resolve();
    if (this.#state === 'lent') {
      this.#closeWhenBack = true;
      return Promise.resolve();
    }
    this.#state = 'closed';
    this.#closing = this.#whenIdle().then(
      () =>
        new Promise<void>((resolve, reject) => fs.close(this.#fd, (err) => (err ? reject(err) : resolve()))),
    );
    return this.#closing;
  }

  /**
   * Hand the descriptor to a job that may close it (only while {@link LocalFd.idle}): calls
   * reject `EBADF` until {@link LocalFd.giveBack}, and after {@link LocalFd.usedUp} for good.
   */
  lend(): number {
    if (!this.idle) throw badf('lend');
    this.#state = 'lent';
    return this.#fd;
  }

  /** The job lent the descriptor left it open: it is this object's again. */
  giveBack(): void {
    if (this.#state !== 'lent') return;
    this.#state = 'open';
    if (this.#closeWhenBack) void this.close().catch(() => undefined);
  }

  /** The job lent the descriptor closed it. */
  usedUp(): void {
    if (this.#state === 'lent') this.#state = 'closed';
  }

  #call<T>(syscall: string, run: (fd: number, cb: Done<T>) => void): Promise<T> {
    if (this.#state !== 'open') return Promise.reject(badf(syscall));
    this.#busy++;
    return new Promise<T>((resolve, reject) =>
      run(this.#fd, (err, value) => {
        if (--this.#busy === 0 && this.#idle.length > 0) for (const f of this.#idle.splice(0)) f();
        if (err) reject(err);
        else resolve(value);
      }),
    );
  }

  #whenIdle(): Promise<void> {
    if (this.#busy === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }
}
