import { FsError } from '../core/fs-error.ts';
import type { NodeId } from '../core/ids.ts';
import { MAX_PAYLOAD_BYTES } from '../protocol/frames.ts';
import type { Request } from '../protocol/messages.ts';
import { type Handle, type LockInfo, type Source, writeWhole } from '../sources/source.ts';
import { type Authorizer, type Cap, openNeeds } from '../namespace/authorization.ts';
import type { ReadLease } from './read-buffers.ts';
import { hashFile, type KeyedMutex, takeFromDir, watchChanges } from './file-ops.ts';
import type { SessionHandle, SessionHandles } from './session-handles.ts';
import type { Subscriptions } from './subscriptions.ts';

/** What an op runs against: the served Source and the session's state. */
export interface OpContext {
  source: Source;
  authz: Authorizer;
  handles: SessionHandles;
  subs: Subscriptions;
  /** Per-directory mutex shared by every session of the node (TAKE). */
  takes: KeyedMutex;
  /** Aborted when the client cancels the request or the session ends. */
  signal: AbortSignal;
  /** Prefix that keeps this session's lock owners apart from other sessions'. */
  lockPrefix: string;
  /** Lock owners this session named, per handle (released when the session ends). */
  lockOwners: Map<Handle, Set<string>>;
  /** Issue a ticket for a sealed connection (SEAL); undefined where the session cannot offer one. */
  sealTicket?: (() => string) | undefined;
  /** A pooled buffer for a READ of `length` bytes (see read-buffers.ts), if any. */
  readLease?: ((length: number) => ReadLease | undefined) | undefined;
}

/** A successful answer: the result object and the bytes that go with it. */
export interface OpOutcome {
  result: unknown;
  payload?: Uint8Array | undefined;
  /** The pooled buffer `payload` was read into: released once the answer is sent. */
  lease?: ReadLease | undefined;
}

const NONE: OpOutcome = { result: {} };

function check(ctx: OpContext, id: NodeId, caps: readonly Cap[], op: string): void {
  ctx.authz.check({ id, caps, op });
}

function handleFor(ctx: OpContext, wire: Handle, caps: readonly Cap[], op: string): SessionHandle {
  const h = ctx.handles.get(wire, op);
  ctx.authz.checkSlot({ slot: h.slot, caps, op, path: String(wire) });
  return h;
}

/**
 * Run one authenticated request against the served Source, with the session's
 * authorization applied to what goes in (every id and handle is checked) and what comes out
 * (invisible exports filtered, execute bits cleared without `execute`).
 */
export async function dispatch(ctx: OpContext, req: Request): Promise<OpOutcome> {
  const { source, authz } = ctx;
  switch (req.op) {
    case 'HELLO':
    case 'AUTH':
    case 'RESUME':
      throw FsError.EPROTO(req.op, undefined, 'the session is already authenticated');
    case 'SEAL':
      if (ctx.sealTicket === undefined)
        throw FsError.EOPNOTSUPP(
          'seal',
          undefined,
          'sealed connections need a TLS session and the tessera_seal addon on the node',
        );
      return { result: { ticket: ctx.sealTicket() } };
    case 'PING':
      return { result: { timeMs: Date.now() } };
    case 'EXPORTS':
      return { result: { exports: authz.exports(await source.listExports()) } };
    case 'LOOKUP': {
      const { parent, name } = req.args;
      check(ctx, parent, ['show'], 'lookup');
      const entry = await source.lookup({ parent, name });
      if (!authz.shows(entry.id)) throw FsError.ENOENT('lookup', name);
      return { result: authz.entry(entry) };
    }
    case 'GETATTR':
      check(ctx, req.args.id, ['show'], 'getattr');
      return { result: authz.attr(await source.getattr({ id: req.args.id })) };
    case 'SETATTR': {
      const { id, handle, ...rest } = req.args;
      check(ctx, id, ['write'], 'setattr');
      if (rest.mode !== undefined && !authz.canExecute) {
        const { kind } = await source.getattr({ id });
        authz.checkSetMode({ mode: rest.mode, kind, op: 'setattr', path: id.toString() });
      }
      const inner = handle === undefined ? undefined : handleFor(ctx, handle, ['write'], 'setattr').inner;
      return { result: authz.attr(await source.setattr({ ...rest, id, handle: inner })) };
    }
    case 'READDIRP': {
      check(ctx, req.args.dir, ['show'], 'readdirp');
      const page = await source.readdirp(req.args);
      return { result: { entries: authz.entries(page.entries), cookie: page.cookie, eof: page.eof } };
    }
    case 'OPEN': {
      const { id, flags } = req.args;
      const { caps, writing } = openNeeds(flags);
      check(ctx, id, caps, 'open');
      ctx.handles.checkRoom('open');
      const { handle } = await source.openFile({ id, flags });
      const wire = await ctx.handles.add({ inner: handle, id, read: flags.read, write: writing, op: 'open' });
      return { result: { handle: wire } };
    }
    case 'READ': {
      const { handle, offset, length } = req.args;
      const h = handleFor(ctx, handle, ['read'], 'read');
      if (length > MAX_PAYLOAD_BYTES) {
        throw FsError.EINVAL(
          'read',
          String(handle),
          `length ${length} above ${MAX_PAYLOAD_BYTES}: read in chunks`,
        );
      }
      const lease = ctx.readLease?.(length);
      try {
        return {
          result: {},
          payload: await source.read({ handle: h.inner, offset, length, into: lease?.into }),
          lease,
        };
      } catch (err) {
        lease?.release();
        throw err;
      }
    }
    case 'WRITE': {
      const h = handleFor(ctx, req.args.handle, ['write'], 'write');
      const data = req.payload ?? Buffer.alloc(0);
      return { result: await source.write({ handle: h.inner, offset: req.args.offset, data }) };
    }
    case 'FLUSH':
      await source.flush({ handle: handleFor(ctx, req.args.handle, [], 'flush').inner });
      return NONE;
    case 'CLOSE': {
      const { handle, abort, offset } = req.args;
      let write = req.payload === undefined ? undefined : { offset: offset ?? 0, data: req.payload };
      if (write !== undefined && abort === true)
        throw FsError.EINVAL('close', String(handle), 'abort together with write');
      // The last write of the handle, carried by its close: authorized like a WRITE.
      const inner = handleFor(ctx, handle, write === undefined ? [] : ['write'], 'close').inner;
      const owners = ctx.lockOwners.get(handle);
      if (write !== undefined && owners !== undefined) {
        // Locks go before the handle does, and a failed write must leave both in place.
        await writeWhole({ write: (w) => source.write(w), req: { handle: inner, ...write } });
        write = undefined;
      }
      // Locks under owner names the client chose outlive a handle in the Source: drop them.
      ctx.lockOwners.delete(handle);
      await unlockOwners(source, inner, owners ?? []);
      await ctx.handles.close(handle, 'close', { abort: abort === true, write });
      return NONE;
    }
    case 'CREATE': {
      const { parent, flags } = req.args;
      check(ctx, parent, flags?.read === true ? ['write', 'read'] : ['write'], 'create');
      ctx.handles.checkRoom('create');
      const mode = authz.createMode({ mode: req.args.mode, kind: 'file' });
      const created = await source.create({ ...req.args, mode });
      const handle = await ctx.handles.add({
        inner: created.handle,
        id: created.id,
        read: flags?.read === true,
        write: true,
        op: 'create',
      });
      return { result: { id: created.id, attr: authz.attr(created.attr), handle } };
    }
    case 'MKDIR':
      check(ctx, req.args.parent, ['write'], 'mkdir');
      return { result: authz.entry(await source.mkdir(req.args)) };
    case 'UNLINK':
      check(ctx, req.args.parent, ['write'], 'unlink');
      await source.unlink(req.args);
      return NONE;
    case 'RMDIR':
      check(ctx, req.args.parent, ['write'], 'rmdir');
      await source.rmdir(req.args);
      return NONE;
    case 'RENAME':
      check(ctx, req.args.parent, ['write'], 'rename');
      check(ctx, req.args.newParent, ['write'], 'rename');
      await source.rename(req.args);
      return NONE;
    case 'SYMLINK':
      check(ctx, req.args.parent, ['write'], 'symlink');
      return { result: authz.entry(await source.symlink(req.args)) };
    case 'READLINK':
      check(ctx, req.args.id, ['read'], 'readlink');
      return { result: { target: await source.readlink(req.args) } };
    case 'LINK':
      check(ctx, req.args.id, ['show'], 'link');
      check(ctx, req.args.newParent, ['write'], 'link');
      return { result: authz.entry(await source.link(req.args)) };
    case 'GETXATTR':
      check(ctx, req.args.id, ['read'], 'getxattr');
      return { result: {}, payload: await source.getxattr(req.args) };
    case 'SETXATTR':
      check(ctx, req.args.id, ['write'], 'setxattr');
      await source.setxattr({ ...req.args, value: req.payload ?? Buffer.alloc(0) });
      return NONE;
    case 'LISTXATTR':
      check(ctx, req.args.id, ['read'], 'listxattr');
      return { result: { names: await source.listxattr(req.args) } };
    case 'REMOVEXATTR':
      check(ctx, req.args.id, ['write'], 'removexattr');
      await source.removexattr(req.args);
      return NONE;
    case 'LOCK':
      return { result: { conflict: await lock(ctx, req.args) } };
    case 'STATFS':
      check(ctx, req.args.id, ['show'], 'statfs');
      return { result: await source.statfs(req.args) };
    case 'HASH':
      check(ctx, req.args.id, ['read'], 'hash');
      return {
        result: await hashFile({
          source,
          id: req.args.id,
          offset: req.args.offset,
          length: req.args.length,
          signal: ctx.signal,
        }),
      };
    case 'SUBSCRIBE':
      return { result: { sub: ctx.subs.subscribe() } };
    case 'UNSUBSCRIBE':
      ctx.subs.unsubscribe(req.args.sub);
      return NONE;
    case 'WAIT': {
      const { id, timeoutMs } = req.args;
      check(ctx, id, ['show'], 'wait');
      const watch = watchChanges({ source, id, visible: (ev) => authz.showsEvent(ev) });
      try {
        await source.getattr({ id }); // ESTALE for an id that is gone
        const ev = await watch.next({ timeoutMs, signal: ctx.signal });
        return { result: ev ? { changed: true, events: [ev] } : { changed: false, events: [] } };
      } finally {
        watch.stop();
      }
    }
    case 'TAKE': {
      const { dir, timeoutMs } = req.args;
      check(ctx, dir, ['read', 'write'], 'take');
      const taken = await takeFromDir({
        source,
        dir,
        timeoutMs,
        mutex: ctx.takes,
        signal: ctx.signal,
        visible: (ev) => authz.showsEvent(ev),
      });
      return { result: { name: taken.name, size: taken.data.length }, payload: taken.data };
    }
  }
}

type LockArgs = Extract<Request, { op: 'LOCK' }>['args'];

/**
 * LOCK on a session handle. Owners a client names are prefixed with the session, so a
 * session can never release or inherit another session's locks; a `wait` can be cancelled
 * (and a lock granted after the cancel is given back at once).
 */
async function lock(ctx: OpContext, args: LockArgs): Promise<LockInfo | null> {
  const h = handleFor(ctx, args.handle, [], 'lock');
  let owner: string | undefined;
  if (args.owner !== undefined) {
    owner = `${ctx.lockPrefix}${args.owner}`;
    let owners = ctx.lockOwners.get(args.handle);
    if (!owners) ctx.lockOwners.set(args.handle, (owners = new Set()));
    owners.add(owner);
  }
  const req = { ...args, handle: h.inner, owner };
  const pending = ctx.source.lock(req);
  let conflict: LockInfo | null;
  if (args.cmd === 'wait') {
    conflict = await abortable(pending, ctx.signal, () => {
      void pending
        .then(() => ctx.source.lock({ ...req, cmd: 'set', type: 'unlock' }).catch(() => undefined))
        .catch(() => undefined);
    });
  } else conflict = await pending;
  if (!conflict) return null;
  // Report other sessions' owners without their session ids.
  const mine = conflict.owner.startsWith(ctx.lockPrefix);
  return { ...conflict, owner: mine ? conflict.owner.slice(ctx.lockPrefix.length) : 'another owner' };
}

/** Release what `owners` hold through `handle`, flocks and POSIX locks alike; errors are ignored. */
export async function unlockOwners(source: Source, handle: Handle, owners: Iterable<string>): Promise<void> {
  for (const owner of owners) {
    for (const kind of ['posix', 'flock'] as const) {
      await source
        .lock({ handle, cmd: 'set', type: 'unlock', start: 0, length: 0, owner, kind })
        .catch(() => undefined);
    }
  }
}

/** `promise`, or the signal's reason if it aborts first (then `onAbandon` runs). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal, onAbandon: () => void): Promise<T> {
  if (signal.aborted) {
    onAbandon();
    return Promise.reject(signal.reason as Error);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      onAbandon();
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(FsError.from(err, 'lock'));
      },
    );
  });
}
