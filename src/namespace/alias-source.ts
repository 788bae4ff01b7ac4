import type { ConnectOptions } from '../client/connection.ts';
import type { RemoteSource } from '../client/remote-source.ts';
import type { Attr } from '../core/attr.ts';
import { FsError } from '../core/fs-error.ts';
import { exportIndexOf, localPartOf, makeId, type NodeId, rootId } from '../core/ids.ts';
import type { Logger } from '../core/log.ts';
import { BaseSource } from '../sources/base-source.ts';
import type {
  Caps,
  DirEntry,
  Entry,
  ExportInfo,
  Handle,
  Invalidation,
  LockInfo,
  OpenFlags,
  SourceRequest,
  StatFs,
} from '../sources/source.ts';
import { ALIAS_ROOT_LOCAL, AliasIds } from './alias-ids.ts';
import { type Backoff, Endpoint, type EndpointStatus } from './endpoint.ts';
import { type Intent, pickEndpoint } from './router.ts';

/** The export index of an alias's one export in its ids. */
export const ALIAS_EXPORT_INDEX = 1;
/** How long an operation waits for some endpoint to be reachable (default). */
export const DEFAULT_WAIT_MS = 10_000;
const KEEP_SWITCHES = 20;

/** Errors that say the session (or the node behind it) failed, not the operation. */
const TRANSPORT = new Set([
  'ECONNRESET',
  'ESHUTDOWN',
  'ENOTCONN',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/** Caps assumed until an endpoint has described its export. */
const UNKNOWN_CAPS: Caps = {
  native_watch: false,
  case_sensitive: true,
  symlink: true,
  xattr: true,
  lock: true,
  hardlink: true,
  max_file_size: Number.MAX_SAFE_INTEGER,
  writable: true,
  posix_attrs: true,
  atomic_write: true,
  persistent_ids: false,
};

/** One change of the endpoint serving an alias. */
export interface SwitchRecord {
  at: string;
  from: string | undefined;
  to: string;
  reason: string;
}

/** An alias as `tessera mounts --json` shows it. */
export interface AliasStatus {
  alias: string;
  export: string;
  /** The endpoint serving now (the last one picked). */
  serving: string | undefined;
  endpoints: EndpointStatus[];
  /** Switches so far, and the latest ones. */
  switchCount: number;
  switches: SwitchRecord[];
  /** Open read handles moved to another session so far. */
  movedHandles: number;
}

/** Options of {@link AliasSource}. */
export interface AliasSourceOptions {
  /** The alias name (for logs and status). */
  alias: string;
  /** The export every endpoint serves (a remote namespace's export name, e.g. `/work`). */
  exportName: string;
  /** The endpoints: how to connect to each (url, credential, trust). */
  endpoints: ConnectOptions[];
  logger: Logger;
  /** Mounted read-only. */
  ro?: boolean | undefined;
  backoff?: Backoff | undefined;
  /** How long an operation waits for an endpoint to be reachable. */
  waitMs?: number | undefined;
  /** How long `open` waits for a first endpoint (default `waitMs`); it opens either way. */
  openWaitMs?: number | undefined;
}

interface OpenHandle {
  local: bigint;
  flags: OpenFlags;
  ep: Endpoint;
  session: number;
  inner: Handle;
  /** The session held locks for it: moving it would silently drop them. */
  locked: boolean;
}

/**
 * A Source over an alias: several endpoints (nodes) serving replicated copies of one export.
 * Each operation goes to the endpoint the router picks (up, healthy, writable for write
 * intent); when its session fails, an operation that is safe to repeat (reads, lookups,
 * listings from the start, opens, and mutations not yet sent) goes to the next endpoint
 * without the caller seeing an error, and an open read handle is reopened there and
 * continues at the caller's offset. Files are known by their own ids (see {@link AliasIds}),
 * so a failover finds the same file on the next endpoint by name. Every endpoint reconnects
 * by itself after a drop (new session, backoff with jitter); a new session of the serving
 * endpoint, and every switch, invalidates the whole tree so caches above revalidate.
 */
export class AliasSource extends BaseSource {
  readonly alias: string;
  readonly exportName: string;
  readonly #eps: Endpoint[];
  readonly #ro: boolean;
  readonly #waitMs: number;
  readonly #openWaitMs: number;
  readonly #log: Logger;
  readonly #handles = new Map<Handle, OpenHandle>();
  readonly #waiters = new Set<() => void>();
  readonly #statusListeners = new Set<() => void>();
  readonly #switches: SwitchRecord[] = [];
  readonly #seenSessions = new Map<Endpoint, number>();
  #ids: AliasIds | undefined;
  #serving: Endpoint | undefined;
  #switchCount = 0;
  #moved = 0;
  #nextHandle = 1;

  constructor(opts: AliasSourceOptions) {
    super();
    if (opts.endpoints.length === 0) throw FsError.EINVAL('mount', opts.alias, 'an alias needs an endpoint');
    this.alias = opts.alias;
    this.exportName = opts.exportName;
    this.#ro = opts.ro ?? false;
    this.#waitMs = opts.waitMs ?? DEFAULT_WAIT_MS;
    this.#openWaitMs = opts.openWaitMs ?? this.#waitMs;
    this.#log = opts.logger.child({
      component: 'alias',
      fields: { alias: opts.alias, export: opts.exportName },
    });
    this.#eps = opts.endpoints.map(
      (connect) =>
        new Endpoint({ connect, exportName: opts.exportName, logger: this.#log, backoff: opts.backoff }),
    );
  }

  get caps(): Caps {
    const exp = (this.#serving ?? this.#eps.find((e) => e.exp))?.exp;
    const caps = { ...(exp?.caps ?? UNKNOWN_CAPS), persistent_ids: false };
    caps.writable = caps.writable && !this.#ro && (exp === undefined || this.#eps.some((e) => e.writable));
    return caps;
  }

  protected exportsInfo(): ExportInfo[] {
    const caps = this.caps;
    return [
      {
        name: this.exportName,
        root: rootId(ALIAS_EXPORT_INDEX),
        ro: !caps.writable,
        desc: `${this.alias}:${this.exportName}`,
        source_kind: 'remote',
        source_id: `alias:${this.alias}${this.exportName.startsWith('/') ? '' : '/'}${this.exportName}`,
        caps,
      },
    ];
  }

  protected readOnlyFor(): boolean {
    return this.#ro;
  }

  /** Which endpoint serves, the health of each, and the switches so far. */
  status(): AliasStatus {
    return {
      alias: this.alias,
      export: this.exportName,
      serving: this.#serving?.url,
      endpoints: this.#eps.map((e) => e.status()),
      switchCount: this.#switchCount,
      switches: [...this.#switches],
      movedHandles: this.#moved,
    };
  }

  /** Be told whenever the status changes (an endpoint's state, a switch). */
  onStatusChange(listener: () => void): () => void {
    this.#statusListeners.add(listener);
    return () => this.#statusListeners.delete(listener);
  }

  /** The endpoints, for tests and diagnostics. */
  get endpoints(): readonly Endpoint[] {
    return this.#eps;
  }

  /** Starts every endpoint and waits (up to `openWaitMs`) for one to be up; opens either way. */
  protected override async doOpen(): Promise<void> {
    for (const ep of this.#eps) {
      ep.onChange(() => this.#endpointChanged(ep));
      ep.watch((ev) => this.#forward(ep, ev));
      ep.start();
    }
    const deadline = Date.now() + this.#openWaitMs;
    while (!this.#eps.some((e) => e.state === 'up') && Date.now() < deadline) {
      await this.#changed(deadline - Date.now());
    }
    if (!this.#eps.some((e) => e.state === 'up'))
      this.#log.warn('no endpoint reachable yet; the mount retries in the background');
  }

  protected override async doClose(): Promise<void> {
    await Promise.all(this.#eps.map((e) => e.close()));
    this.#handles.clear();
    for (const w of this.#waiters) w();
    this.#statusListeners.clear();
  }

  #endpointChanged(ep: Endpoint): void {
    if (ep.state === 'up') {
      const exp = ep.exp!;
      this.#ids ??= new AliasIds({ caseSensitive: exp.caps.case_sensitive });
      const seen = this.#seenSessions.get(ep);
      if (seen !== undefined && seen !== ep.session) {
        // A new session: without persistent ids the node may number files anew.
        if (!exp.caps.persistent_ids || this.#ids.innerOf(ep.url, ALIAS_ROOT_LOCAL) !== exp.root)
          this.#ids.forget(ep.url);
        if (ep === this.#serving) this.hub.emit({ kind: 'tree', id: rootId(ALIAS_EXPORT_INDEX) });
      }
      this.#seenSessions.set(ep, ep.session);
      this.#ids.bind(ep.url, ALIAS_ROOT_LOCAL, exp.root);
    }
    for (const w of [...this.#waiters]) w();
    for (const l of [...this.#statusListeners]) l();
  }

  /** Resolves when some endpoint changes state, or after `ms`. */
  #changed(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.#waiters.add(done);
    });
  }

  #forward(ep: Endpoint, ev: Invalidation): void {
    const ids = this.#ids;
    if (!ids) return;
    const map = (id: NodeId) => {
      const local = ids.localOf(ep.url, id);
      return local === undefined ? undefined : makeId(ALIAS_EXPORT_INDEX, local);
    };
    if (ev.kind === 'entry') {
      const parent = map(ev.parent);
      if (parent !== undefined) this.hub.emit({ kind: 'entry', parent, name: ev.name });
      return;
    }
    const id = map(ev.id);
    if (id !== undefined) this.hub.emit({ kind: ev.kind, id });
  }

  /** Whether `err` is the endpoint's failure rather than the operation's. */
  #endpointFault(err: FsError, remote: RemoteSource): boolean {
    return err.retryable && (remote.connection.closed || TRANSPORT.has(err.code));
  }

  /** Pick an endpoint for `intent`, waiting (until `deadline`) for one to come up. */
  async #choose(opts: {
    op: string;
    intent: Intent;
    tried: Set<string>;
    deadline: number;
    last: FsError | undefined;
  }): Promise<Endpoint> {
    for (;;) {
      if (!this.isOpen) throw FsError.ESHUTDOWN(opts.op, this.alias, 'the mount is closed');
      const ep = pickEndpoint({
        endpoints: this.#eps,
        intent: opts.intent,
        current: this.#serving,
        exclude: (e) => opts.tried.has(`${e.url}#${e.session}`),
      });
      if (ep) {
        if (ep !== this.#serving) this.#switchTo(ep, opts.intent);
        return ep;
      }
      if (opts.intent === 'write' && this.#eps.every((e) => e.state === 'up' && !e.writable))
        throw FsError.EROFS(opts.op, this.alias, 'every endpoint of the alias serves the export read-only');
      const remaining = opts.deadline - Date.now();
      const mayReturn = this.#eps.some((e) => e.state === 'down' || e.state === 'connecting');
      if (!mayReturn || remaining <= 0) {
        if (opts.last) throw opts.last;
        const states = this.#eps.map((e) => `${e.url} ${e.state}`).join(', ');
        throw new FsError({
          code: 'EHOSTUNREACH',
          op: opts.op,
          path: this.alias,
          detail: `no endpoint of alias '${this.alias}' is reachable (${states})`,
          retryable: true,
        });
      }
      await this.#changed(remaining);
    }
  }

  #switchTo(ep: Endpoint, intent: Intent): void {
    const from = this.#serving;
    const reason =
      from === undefined
        ? 'first use'
        : from.state !== 'up'
          ? `failover: ${from.url} is ${from.state}`
          : intent === 'write' && !from.writable
            ? `write intent: ${from.url} is read-only`
            : `better health than ${from.url}`;
    this.#serving = ep;
    if (from !== undefined) {
      this.#switchCount++;
      this.#switches.push({ at: new Date().toISOString(), from: from.url, to: ep.url, reason });
      if (this.#switches.length > KEEP_SWITCHES) this.#switches.shift();
      // Replicas may differ in what they have seen: whatever was cached from the old one is suspect.
      this.hub.emit({ kind: 'tree', id: rootId(ALIAS_EXPORT_INDEX) });
    }
    this.#log.info('alias endpoint selected', { from: from?.url, to: ep.url, reason });
    for (const l of [...this.#statusListeners]) l();
  }

  /**
   * Run an operation on the endpoint the router picks. On an endpoint failure the operation
   * moves to the next endpoint when it is `safe` to repeat, or when it failed before
   * `sent()` was called (nothing reached the node yet).
   */
  async #run<T>(
    opts: { op: string; intent: Intent; safe: boolean; tried?: Set<string> },
    fn: (ep: Endpoint, remote: RemoteSource, sent: () => void) => Promise<T>,
  ): Promise<T> {
    const deadline = Date.now() + this.#waitMs;
    const tried = opts.tried ?? new Set<string>();
    let last: FsError | undefined;
    for (;;) {
      const ep = await this.#choose({ op: opts.op, intent: opts.intent, tried, deadline, last });
      const remote = ep.remote!;
      const session = ep.session;
      let wasSent = false;
      try {
        return await fn(ep, remote, () => {
          wasSent = true;
        });
      } catch (err) {
        const e = FsError.from(err, opts.op);
        if (!this.#endpointFault(e, remote)) throw e;
        ep.recordError(e);
        tried.add(`${ep.url}#${session}`);
        last = e;
        if (!opts.safe && wasSent) throw e;
        this.#log.info('retrying on another endpoint', { op: opts.op, from: ep.url, error: e.message });
      }
    }
  }

  #local(id: NodeId, op: string): bigint {
    if (exportIndexOf(id) !== ALIAS_EXPORT_INDEX) throw FsError.ESTALE(op, id.toString());
    return localPartOf(id);
  }

  #idsOrFail(op: string): AliasIds {
    if (!this.#ids) throw FsError.ENOTCONN(op, this.alias, 'no endpoint has been reached yet');
    return this.#ids;
  }

  /** The id of `local` on `ep`, looking its path up there when not known yet. */
  async #inner(ep: Endpoint, remote: RemoteSource, local: bigint, op: string): Promise<NodeId> {
    const ids = this.#idsOrFail(op);
    const known = ids.innerOf(ep.url, local);
    if (known !== undefined) return known;
    const where = ids.where(local);
    if (where === undefined || where.parent === 0n)
      throw FsError.ESTALE(op, makeId(ALIAS_EXPORT_INDEX, local).toString(), `not known on ${ep.url}`);
    const parent = await this.#inner(ep, remote, where.parent, op);
    let entry: Entry;
    try {
      entry = await remote.lookup({ parent, name: where.name });
    } catch (err) {
      if (FsError.is(err, 'ENOENT'))
        throw FsError.ESTALE(op, where.name, `gone on ${ep.url} (found no file by that name there)`);
      throw err;
    }
    ids.bind(ep.url, local, entry.id);
    return entry.id;
  }

  #entry(ep: Endpoint, parent: bigint, name: string, e: Entry): Entry {
    return {
      id: makeId(ALIAS_EXPORT_INDEX, this.#idsOrFail('lookup').learn(ep.url, parent, name, e.id)),
      attr: e.attr,
    };
  }

  #handle(handle: Handle, op: string): OpenHandle {
    const h = this.#handles.get(handle);
    if (!h) throw FsError.EBADF(op, String(handle));
    return h;
  }

  /** The live session of a handle, or the error saying it is gone. */
  #sessionOf(h: OpenHandle, op: string): RemoteSource {
    const remote = h.ep.remote;
    if (remote && h.ep.session === h.session) return remote;
    throw FsError.EIO(
      op,
      h.ep.url,
      h.flags.write
        ? 'the session ended while the file was open for writing; what was written through this handle is lost'
        : 'the session ended while the file held locks; the locks are gone',
    );
  }

  /**
   * An operation on the files `ids` (the directory, for a change to a name in it), on the
   * endpoint the router picks: `fn` gets their ids there. Reads are repeated on the next
   * endpoint when one fails; a write only until it is sent, which is once every id has been
   * found on the endpoint.
   */
  #on<T>(
    op: string,
    intent: Intent,
    ids: readonly [NodeId, ...NodeId[]],
    fn: (remote: RemoteSource, ep: Endpoint, ...inner: NodeId[]) => Promise<T>,
  ): Promise<T> {
    const locals = ids.map((id) => this.#local(id, op));
    return this.#run({ op, intent, safe: intent === 'read' }, async (ep, remote, sent) => {
      const inner: NodeId[] = [];
      for (const local of locals) inner.push(await this.#inner(ep, remote, local, op));
      sent();
      return fn(remote, ep, ...inner);
    });
  }

  protected override async doLookup(req: SourceRequest<'lookup'>): Promise<Entry> {
    return this.#on('lookup', 'read', [req.parent], async (remote, ep, parent) =>
      this.#entry(ep, localPartOf(req.parent), req.name, await remote.lookup({ parent, name: req.name })),
    );
  }

  protected override async doGetattr(req: SourceRequest<'getattr'>): Promise<Attr> {
    return this.#on('getattr', 'read', [req.id], (remote, _ep, id) => remote.getattr({ id }));
  }

  protected override async doSetattr(req: SourceRequest<'setattr'>): Promise<Attr> {
    if (req.handle !== undefined) {
      const h = this.#handle(req.handle, 'setattr');
      const remote = await this.#live(h, 'setattr');
      return remote.setattr({
        ...req,
        id: await this.#inner(h.ep, remote, this.#local(req.id, 'setattr'), 'setattr'),
        handle: h.inner,
      });
    }
    return this.#on('setattr', 'write', [req.id], (remote, _ep, id) => remote.setattr({ ...req, id }));
  }

  /** Listing cookies name the endpoint they belong to: `<endpoint index>:<its cookie>`. */
  protected override async doReaddirp(
    req: SourceRequest<'readdirp'>,
  ): Promise<{ entries: DirEntry[]; cookie: string; eof: boolean }> {
    const dir = this.#local(req.dir, 'readdirp');
    const list = async (ep: Endpoint, remote: RemoteSource, cookie: string) => {
      const page = await remote.readdirp({
        dir: await this.#inner(ep, remote, dir, 'readdirp'),
        cookie,
        max: req.max,
      });
      return {
        entries: page.entries.map((e) => ({ name: e.name, ...this.#entry(ep, dir, e.name, e) })),
        cookie: `${this.#eps.indexOf(ep)}:${page.cookie}`,
        eof: page.eof,
      };
    };
    if (req.cookie === '')
      return this.#run({ op: 'readdirp', intent: 'read', safe: true }, (ep, remote) => list(ep, remote, ''));
    const m = /^(\d+):(.*)$/s.exec(req.cookie);
    const ep = m ? this.#eps[Number(m[1])] : undefined;
    if (!m || !ep) throw FsError.EINVAL('readdirp', req.cookie, 'not a cookie of this listing');
    const remote = ep.remote;
    if (!remote) {
      throw new FsError({
        code: 'ECONNRESET',
        op: 'readdirp',
        path: ep.url,
        detail: 'the endpoint this listing started on is gone; list the directory again',
        retryable: true,
      });
    }
    return list(ep, remote, m[2]!);
  }

  protected override async doOpenFile(req: SourceRequest<'openFile'>): Promise<{ handle: Handle }> {
    const local = this.#local(req.id, 'open');
    const opened = await this.#open(local, req.flags);
    const handle = this.#nextHandle++;
    this.#handles.set(handle, opened);
    return { handle };
  }

  async #open(local: bigint, flags: OpenFlags, tried?: Set<string>): Promise<OpenHandle> {
    const intent = flags.write ? 'write' : 'read';
    return this.#run(
      { op: 'open', intent, safe: flags.truncate !== true, tried },
      async (ep, remote, sent) => {
        const id = await this.#inner(ep, remote, local, 'open');
        sent();
        const { handle } = await remote.openFile({ id, flags });
        return { local, flags, ep, session: ep.session, inner: handle, locked: false };
      },
    );
  }

  /**
   * A read-only handle whose session failed moves: it is opened again on the endpoint the
   * router picks next (excluding the failed session) and the read repeats there, at the
   * same offset. Handles open for writing, or holding locks, cannot move.
   */
  protected override async doRead(req: SourceRequest<'read'>): Promise<Uint8Array> {
    const h = this.#handle(req.handle, 'read');
    for (let attempt = 0; ; attempt++) {
      const remote = await this.#live(h, 'read');
      try {
        return await remote.read({ handle: h.inner, offset: req.offset, length: req.length, into: req.into });
      } catch (err) {
        const e = FsError.from(err, 'read');
        if (!this.#endpointFault(e, remote) || !movable(h) || attempt > 2 * this.#eps.length) throw e;
        h.ep.recordError(e);
        if (h.ep.remote === remote) await this.#move(h, req.offset);
      }
    }
  }

  /** The live session of a handle: a read-only one moves when its session is gone. */
  async #live(h: OpenHandle, op: string): Promise<RemoteSource> {
    const remote = h.ep.remote;
    if (remote && h.ep.session === h.session) return remote;
    if (!movable(h)) return this.#sessionOf(h, op);
    await this.#move(h, undefined);
    return this.#live(h, op);
  }

  async #move(h: OpenHandle, offset: number | undefined): Promise<void> {
    const from = h.ep;
    const old = { remote: h.ep.remote, session: h.session, inner: h.inner };
    const next = await this.#open(h.local, h.flags, new Set([`${from.url}#${h.session}`]));
    if (old.remote && from.session === old.session)
      void old.remote.closeFile({ handle: old.inner }).catch(() => undefined);
    Object.assign(h, { ep: next.ep, session: next.session, inner: next.inner });
    this.#moved++;
    this.#log.info('read handle moved', { from: from.url, to: next.ep.url, offset });
    for (const l of [...this.#statusListeners]) l();
  }

  protected override async doWrite(req: SourceRequest<'write'>): Promise<{ written: number }> {
    const h = this.#handle(req.handle, 'write');
    return this.#sessionOf(h, 'write').write({ ...req, handle: h.inner });
  }

  protected override async doFlush(req: SourceRequest<'flush'>): Promise<void> {
    const h = this.#handle(req.handle, 'flush');
    return this.#sessionOf(h, 'flush').flush({ handle: h.inner });
  }

  /** A close's last write travels with it to the remote node. */
  protected override get closeCarriesWrite(): boolean {
    return true;
  }

  protected override async doCloseFile(req: SourceRequest<'closeFile'>): Promise<void> {
    const h = this.#handle(req.handle, 'close');
    if (req.write !== undefined) {
      // A failed write leaves the handle open.
      await this.#sessionOf(h, 'write').closeFile({ handle: h.inner, write: req.write });
      this.#handles.delete(req.handle);
      return;
    }
    this.#handles.delete(req.handle);
    const remote = h.ep.remote;
    if (remote && h.ep.session === h.session) return remote.closeFile({ handle: h.inner, abort: req.abort });
    // The node closed it with the session; that loses only what was written through it.
    if (h.flags.write && req.abort !== true) this.#sessionOf(h, 'close');
  }

  protected override async doCreate(req: SourceRequest<'create'>): Promise<Entry & { handle: Handle }> {
    return this.#on('create', 'write', [req.parent], async (remote, ep, parent) => {
      const created = await remote.create({ ...req, parent });
      const entry = this.#entry(ep, localPartOf(req.parent), req.name, created);
      const handle = this.#nextHandle++;
      const flags = req.flags ?? { read: false, write: true };
      this.#handles.set(handle, {
        local: localPartOf(entry.id),
        flags: { ...flags, write: true },
        ep,
        session: ep.session,
        inner: created.handle,
        locked: false,
      });
      return { ...entry, handle };
    });
  }

  protected override async doMkdir(req: SourceRequest<'mkdir'>): Promise<Entry> {
    return this.#on('mkdir', 'write', [req.parent], async (remote, ep, parent) =>
      this.#entry(ep, localPartOf(req.parent), req.name, await remote.mkdir({ ...req, parent })),
    );
  }

  protected override async doSymlink(req: SourceRequest<'symlink'>): Promise<Entry> {
    return this.#on('symlink', 'write', [req.parent], async (remote, ep, parent) =>
      this.#entry(ep, localPartOf(req.parent), req.name, await remote.symlink({ ...req, parent })),
    );
  }

  protected override async doUnlink(req: SourceRequest<'unlink'>): Promise<void> {
    await this.#on('unlink', 'write', [req.parent], (remote, _ep, parent) =>
      remote.unlink({ ...req, parent }),
    );
    this.#ids?.removed({ parent: localPartOf(req.parent), name: req.name });
  }

  protected override async doRmdir(req: SourceRequest<'rmdir'>): Promise<void> {
    await this.#on('rmdir', 'write', [req.parent], (remote, _ep, parent) => remote.rmdir({ ...req, parent }));
    this.#ids?.removed({ parent: localPartOf(req.parent), name: req.name });
  }

  protected override async doRename(req: SourceRequest<'rename'>): Promise<void> {
    await this.#on('rename', 'write', [req.parent, req.newParent], (remote, _ep, parent, newParent) =>
      remote.rename({ ...req, parent, newParent }),
    );
    this.#ids?.moved({
      parent: localPartOf(req.parent),
      name: req.name,
      newParent: localPartOf(req.newParent),
      newName: req.newName,
    });
  }

  protected override async doLink(req: SourceRequest<'link'>): Promise<Entry> {
    return this.#on('link', 'write', [req.id, req.newParent], async (remote, ep, id, newParent) =>
      this.#entry(ep, localPartOf(req.newParent), req.newName, await remote.link({ ...req, id, newParent })),
    );
  }

  /**
   * Server-side content hash of a file, or of a byte range of it (`HASH`), on the endpoint the
   * router picks: a client cache over the alias verifies its fills with it.
   */
  async hash(req: {
    id: NodeId;
    offset?: number | undefined;
    length?: number | undefined;
  }): Promise<{ algo: 'sha256'; hex: string; size: number }> {
    return this.#on('hash', 'read', [req.id], (remote, _ep, id) => remote.hash({ ...req, id }));
  }

  protected override async doReadlink(req: SourceRequest<'readlink'>): Promise<string> {
    return this.#on('readlink', 'read', [req.id], (remote, _ep, id) => remote.readlink({ id }));
  }

  protected override async doGetxattr(req: SourceRequest<'getxattr'>): Promise<Uint8Array> {
    return this.#on('getxattr', 'read', [req.id], (remote, _ep, id) => remote.getxattr({ ...req, id }));
  }

  protected override async doListxattr(req: SourceRequest<'listxattr'>): Promise<string[]> {
    return this.#on('listxattr', 'read', [req.id], (remote, _ep, id) => remote.listxattr({ id }));
  }

  protected override async doSetxattr(req: SourceRequest<'setxattr'>): Promise<void> {
    return this.#on('setxattr', 'write', [req.id], (remote, _ep, id) => remote.setxattr({ ...req, id }));
  }

  protected override async doRemovexattr(req: SourceRequest<'removexattr'>): Promise<void> {
    return this.#on('removexattr', 'write', [req.id], (remote, _ep, id) =>
      remote.removexattr({ ...req, id }),
    );
  }

  protected override async doLock(req: SourceRequest<'lock'>): Promise<LockInfo | null> {
    const h = this.#handle(req.handle, 'lock');
    const remote = await this.#live(h, 'lock');
    const out = await remote.lock({ ...req, handle: h.inner });
    if (req.cmd !== 'test' && req.type !== 'unlock') h.locked = true;
    return out;
  }

  protected override async doStatfs(req: SourceRequest<'statfs'>): Promise<StatFs> {
    return this.#on('statfs', 'read', [req.id], (remote, _ep, id) => remote.statfs({ id }));
  }
}

/** Whether a handle may be reopened elsewhere: nothing written through it, no locks held. */
function movable(h: OpenHandle): boolean {
  return !h.flags.write && !h.locked;
}
