import { realpath, rm } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { FsError } from '../../core/fs-error.ts';
import { lstatBig, lstatMaybe } from './fast-stat.ts';
import { IdJournal } from './id-journal.ts';
import { IdTable } from './id-table.ts';
import { Resolver } from './resolver.ts';
import { isTempName } from './temp-files.ts';

const JOURNAL_VERSION = 1;
/** Appended records below which the journal is never compacted while open. */
const COMPACT_MIN_RECORDS = 100_000;

/** The id state of an open local export: the map, the resolver over it, its journal. */
export interface IdState {
  table: IdTable;
  resolver: Resolver;
  journal: IdJournal | undefined;
}

/**
 * Find the export root (an existing directory, or a clear ENOENT/ENOTDIR naming it), then
 * build the id map: replayed from the journal in `stateDir` when it belongs to this root
 * (same device and inode), temp files of interrupted writes removed (unless read-only),
 * and the journal rewritten compacted and opened for appending.
 */
export async function openIdState(opts: {
  exportName: string;
  path: string;
  exportIndex: number;
  stateDir: string | undefined;
  ro: boolean;
}): Promise<IdState> {
  const given = resolvePath(opts.path);
  let root: string;
  try {
    root = await realpath(given);
  } catch (err) {
    const e = FsError.from(err, 'open', given);
    if (e.code === 'ENOENT') {
      throw FsError.ENOENT('open', given, `export '${opts.exportName}': directory ${given} does not exist`);
    }
    throw e;
  }
  const st = await lstatBig(root);
  if (!st.isDirectory()) {
    throw FsError.ENOTDIR('open', given, `export '${opts.exportName}': ${given} is not a directory`);
  }
  const table = new IdTable({ rootDev: st.dev, rootIno: st.ino });
  const resolver = new Resolver({
    rootPath: root,
    rootDev: st.dev,
    rootIno: st.ino,
    exportIndex: opts.exportIndex,
    table,
  });
  if (opts.stateDir === undefined) return { table, resolver, journal: undefined };

  const journal = new IdJournal({ dir: opts.stateDir });
  const header = ['R', JOURNAL_VERSION, String(st.dev), String(st.ino)];
  const records = await journal.load();
  const first = records[0];
  if (Array.isArray(first) && header.every((v, i) => first[i] === v)) {
    for (let i = 1; i < records.length; i++) table.replay(records[i]);
  }
  if (!opts.ro) {
    for (const t of table.temps()) {
      const dir = resolver.dirPath(t.dir);
      if (dir !== undefined && isTempName(t.name)) {
        const path = resolver.child(dir, t.name);
        if ((await lstatMaybe(path))?.isFile()) await rm(path, { force: true });
      }
      table.replay(['X', t.dir, t.name]);
    }
  }
  const snapshot = () => [header, ...table.snapshot()];
  await journal.rewrite(snapshot).catch(async (err: unknown) => {
    await journal.close();
    throw err;
  });
  // Compact again once the journal has grown well past the state it describes.
  let appended = 0;
  let compacting = false;
  table.setSink((rec) => {
    journal.append(rec);
    if (++appended < Math.max(COMPACT_MIN_RECORDS, 4 * table.size) || compacting) return;
    compacting = true;
    appended = 0;
    void journal
      .rewrite(snapshot)
      .catch(() => undefined) // the old journal goes on taking appends; the next open compacts
      .finally(() => (compacting = false));
  });
  return { table, resolver, journal };
}
