import type { Attr } from '../core/attr.ts';
import { FsError } from '../core/fs-error.ts';
import { exportIndexOf, type NodeId } from '../core/ids.ts';
import type { DirEntry, Entry, ExportInfo, Invalidation, OpenFlags } from '../sources/source.ts';
import { opensForWrite } from '../sources/source.ts';

/** What a credential may do on the exports it covers. */
export interface CredentialCaps {
  show: boolean;
  read: boolean;
  write: boolean;
  execute: boolean;
}

/** A capability an op may need on the export it touches. */
export type Cap = keyof CredentialCaps;

/** What an authenticated session may do. */
export interface Grant {
  credentialId: string;
  principal: string;
  /** Export names it covers, or every export. */
  exports: ReadonlySet<string> | '*';
  caps: CredentialCaps;
}

const EXEC_BITS = 0o111;

/**
 * What opening a file with `flags` needs: `write` when it changes the file (write, truncate
 * or append), `read` when it reads or does nothing else. `writing` is what the handle may do.
 */
export function openNeeds(flags: OpenFlags): { caps: Cap[]; writing: boolean } {
  const writing = opensForWrite(flags);
  const caps: Cap[] = [];
  if (flags.read || !writing) caps.push('read');
  if (writing) caps.push('write');
  return { caps, writing };
}

/**
 * A session's authorization, checked on every op against the export an id belongs to (its
 * export index, the namespace slot). Export 0, the namespace's own root, is always visible;
 * an export the grant does not cover is invisible: its ids answer `ESTALE` as if they did
 * not exist and listings leave it out. A missing capability answers `EACCES`. Without
 * `execute`, the execute bits of non-directories are cleared from every attribute the
 * session sees (a directory's x bits are its search permission, which `show` governs).
 */
export class Authorizer {
  readonly grant: Grant;
  readonly #exportOfSlot: (slot: number) => string | undefined;

  constructor(opts: { grant: Grant; exportOfSlot: (slot: number) => string | undefined }) {
    this.grant = opts.grant;
    this.#exportOfSlot = opts.exportOfSlot;
  }

  /** Whether the export in slot `slot` exists for this session. */
  showsSlot(slot: number): boolean {
    if (slot === 0) return true;
    const name = this.#exportOfSlot(slot);
    if (name === undefined) return false;
    return this.grant.exports === '*' || this.grant.exports.has(name);
  }

  /** Whether ids of `id`'s export are visible. */
  shows(id: NodeId): boolean {
    return this.showsSlot(exportIndexOf(id));
  }

  /** Throw unless the session may use `id` for something needing `caps`. */
  check(opts: { id: NodeId; caps: readonly Cap[]; op: string }): void {
    this.checkSlot({ slot: exportIndexOf(opts.id), caps: opts.caps, op: opts.op, path: opts.id.toString() });
  }

  /** Throw unless the session may use slot `slot` for something needing `caps`. */
  checkSlot(opts: { slot: number; caps: readonly Cap[]; op: string; path: string }): void {
    if (!this.showsSlot(opts.slot)) throw FsError.ESTALE(opts.op, opts.path);
    for (const cap of opts.caps) {
      if (!this.grant.caps[cap]) {
        throw FsError.EACCES(opts.op, opts.path, `credential ${this.grant.principal} may not ${cap} here`);
      }
    }
  }

  /** Whether the session may execute files. */
  get canExecute(): boolean {
    return this.grant.caps.execute;
  }

  /** An attribute as this session sees it. */
  attr(attr: Attr): Attr {
    if (this.grant.caps.execute || attr.kind === 'dir' || (attr.mode & EXEC_BITS) === 0) return attr;
    return { ...attr, mode: attr.mode & ~EXEC_BITS };
  }

  /** An entry as this session sees it. */
  entry<E extends Entry>(entry: E): E {
    return { ...entry, attr: this.attr(entry.attr) };
  }

  /** Directory entries this session may see, as it sees them. */
  entries(entries: readonly DirEntry[]): DirEntry[] {
    return entries.filter((e) => this.shows(e.id)).map((e) => this.entry(e));
  }

  /** The mode a new file or directory gets: without execute, files get no x bits. */
  createMode(opts: { mode: number; kind: 'file' | 'dir' }): number {
    if (this.grant.caps.execute || opts.kind === 'dir') return opts.mode;
    return opts.mode & ~EXEC_BITS;
  }

  /** Refuse setting execute bits on a non-directory without `execute`. */
  checkSetMode(opts: { mode: number | undefined; kind: Attr['kind']; op: string; path: string }): void {
    if (opts.mode === undefined || this.grant.caps.execute || opts.kind === 'dir') return;
    if ((opts.mode & EXEC_BITS) !== 0) {
      throw FsError.EACCES(
        opts.op,
        opts.path,
        `credential ${this.grant.principal} may not set execute bits (it has no execute capability)`,
      );
    }
  }

  /** Whether an invalidation concerns something this session may see. */
  showsEvent(ev: Invalidation): boolean {
    return this.shows(ev.kind === 'entry' ? ev.parent : ev.id);
  }

  /**
   * Exports this session may see. Without `write`, every export is reported read-only, so a
   * client does not offer writes that would be refused.
   */
  exports(list: readonly ExportInfo[]): ExportInfo[] {
    return list
      .filter((e) => this.shows(e.root))
      .map((e) => (this.grant.caps.write ? e : { ...e, ro: true, caps: { ...e.caps, writable: false } }));
  }

  /** The capabilities AUTH reports. */
  capsJSON(): Record<string, boolean> {
    const { show, read, write, execute } = this.grant.caps;
    return { can_show: show, can_read: read, can_write: write, can_execute: execute };
  }
}
