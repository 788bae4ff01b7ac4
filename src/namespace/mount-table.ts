import { FsError } from '../core/fs-error.ts';
import { MAX_EXPORT_INDEX } from '../core/ids.ts';
import { joinPath, splitPath } from '../core/names.ts';
import type { ExportInfo, Source } from '../sources/source.ts';
import type { RenamePolicy } from './cross-rename.ts';

/** One entry of the mount table. */
export interface Mount {
  /** Slot: the export index of this mount in the namespace's ids. */
  slot: number;
  /** Canonical absolute namespace path of the mount point. */
  path: string;
  segments: string[];
  source: Source;
  /** The mounted export of `source`. */
  exp: ExportInfo;
  /** Mounted read-only (on top of the export's own `ro`). */
  ro: boolean;
  /** What a rename into or out of this mount from another Source does. */
  rename: RenamePolicy;
  /** Left out of its directory's listing (it still resolves by name). */
  hidden: boolean;
}

/**
 * Local paths → exports. Resolution picks the longest mount path that is a prefix of the
 * path on segment boundaries (`/data` covers `/data/x`, never `/database`).
 */
export class MountTable {
  readonly #bySlot = new Map<number, Mount>();
  readonly #byPath = new Map<string, Mount>();

  /**
   * Add a mount; the path must be free. `slot` pins the mount's export index (so ids stay the
   * same across restarts when the caller keeps slots stable); by default the lowest free one.
   */
  add(opts: {
    path: string;
    source: Source;
    exp: ExportInfo;
    ro: boolean;
    slot?: number | undefined;
    rename?: RenamePolicy | undefined;
    hidden?: boolean | undefined;
  }): Mount {
    const segments = splitPath('mount', opts.path);
    const path = joinPath(segments);
    if (this.#byPath.has(path)) throw FsError.EBUSY('mount', path, 'something is already mounted there');
    let slot = opts.slot ?? 1;
    if (opts.slot !== undefined) {
      if (!Number.isInteger(slot) || slot < 1 || slot > MAX_EXPORT_INDEX) {
        throw FsError.EINVAL('mount', path, `slot ${slot} out of range 1..${MAX_EXPORT_INDEX}`);
      }
      if (this.#bySlot.has(slot))
        throw FsError.EBUSY('mount', path, `slot ${slot} is taken by ${this.#bySlot.get(slot)?.path}`);
    } else {
      while (this.#bySlot.has(slot)) slot++;
      if (slot > MAX_EXPORT_INDEX) throw FsError.ENOSPC('mount', path, 'mount table is full');
    }
    const mount: Mount = {
      slot,
      path,
      segments,
      source: opts.source,
      exp: opts.exp,
      ro: opts.ro,
      rename: opts.rename ?? 'exdev',
      hidden: opts.hidden ?? false,
    };
    this.#bySlot.set(slot, mount);
    this.#byPath.set(path, mount);
    return mount;
  }

  /** Remove the mount at `path`; ENOENT if none. Mounts below it stay. */
  remove(path: string): Mount {
    const canonical = joinPath(splitPath('unmount', path));
    const mount = this.#byPath.get(canonical);
    if (!mount) throw FsError.ENOENT('unmount', canonical, 'nothing is mounted there');
    this.#byPath.delete(canonical);
    this.#bySlot.delete(mount.slot);
    return mount;
  }

  bySlot(slot: number): Mount | undefined {
    return this.#bySlot.get(slot);
  }

  byPath(path: string): Mount | undefined {
    return this.#byPath.get(path);
  }

  all(): Mount[] {
    return [...this.#bySlot.values()].sort((a, b) => a.slot - b.slot);
  }

  /** The mount covering `path` (longest prefix on segment boundaries) and the rest of the path. */
  locate(path: string): { mount: Mount; rest: string[] } | undefined {
    const segments = splitPath('resolve', path);
    for (let n = segments.length; n >= 0; n--) {
      const mount = this.#byPath.get(joinPath(segments.slice(0, n)));
      if (mount) return { mount, rest: segments.slice(n) };
    }
    return undefined;
  }

  /** Names of mount points directly inside the directory at `dirPath`, with their mounts. */
  mountsIn(dirPath: string): Map<string, Mount> {
    const depth = dirPath === '/' ? 0 : splitPath('resolve', dirPath).length;
    const out = new Map<string, Mount>();
    for (const m of this.#byPath.values()) {
      if (m.segments.length === depth + 1 && isPrefix(dirPath, m.path)) out.set(m.segments[depth]!, m);
    }
    return out;
  }

  /** Names of directories directly inside `dirPath` that lead to deeper mount points. */
  routesIn(dirPath: string): Set<string> {
    const depth = dirPath === '/' ? 0 : splitPath('resolve', dirPath).length;
    const out = new Set<string>();
    for (const m of this.#byPath.values()) {
      if (m.segments.length > depth + 1 && isPrefix(dirPath, m.path)) out.add(m.segments[depth]!);
    }
    return out;
  }

  /** Whether some mount point lies strictly below `path`. */
  hasMountsBelow(path: string): boolean {
    for (const m of this.#byPath.keys()) if (m !== path && isPrefix(path, m)) return true;
    return false;
  }
}

/** Whether `prefix` is `path` or an ancestor of it, on segment boundaries. */
export function isPrefix(prefix: string, path: string): boolean {
  if (prefix === '/') return true;
  return path === prefix || path.startsWith(prefix + '/');
}
