import { FsError } from '../core/fs-error.ts';
import { exportIndexOf, type NodeId } from '../core/ids.ts';
import { closeThrough, type Handle, type Source } from '../sources/source.ts';

/** One open file of a session. */
export interface SessionHandle {
  /** The handle in the served Source (the namespace), shared by all sessions. */
  inner: Handle;
  /** The file it was opened on. */
  id: NodeId;
  /** Export slot of `id` (what authorization checks). */
  slot: number;
  read: boolean;
  write: boolean;
}

/**
 * The handles a session opened. Wire handles are per session, so one session can never use
 * (or close) another's files; they map to handles of the served Source. When the session
 * ends every handle still open is closed with `abort`, so a file it was writing is
 * discarded rather than left half-written; a handle that arrives after that (an open
 * still running when the connection dropped) is aborted at once.
 */
export class SessionHandles {
  readonly #source: Source;
  readonly #max: number;
  readonly #byWire = new Map<Handle, SessionHandle>();
  #next = 1;
  #closed = false;

  constructor(opts: { source: Source; max?: number | undefined }) {
    this.#source = opts.source;
    this.#max = opts.max ?? 4096;
  }

  /** Open handles. */
  get size(): number {
    return this.#byWire.size;
  }

  /** Refuse a new open before it happens when the session is at its limit. */
  checkRoom(op: string): void {
    if (this.#closed) throw FsError.ESHUTDOWN(op, undefined, 'session is closing');
    if (this.#byWire.size >= this.#max)
      throw FsError.EMFILE(op, undefined, `session has ${this.#max} files open`);
  }

  /** Register a Source handle; resolves to its wire handle. */
  async add(opts: { inner: Handle; id: NodeId; read: boolean; write: boolean; op: string }): Promise<Handle> {
    if (this.#closed) {
      await this.#source.closeFile({ handle: opts.inner, abort: true }).catch(() => undefined);
      throw FsError.ESHUTDOWN(opts.op, undefined, 'session ended while the file was being opened');
    }
    let wire = this.#next;
    while (this.#byWire.has(wire)) wire = wire >= 0xffff_ffff ? 1 : wire + 1;
    this.#next = wire >= 0xffff_ffff ? 1 : wire + 1;
    this.#byWire.set(wire, {
      inner: opts.inner,
      id: opts.id,
      slot: exportIndexOf(opts.id),
      read: opts.read,
      write: opts.write,
    });
    return wire;
  }

  /** The handle behind wire handle `wire`; `EBADF` when the session has no such handle. */
  get(wire: Handle, op: string): SessionHandle {
    const h = this.#byWire.get(wire);
    if (!h) throw FsError.EBADF(op, String(wire));
    return h;
  }

  /**
   * Close one handle, committing what was written through it (or discarding it with
   * `abort`). With `write` those bytes go through it first; if that fails the handle stays.
   */
  async close(
    wire: Handle,
    op: string,
    opts: { abort?: boolean; write?: { offset: number; data: Uint8Array } | undefined } = {},
  ): Promise<void> {
    const h = this.get(wire, op);
    await closeThrough({
      req: opts,
      forget: () => this.#byWire.delete(wire),
      close: () => this.#source.closeFile({ handle: h.inner, abort: opts.abort, write: opts.write }),
    });
  }

  /** Close every handle, discarding what was written; no handle can be added afterwards. */
  async abortAll(): Promise<void> {
    this.#closed = true;
    const all = [...this.#byWire.values()];
    this.#byWire.clear();
    await Promise.all(
      all.map((h) => this.#source.closeFile({ handle: h.inner, abort: true }).catch(() => undefined)),
    );
  }
}
