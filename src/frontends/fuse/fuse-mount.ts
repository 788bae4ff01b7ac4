import { execFile } from 'node:child_process';
import { readFile, stat, statfs, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { errnoNameOf } from '../../core/errno.ts';
import { FsError } from '../../core/fs-error.ts';
import type { Logger } from '../../core/log.ts';
import type { Source } from '../../sources/source.ts';
import {
  type ConnInfo,
  type FuseBinding,
  type FuseSession,
  loadFuseBinding,
  MAX_IO,
} from './fuse-binding.ts';
import { FuseOps } from './fuse-ops.ts';

/** Options of {@link FuseMount}. */
export interface FuseMountOptions {
  /** What is served: usually a RemoteSource of a node's namespace (root id 1). */
  source: Source;
  /** An existing, empty directory. */
  mountpoint: string;
  /** `fsname` shown by `mount`/`df` (default `tessera`). */
  fsname?: string | undefined;
  /** Let other users than the mounting one use the mount (`allow_other`). */
  allowOther?: boolean | undefined;
  /** Seconds the kernel trusts names and attributes (default 1; invalidations cut it short). */
  cacheTimeout?: number | undefined;
  /** FUSE requests in flight the kernel may send in the background (read-ahead; default 64). */
  maxBackground?: number | undefined;
  /** Kernel read-ahead of the mount in KiB (default 1024; 0 keeps the kernel's 128). */
  readAheadKb?: number | undefined;
  logger?: Logger | undefined;
}

/** How long an unmount waits for the kernel to end the session before aborting it. */
const EXIT_WAIT_MS = 5000;

/** Whether `promise` settles within {@link EXIT_WAIT_MS}. */
function settlesInTime(promise: Promise<unknown>): Promise<boolean> {
  const late = new Promise<false>((resolve) => setTimeout(() => resolve(false), EXIT_WAIT_MS).unref());
  return Promise.race([promise.then(() => true), late]);
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, (err) => (err ? reject(new Error(err.message)) : resolve()));
  });
}

/** `\040`-style escapes of /proc/self/mountinfo. */
function unescapeMountField(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** The filesystem type mounted exactly at `path`, if any (from /proc/self/mountinfo). */
export async function mountedTypeAt(path: string): Promise<string | undefined> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  let found: string | undefined;
  for (const line of info.split('\n')) {
    const [left, right] = line.split(' - ');
    if (left === undefined || right === undefined) continue;
    const fields = left.split(' ');
    if (fields[4] !== undefined && unescapeMountField(fields[4]) === path) found = right.split(' ')[0];
  }
  return found;
}

/** The minor device number of a `st_dev` as glibc encodes it (FUSE's major is 0). */
function minorOf(dev: number): number {
  return (dev & 0xff) | ((dev >>> 12) & ~0xff);
}

/**
 * A Source mounted in the kernel through FUSE. `open()` recovers a stale mount left by a
 * crashed server at the mount point (and refuses a live one), mounts, and serves;
 * `close()` unmounts cleanly: detach, wait for the kernel to end the session (abort it if
 * files stay open), close every open handle, answer everything, free the session.
 */
export class FuseMount implements AsyncDisposable {
  readonly mountpoint: string;
  readonly #opts: FuseMountOptions;
  #binding: FuseBinding | undefined;
  #session: FuseSession | undefined;
  #ops: FuseOps | undefined;
  #unwatch: (() => void) | undefined;
  #connection: number | undefined;
  #state: 'new' | 'open' | 'closing' | 'closed' = 'new';
  #closing: Promise<void> | undefined;

  constructor(opts: FuseMountOptions) {
    this.#opts = opts;
    this.mountpoint = resolve(opts.mountpoint);
  }

  /** Resolves when the mount ends, whoever unmounted it (`close`, `umount`, `fusermount -u`). */
  get ended(): Promise<void> {
    return this.#ops?.exited ?? Promise.resolve();
  }

  /**
   * The kernel protocol the mount speaks (known once the kernel's INIT is answered, which
   * `open()` waits for); undefined before.
   */
  get protocol(): ConnInfo | undefined {
    if (this.#session === undefined || this.#binding === undefined) return undefined;
    const info = this.#binding.connInfo(this.#session);
    return info.protoMajor === 0 ? undefined : info;
  }

  async open(): Promise<void> {
    if (this.#state === 'open') return;
    if (this.#state !== 'new') throw FsError.ESHUTDOWN('mount', this.mountpoint, 'mount is closed');
    const { binding, error } = loadFuseBinding();
    if (!binding) throw FsError.ENOSYS('mount', this.mountpoint, error?.message);
    this.#binding = binding;
    await this.#checkMountpoint(binding);
    const ops = new FuseOps({
      source: this.#opts.source,
      binding,
      entryTimeout: this.#opts.cacheTimeout ?? 1,
      attrTimeout: this.#opts.cacheTimeout ?? 1,
      logger: this.#opts.logger,
    });
    const fsname = (this.#opts.fsname ?? 'tessera').replace(/[^A-Za-z0-9._:@/+-]/g, '_');
    const options = [
      `fsname=${fsname}`,
      // No max_read or max_write: libfuse 3 and the kernel agree on requests of up to MAX_IO.
      'subtype=tessera',
      // Other users get the kernel's permission checks on the node's modes. The mounting
      // user alone needs none (the node enforces its credential), and they would cost a
      // GETATTR of the directory after every file made in it.
      ...(this.#opts.allowOther ? ['allow_other', 'default_permissions'] : []),
    ].join(',');
    try {
      this.#session = binding.mount(
        this.mountpoint,
        options,
        ops.dispatch,
        ops.inArgs,
        ops.outArgs,
        this.#opts.maxBackground ?? 64,
        ops.writeSlots,
        MAX_IO,
      );
    } catch (err) {
      throw new FsError({
        code: errnoNameOf((err as { errno?: number }).errno ?? 5),
        op: 'mount',
        path: this.mountpoint,
        detail: `cannot mount FUSE: ${(err as Error).message} (needs /dev/fuse and root or fusermount)`,
        cause: err,
      });
    }
    ops.attach(this.#session);
    this.#ops = ops;
    this.#state = 'open';
    this.#unwatch = this.#opts.source.watch((ev) => ops.invalidate(ev));
    await this.#tune();
  }

  /** Refuse a live mount at the mount point; detach a stale one (its server is gone). */
  async #checkMountpoint(binding: FuseBinding): Promise<void> {
    const type = await mountedTypeAt(this.mountpoint);
    if (type !== undefined) {
      // statfs always reaches the server (a stat may be answered from cached attributes).
      const alive = await statfs(this.mountpoint).then(
        () => true,
        (err: NodeJS.ErrnoException) => err.code !== 'ENOTCONN' && err.code !== 'ECONNABORTED',
      );
      if (alive || !type.startsWith('fuse'))
        throw FsError.EBUSY('mount', this.mountpoint, `something (${type}) is already mounted here`);
      this.#opts.logger?.warn('fuse: recovering a stale mount', { mountpoint: this.mountpoint });
      await this.#detach(binding);
    }
    const st = await stat(this.mountpoint).catch((err: unknown) => {
      throw FsError.from(err, 'mount', this.mountpoint);
    });
    if (!st.isDirectory()) throw FsError.ENOTDIR('mount', this.mountpoint);
  }

  async #detach(binding: FuseBinding): Promise<void> {
    const rc = binding.unmount(this.mountpoint);
    if (rc === 0 || rc === 22 /* EINVAL: not mounted */) return;
    // Not root: the setuid helper may unmount what the user mounted.
    await run('fusermount', ['-uz', this.mountpoint]).catch((err: unknown) => {
      throw FsError.EBUSY('unmount', this.mountpoint, `cannot unmount: ${(err as Error).message}`);
    });
  }

  /** Find the connection (for an abort) and widen the kernel's read-ahead; best effort. */
  async #tune(): Promise<void> {
    try {
      const st = await stat(this.mountpoint);
      this.#connection = minorOf(st.dev);
      const kb = this.#opts.readAheadKb ?? 1024;
      if (kb > 0) await writeFile(`/sys/class/bdi/0:${this.#connection}/read_ahead_kb`, `${kb}\n`);
    } catch (err) {
      this.#opts.logger?.debug('fuse: tuning skipped', { error: String(err) });
    }
  }

  async close(): Promise<void> {
    if (this.#state === 'new') {
      this.#state = 'closed';
      return;
    }
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#state = 'closing';
    this.#unwatch?.();
    const binding = this.#binding!;
    const ops = this.#ops!;
    await this.#detach(binding).catch((err: unknown) =>
      this.#opts.logger?.warn('fuse: unmount failed', { error: String(err) }),
    );
    let exited = await settlesInTime(ops.exited);
    if (!exited && this.#connection !== undefined) {
      // Files are still open on the detached mount: end the session anyway.
      await writeFile(`/sys/fs/fuse/connections/${this.#connection}/abort`, '1\n').catch(() => undefined);
      exited = await settlesInTime(ops.exited);
    }
    await ops.closeAll();
    const idle = await settlesInTime(ops.idle());
    // A request still waiting on the Source would be answered into freed memory, and a loop
    // still running cannot be joined: keep the session then (the process is about to end).
    if (idle && exited) binding.destroy(this.#session!);
    this.#state = 'closed';
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
