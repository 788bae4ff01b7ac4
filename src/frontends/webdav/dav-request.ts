import type { IncomingMessage, ServerResponse } from 'node:http';
import { FsError } from '../../core/fs-error.ts';
import { etagOf, headerOf } from '../http-conditions.ts';
import { exportIndexOf, type NodeId, rootId } from '../../core/ids.ts';
import type { Grant } from '../../namespace/authorization.ts';
import type { Caps, Entry, ExportInfo, Source } from '../../sources/source.ts';
import { evaluateIf, type IfList, parseIfHeader, submittedTokens } from './dav-if.ts';
import type { DavLockManager } from './dav-locks.ts';
import { type DavPath, parentOf, parseDavPath } from './dav-paths.ts';
import { MAX_XML_BODY, parseXml, type XmlElement } from './dav-xml.ts';

/**
 * One authenticated WebDAV request: the principal's view of the namespace, the resource path,
 * the `If` header, and the lookups every method needs.
 */
export class DavRequest {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** The namespace as the request's credential may see and change it. */
  readonly view: Source;
  readonly grant: Grant;
  readonly path: DavPath;
  readonly prefix: string;
  readonly locks: DavLockManager;
  readonly #ifLists: IfList[] | undefined;
  /** Lock tokens the request presents (`If` header). */
  readonly tokens: ReadonlySet<string>;
  #exports: Promise<ExportInfo[]> | undefined;

  constructor(opts: {
    req: IncomingMessage;
    res: ServerResponse;
    view: Source;
    grant: Grant;
    path: DavPath;
    prefix: string;
    locks: DavLockManager;
  }) {
    this.req = opts.req;
    this.res = opts.res;
    this.view = opts.view;
    this.grant = opts.grant;
    this.path = opts.path;
    this.prefix = opts.prefix;
    this.locks = opts.locks;
    const header = headerOf(opts.req, 'if');
    this.#ifLists = header === undefined ? undefined : parseIfHeader(header);
    this.tokens = this.#ifLists ? submittedTokens(this.#ifLists) : new Set();
  }

  /** A request header as one string (repeated headers joined with ', '). */
  header(name: string): string | undefined {
    return headerOf(this.req, name);
  }

  /** The entry at `path` (`ENOENT` when missing, `ENOTDIR` through a file). */
  async resolve(path: DavPath = this.path): Promise<Entry> {
    const root = rootId(0);
    let cur: Entry = { id: root, attr: await this.view.getattr({ id: root }) };
    for (const name of path.segments) {
      if (cur.attr.kind !== 'dir') throw FsError.ENOTDIR('webdav', path.key);
      cur = await this.view.lookup({ parent: cur.id, name });
    }
    return cur;
  }

  /** The entry at `path`, or undefined when nothing is there. */
  async find(path: DavPath = this.path): Promise<Entry | undefined> {
    try {
      return await this.resolve(path);
    } catch (err) {
      if (isGone(err)) return undefined;
      throw err;
    }
  }

  /**
   * The parent collection of a non-root `path` and the entry at `path`, in one walk (the
   * methods that change `path` need both). `parent` is undefined when the collection is
   * missing, `entry` when nothing is at `path`; a file in the parent's place is `ENOTDIR`.
   */
  async locate(path: DavPath = this.path): Promise<{ parent: Entry | undefined; entry: Entry | undefined }> {
    const name = path.segments.at(-1);
    if (name === undefined) throw FsError.EACCES('webdav', '/', 'the namespace root has no parent');
    const parent = await this.find(parentOf(path));
    if (!parent) return { parent: undefined, entry: undefined };
    if (parent.attr.kind !== 'dir') throw FsError.ENOTDIR('webdav', path.key);
    try {
      return { parent, entry: await this.view.lookup({ parent: parent.id, name }) };
    } catch (err) {
      if (isGone(err)) return { parent, entry: undefined };
      throw err;
    }
  }

  /**
   * The parent collection {@link locate} found, for a method that creates `path`: a missing
   * one is 409 Conflict (RFC 4918 §9.7.1).
   */
  parentDir(parent: Entry | undefined, path: DavPath = this.path): Entry {
    if (!parent) throw new DavStatusError(409, `the parent collection ${parentOf(path).key} does not exist`);
    return parent;
  }

  /** The capabilities of the export holding `id` (the namespace root's for export 0). */
  async capsOf(id: NodeId): Promise<Caps | undefined> {
    this.#exports ??= this.view.listExports();
    const slot = exportIndexOf(id);
    return (await this.#exports).find((e) => exportIndexOf(e.root) === slot)?.caps;
  }

  /**
   * Check the `If` header (412 when no list holds) and the locks in the way of changing the
   * request's resource (423 without their tokens); see {@link checkLocks}.
   */
  async checkWrite(opts: { membership?: boolean; subtree?: boolean } = {}): Promise<void> {
    await this.checkIf();
    this.checkLocks(opts);
  }

  /**
   * Refuse a change to `path` (default: the request's) while a lock whose token the request
   * lacks is in the way (423). `membership`: the change adds or removes `path` in its parent
   * collection; `subtree`: it also changes everything below `path`. The lock half of
   * {@link checkWrite}, for requests that evaluate their `If` header once and check two
   * paths (COPY, MOVE) or the parent only when they create (LOCK).
   */
  checkLocks(opts: { path?: DavPath; membership?: boolean; subtree?: boolean } = {}): void {
    const path = opts.path ?? this.path;
    this.locks.check({
      path,
      parent: opts.membership === true && path.segments.length > 0 ? parentOf(path) : undefined,
      subtree: opts.subtree,
      tokens: this.tokens,
      credentialId: this.grant.credentialId,
    });
  }

  /** Evaluate the `If` header, if any: 412 Precondition Failed when no list holds. */
  async checkIf(): Promise<void> {
    if (!this.#ifLists) return;
    const holds = await evaluateIf({
      lists: this.#ifLists,
      requestPath: this.path,
      resolveTag: (url) => {
        try {
          return parseDavPath({ pathname: new URL(url, 'http://tag.invalid').pathname, prefix: this.prefix });
        } catch {
          return undefined;
        }
      },
      hasLock: (path, token) => this.locks.covering(path).some((l) => l.token === token),
      etagOf: async (path) => {
        const entry = await this.find(path);
        return entry ? etagOf(entry) : undefined;
      },
    });
    if (!holds) throw new DavStatusError(412, 'the If header matches no current state');
  }

  /** The request body as text (at most {@link MAX_XML_BODY} bytes; more is `E2BIG`, 413). */
  async bodyText(): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of this.req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_XML_BODY) throw FsError.E2BIG('webdav', this.path.key, 'request body too large');
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  /** The request's XML body, or undefined when it has none. */
  async bodyXml(): Promise<XmlElement | undefined> {
    const text = await this.bodyText();
    return text.trim() === '' ? undefined : parseXml(text);
  }

  /** The `Depth` header: '0', '1' or 'infinity' (default `fallback`); anything else `EINVAL`. */
  depth(fallback: '0' | '1' | 'infinity'): '0' | '1' | 'infinity' {
    const header = this.header('depth')?.trim().toLowerCase();
    if (header === undefined || header === '') return fallback;
    if (header === '0' || header === '1' || header === 'infinity') return header;
    throw FsError.EINVAL('webdav', 'Depth', `Depth must be 0, 1 or infinity, not '${header}'`);
  }

  /** The `Overwrite` header: true unless 'F'. */
  overwrite(): boolean {
    const header = this.header('overwrite')?.trim().toUpperCase();
    if (header === undefined || header === 'T') return true;
    if (header === 'F') return false;
    throw FsError.EINVAL('webdav', 'Overwrite', `Overwrite must be T or F, not '${header}'`);
  }
}

/**
 * An answer WebDAV defines apart from the errno table: 412 for a failed precondition (`If`,
 * `If-Match`, `Overwrite: F`), 409 for a missing parent collection, 405 for a method the
 * resource does not allow, 415 for a body MKCOL does not understand, 502 for a Destination
 * on another server. Every other failure is an `FsError` answered through the errno table.
 */
export class DavStatusError extends Error {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.name = 'DavStatusError';
    this.status = status;
  }
}

/** Whether a lookup failed because nothing is (or is any longer) there. */
function isGone(err: unknown): boolean {
  return FsError.is(err, 'ENOENT') || FsError.is(err, 'ESTALE');
}
