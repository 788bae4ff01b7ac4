import type { CatalogView, FileDoc } from './catalog-view.ts';
import type { MountEntry, VirtualDirectory } from './directory-doc.ts';
import { compileStep, includeFile, type InheritedGate, type StepContext } from './steps.ts';

/** An entry of an evaluated virtual directory: a real file, or a directory. */
export type VEntry =
  | { kind: 'file'; file: FileDoc; mount: string }
  /** `virtual`: a child virtual directory (its own document); else implied by file paths. */
  | { kind: 'dir'; virtual: boolean };

/**
 * A virtual directory evaluated: for each directory inside it ('' is the directory itself,
 * 'a/b' deeper ones implied by `prefix_replace`), its entries by name.
 */
export type VTree = Map<string, Map<string, VEntry>>;

interface Candidate {
  file: FileDoc;
  mount: MountEntry & { id: string };
  order: number;
}

/**
 * The gates a directory inherits: one per ancestor with `enforce_steps_on_children`,
 * outermost first, holding the steps of all its mounts. A gate falls through to `exclude`
 * when every mount of the ancestor defaults to `exclude` (it lists only what its steps
 * include), else to `include`.
 */
export function inheritedGates(ancestors: readonly VirtualDirectory[]): InheritedGate[] {
  return ancestors
    .filter((a) => a.enforce_steps_on_children && a.mounts.length > 0)
    .map((a) => ({
      from: a.path,
      steps: a.mounts.flatMap((m) => m.steps.map(compileStep)),
      fallthrough: a.mounts.every((m) => m.default_result === 'exclude') ? 'exclude' : 'include',
    }));
}

/**
 * Evaluate a directory: query each mount's source, run the inherited gates and the mount's
 * steps per file, map names (`prefix_replace` keeps the hierarchy below `source_prefix`,
 * `flatten` keeps only the name), settle name collisions, and add the child virtual
 * directories (which shadow implied directories of the same name).
 */
export function evaluateDirectory(opts: {
  dir: Pick<VirtualDirectory, 'path' | 'mounts'>;
  /** Ancestors of `dir`, root first (for inherited steps). */
  ancestors: readonly VirtualDirectory[];
  /** Names of the child virtual directories. */
  children: readonly string[];
  catalog: CatalogView;
  now: number;
}): VTree {
  const ctx: StepContext = { catalog: opts.catalog, now: opts.now };
  const gates = inheritedGates(opts.ancestors);
  /** dir → name → candidates. Directories implied by paths are recorded in `dirs`. */
  const claims = new Map<string, Map<string, Candidate[]>>([['', new Map()]]);
  const dirs = new Map<string, Set<string>>([['', new Set()]]);
  const virtualChildren = new Set(opts.children);
  let order = 0;
  for (const mount of opts.dir.mounts) {
    const steps = mount.steps.map(compileStep);
    const strip = mount.source_prefix ?? mount.source.path;
    const files = opts.catalog.filesUnder({
      node: mount.source.node,
      export: mount.source.export,
      prefix: mount.source.path,
    });
    for (const file of files) {
      if (!includeFile({ gates, steps, defaultResult: mount.default_result, file, ctx })) continue;
      const segs = relativeSegments(file.path, strip, mount.strategy);
      if (segs.length === 0) continue;
      // A file under a child virtual directory's name is hidden: the child shadows it.
      if (segs.length > 1 && virtualChildren.has(segs[0]!)) continue;
      let parent = '';
      for (let i = 0; i < segs.length - 1; i++) {
        const child = parent === '' ? segs[i]! : `${parent}/${segs[i]}`;
        let set = dirs.get(parent);
        if (!set) dirs.set(parent, (set = new Set()));
        set.add(segs[i]!);
        parent = child;
      }
      let byName = claims.get(parent);
      if (!byName) claims.set(parent, (byName = new Map<string, Candidate[]>()));
      const name = segs[segs.length - 1]!;
      const list = byName.get(name);
      const cand = { file, mount, order: order++ };
      if (list) list.push(cand);
      else byName.set(name, [cand]);
    }
  }
  for (const name of virtualChildren) {
    dirs.get('')!.add(name);
  }

  const tree: VTree = new Map();
  const allDirs = new Set([...dirs.keys(), ...claims.keys()]);
  for (const dirKey of allDirs) {
    const entries = new Map<string, VEntry>();
    const subdirs = dirs.get(dirKey) ?? new Set<string>();
    for (const name of subdirs) {
      entries.set(name, { kind: 'dir', virtual: dirKey === '' && virtualChildren.has(name) });
    }
    settle(entries, claims.get(dirKey) ?? new Map<string, Candidate[]>());
    tree.set(dirKey, entries);
  }
  return tree;
}

/** Segments of a file's name in the directory, by strategy (paths are canonical). */
function relativeSegments(path: string, strip: string, strategy: MountEntry['strategy']): string[] {
  const name = path.slice(path.lastIndexOf('/') + 1);
  // Flattened, or the source path itself being a file: the file under its own name.
  if (strategy === 'flatten' || path === strip) return name === '' ? [] : [name];
  return (strip === '/' ? path.slice(1) : path.slice(strip.length + 1)).split('/');
}

/**
 * Settle the files claiming names in one directory. One claimant keeps its name unless a
 * directory has it. Several: `last_write_wins` keeps the newest (by mtime) and hides the
 * rest, but only when every claimant's mount says so — if any says `suffix_node_id` (the
 * conservative policy), all stay visible, the newest under the name and the others as
 * `stem~node.ext`. A file whose name a directory holds is always kept, suffixed.
 */
function settle(entries: Map<string, VEntry>, claims: Map<string, Candidate[]>): void {
  const losers: { name: string; cand: Candidate }[] = [];
  for (const [name, cands] of claims) {
    const sorted = cands.length === 1 ? cands : [...cands].sort(newestFirst);
    if (entries.has(name)) {
      for (const cand of sorted) losers.push({ name, cand });
      continue;
    }
    const winner = sorted[0]!;
    entries.set(name, { kind: 'file', file: winner.file, mount: winner.mount.id });
    if (sorted.length === 1) continue;
    const keepAll = sorted.some((c) => c.mount.conflict_policy === 'suffix_node_id');
    if (keepAll) for (const cand of sorted.slice(1)) losers.push({ name, cand });
  }
  for (const { name, cand } of losers) {
    const node = cand.file.nodeName ?? cand.file.node;
    const dot = name.lastIndexOf('.');
    const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
    let candidate = `${stem}~${node}${ext}`;
    for (let n = 2; entries.has(candidate); n++) candidate = `${stem}~${node}~${n}${ext}`;
    entries.set(candidate, { kind: 'file', file: cand.file, mount: cand.mount.id });
  }
}

/** Newest mtime first; ties by mount order then file id, so the outcome is deterministic. */
function newestFirst(a: Candidate, b: Candidate): number {
  if (a.file.mtimeMs !== b.file.mtimeMs) return b.file.mtimeMs - a.file.mtimeMs;
  if (a.order !== b.order) return a.order - b.order;
  return a.file.fileId < b.file.fileId ? -1 : a.file.fileId > b.file.fileId ? 1 : 0;
}
