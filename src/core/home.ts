import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from './atomic-file.ts';
import {
  CONFIG_FILE_NAME,
  DEFAULT_LISTEN,
  defaultNodeName,
  loadConfig,
  nameProblem,
  parseConfigText,
  type IndexedExportEntry,
  type MountEntry,
  type TesseraConfig,
} from './config.ts';
import {
  appendExportText,
  removeExportText,
  replaceMountsText,
  setExportIndexesText,
  type ExportEntryText,
} from './config-edit.ts';
import { withFileLock } from './file-lock.ts';
import { FsError } from './fs-error.ts';
import { MAX_EXPORT_INDEX } from './ids.ts';
import { loadIdentity, loadOrCreateIdentity, type NodeIdentity } from './identity.ts';

/**
 * A node's home: the directory holding `tessera.toml`, the node identity and the state the
 * node keeps between runs. Chosen by `--home DIR`, else `TESSERA_HOME`, else `~/.tessera`.
 *
 * Export indices (`k`, carried in the top bits of every id) are assigned once, written into
 * the export's `[[export]]` entry as `index`, and never reused: a high-water mark in
 * `state/exports.json` survives the removal of the newest export, so an id held by a client
 * can never start pointing into a different export. Index 0 is kept free for the node's own
 * composed namespace.
 */

/** Every path inside a home. */
export interface HomePaths {
  root: string;
  configFile: string;
  identityFile: string;
  stateDir: string;
  /** High-water mark of export indices. */
  exportsStateFile: string;
  /** Held while a command edits the config. */
  lockFile: string;
}

/** The first index handed to an export. */
export const FIRST_EXPORT_INDEX = 1;

/** Which home to use: `home` (from `--home`), else `TESSERA_HOME`, else `~/.tessera`. */
export function resolveHome(
  opts: { home?: string | undefined; env?: NodeJS.ProcessEnv; cwd?: string; userHome?: string } = {},
): string {
  const cwd = opts.cwd ?? process.cwd();
  const env = opts.env ?? process.env;
  if (opts.home !== undefined && opts.home !== '') return resolve(cwd, opts.home);
  const fromEnv = env.TESSERA_HOME;
  if (fromEnv !== undefined && fromEnv !== '') return resolve(cwd, fromEnv);
  return join(opts.userHome ?? homedir(), '.tessera');
}

/** The paths of the home at `root`. */
export function homePaths(root: string): HomePaths {
  return {
    root,
    configFile: join(root, CONFIG_FILE_NAME),
    identityFile: join(root, 'node.json'),
    stateDir: join(root, 'state'),
    exportsStateFile: join(root, 'state', 'exports.json'),
    lockFile: join(root, `${CONFIG_FILE_NAME}.lock`),
  };
}

/** Where the adapter of export `index` keeps its own state (id maps). */
export function exportStateDir(paths: HomePaths, index: number): string {
  return join(paths.stateDir, 'exports', String(index));
}

/** The log file a config asks for, resolved against the home; undefined means stderr. */
export function logFileOf(paths: HomePaths, config: TesseraConfig): string | undefined {
  const file = config.log.file;
  if (file === undefined) return undefined;
  return isAbsolute(file) ? file : join(paths.root, file);
}

/** A config whose exports all carry their index. */
export type HomeConfig = Omit<TesseraConfig, 'export'> & { export: IndexedExportEntry[] };

/** An opened home. */
export interface Home {
  paths: HomePaths;
  identity: NodeIdentity;
  config: HomeConfig;
}

/** The text `tessera init` writes. */
export function initialConfigText(opts: { name: string }): string {
  return [
    '# Tessera node configuration. Reference: docs/config.md',
    '',
    '[node]',
    `name = ${JSON.stringify(opts.name)}`,
    '',
    '[server]',
    `listen = ${JSON.stringify(DEFAULT_LISTEN)}`,
    '',
    '[log]',
    'level = "info"',
    '',
    '# Exports are added with `tessera export add NAME PATH`; each becomes a block like:',
    '#   [[export]]',
    '#   name = "work"',
    '#   kind = "linux"',
    '#   path = "/home/me/work"',
    '#   ro = false',
    '#   index = 1        # assigned once, never change it',
    '',
  ].join('\n');
}

const exportsStateSchema = z.strictObject({ version: z.literal(1), nextIndex: z.int().min(0) });

async function readNextIndex(paths: HomePaths): Promise<number> {
  let text: string;
  try {
    text = await readFile(paths.exportsStateFile, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return FIRST_EXPORT_INDEX;
    throw FsError.from(err, 'state', paths.exportsStateFile);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    raw = undefined;
  }
  const parsed = exportsStateSchema.safeParse(raw);
  if (!parsed.success) {
    throw new FsError({
      code: 'EINVAL',
      op: 'state',
      path: paths.exportsStateFile,
      message: `${paths.exportsStateFile}: expected {"version": 1, "nextIndex": N}`,
    });
  }
  return parsed.data.nextIndex;
}

async function writeNextIndex(paths: HomePaths, nextIndex: number): Promise<void> {
  await mkdir(paths.stateDir, { recursive: true, mode: 0o700 });
  await writeFileAtomic({
    file: paths.exportsStateFile,
    data: `${JSON.stringify({ version: 1, nextIndex }, null, 2)}\n`,
  });
}

/** `count` fresh indices: above every index in use and above the high-water mark. */
function allocateIndexes(opts: {
  exports: readonly { index?: number | undefined }[];
  nextIndex: number;
  count: number;
}): number[] {
  let next = Math.max(opts.nextIndex, FIRST_EXPORT_INDEX);
  for (const entry of opts.exports) if (entry.index !== undefined) next = Math.max(next, entry.index + 1);
  if (next + opts.count - 1 > MAX_EXPORT_INDEX) {
    throw FsError.ENOSPC('export', undefined, `no export index left (the largest is ${MAX_EXPORT_INDEX})`);
  }
  return Array.from({ length: opts.count }, (_, i) => next + i);
}

function allIndexed(config: TesseraConfig): config is HomeConfig {
  return config.export.every((entry) => entry.index !== undefined);
}

/**
 * Create the home (mode 0700), its identity and a starter config — whatever is missing.
 * Running it again changes nothing; asking for a different node name than the existing
 * config has fails with `EEXIST` rather than silently keeping or changing it.
 */
export async function initHome(opts: {
  root: string;
  name?: string | undefined;
}): Promise<{ home: Home; createdConfig: boolean; createdIdentity: boolean }> {
  if (opts.name !== undefined) {
    const problem = nameProblem(opts.name);
    if (problem !== undefined) throw FsError.EINVAL('init', opts.name, `node name ${problem}`);
  }
  const paths = homePaths(opts.root);
  try {
    await mkdir(paths.root, { recursive: true, mode: 0o700 });
    if (!(await stat(paths.root)).isDirectory()) throw FsError.ENOTDIR('init', paths.root);
  } catch (err) {
    throw FsError.from(err, 'init', paths.root);
  }
  return withFileLock({ lockFile: paths.lockFile }, async () => {
    const { created: createdIdentity } = await loadOrCreateIdentity({ file: paths.identityFile });
    let createdConfig = false;
    try {
      await stat(paths.configFile);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw FsError.from(err, 'init', paths.configFile);
      await writeFileAtomic({
        file: paths.configFile,
        data: initialConfigText({ name: opts.name ?? defaultNodeName() }),
        mode: 0o600,
      });
      createdConfig = true;
    }
    const { text: _text, ...home } = await openHomeLocked(paths);
    const existingName = home.config.node.name;
    if (opts.name !== undefined && !createdConfig && existingName !== opts.name) {
      const current = JSON.stringify(existingName ?? defaultNodeName());
      throw new FsError({
        code: 'EEXIST',
        op: 'init',
        path: paths.configFile,
        message: `EEXIST: ${paths.configFile} already names this node ${current} (edit [node] name there to rename it)`,
      });
    }
    return { home, createdConfig, createdIdentity };
  });
}

/** Load identity and config; exports without an index get one, written back. Caller holds the lock. */
async function openHomeLocked(paths: HomePaths): Promise<Home & { text: string }> {
  const identity = await loadIdentity({ file: paths.identityFile });
  const { config, text } = await loadConfig({ file: paths.configFile });
  if (allIndexed(config)) return { paths, identity, config, text };
  const missing = config.export.flatMap((entry, position) => (entry.index === undefined ? [position] : []));
  const nextIndex = await readNextIndex(paths);
  const fresh = allocateIndexes({
    exports: [...config.export, ...config.mount],
    nextIndex,
    count: missing.length,
  });
  const assignments = new Map(missing.map((position, i) => [position, fresh[i]!]));
  const newText = setExportIndexesText({ text, indexes: assignments, file: paths.configFile });
  await writeNextIndex(paths, fresh[fresh.length - 1]! + 1);
  await writeFileAtomic({ file: paths.configFile, data: newText });
  const reloaded = await loadConfig({ file: paths.configFile });
  if (!allIndexed(reloaded.config))
    throw FsError.EIO('config', paths.configFile, 'export index assignment failed');
  return { paths, identity, config: reloaded.config, text: reloaded.text };
}

/** Open an initialized home: `ENOENT` (with a hint to run init) when it is not one. */
export async function openHome(opts: { root: string }): Promise<Home> {
  const paths = homePaths(opts.root);
  const identity = await loadIdentity({ file: paths.identityFile });
  const { config } = await loadConfig({ file: paths.configFile });
  if (allIndexed(config)) return { paths, identity, config };
  return withFileLock({ lockFile: paths.lockFile }, async () => {
    const { text: _text, ...home } = await openHomeLocked(paths);
    return home;
  });
}

/** A new export as a user describes it (the index is assigned here). */
export type NewExport = Omit<ExportEntryText, 'index'>;

/**
 * Add an export to the home's config. Under the config lock: the name must be new, the
 * entry (with its fresh index) must validate, and `check` (which builds and opens the
 * Source) must pass — only then is the config rewritten, so a bad export never lands.
 */
export async function addExport(opts: {
  root: string;
  entry: NewExport;
  check?: (entry: IndexedExportEntry, paths: HomePaths) => Promise<void>;
}): Promise<IndexedExportEntry> {
  const paths = homePaths(opts.root);
  return withFileLock({ lockFile: paths.lockFile }, async () => {
    const home = await openHomeLocked(paths);
    if (home.config.export.some((e) => e.name === opts.entry.name)) {
      throw FsError.EEXIST('export add', opts.entry.name, 'an export with this name already exists');
    }
    const nextIndex = await readNextIndex(paths);
    const [index] = allocateIndexes({
      exports: [...home.config.export, ...home.config.mount],
      nextIndex,
      count: 1,
    });
    const entry: ExportEntryText = { ...opts.entry, index: index! };
    // Validates the whole new config, so schema problems surface before the check runs.
    const newText = appendExportText({ text: home.text, entry, file: paths.configFile });
    const added = parseConfigText({ text: newText, file: paths.configFile }).export.at(-1);
    if (added?.index === undefined)
      throw FsError.EIO('export add', entry.name, 'export did not land in the config');
    const indexed: IndexedExportEntry = { ...added, index: added.index };
    const stateDir = exportStateDir(paths, entry.index);
    // The index is fresh, so anything in its state dir is debris from an interrupted add.
    await rm(stateDir, { recursive: true, force: true });
    try {
      await opts.check?.(indexed, paths);
      await writeNextIndex(paths, entry.index + 1);
      await writeFileAtomic({ file: paths.configFile, data: newText });
    } catch (err) {
      await rm(stateDir, { recursive: true, force: true });
      throw err;
    }
    return indexed;
  });
}

/** Remove an export from the config and delete the state its adapter kept. */
export async function removeExport(opts: { root: string; name: string }): Promise<IndexedExportEntry> {
  const paths = homePaths(opts.root);
  return withFileLock({ lockFile: paths.lockFile }, async () => {
    const home = await openHomeLocked(paths);
    const position = home.config.export.findIndex((e) => e.name === opts.name);
    const entry = home.config.export[position];
    if (entry === undefined) throw FsError.ENOENT('export remove', opts.name, 'no export with this name');
    const newText = removeExportText({ text: home.text, position, file: paths.configFile });
    // Keep the high-water mark above the removed index so it is never handed out again.
    const nextIndex = await readNextIndex(paths);
    if (nextIndex <= entry.index) await writeNextIndex(paths, entry.index + 1);
    await writeFileAtomic({ file: paths.configFile, data: newText });
    await rm(exportStateDir(paths, entry.index), { recursive: true, force: true });
    return entry;
  });
}

/**
 * Change the `[[mount]]` entries of the home's config under the config lock. Entries coming
 * back without an index get a fresh one from the same pool as export indices (mount slots
 * and export indices never collide, and are never reused). The result is validated before
 * it is written.
 */
export async function editMounts(opts: {
  root: string;
  edit: (mounts: MountEntry[]) => MountEntry[] | Promise<MountEntry[]>;
}): Promise<MountEntry[]> {
  const paths = homePaths(opts.root);
  return withFileLock({ lockFile: paths.lockFile }, async () => {
    const home = await openHomeLocked(paths);
    const next = await opts.edit(home.config.mount.map((m) => ({ ...m })));
    const missing = next.filter((m) => m.index === undefined);
    if (missing.length > 0) {
      const fresh = allocateIndexes({
        exports: [...home.config.export, ...next],
        nextIndex: await readNextIndex(paths),
        count: missing.length,
      });
      missing.forEach((m, i) => (m.index = fresh[i]));
      await writeNextIndex(paths, fresh[fresh.length - 1]! + 1);
    }
    const tables = next.map((m) => {
      const { endpoint, path, ...rest } = m;
      return {
        ...(path === undefined ? {} : { path }),
        ...rest,
        endpoint: endpoint.map((e) => ({ ...e })),
      };
    });
    const text = replaceMountsText({ text: home.text, mounts: tables, file: paths.configFile });
    await writeFileAtomic({ file: paths.configFile, data: text });
    return parseConfigText({ text, file: paths.configFile }).mount;
  });
}
