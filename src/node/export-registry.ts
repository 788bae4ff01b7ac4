import { mkdir, stat } from 'node:fs/promises';
import { LOCAL_EXPORT_KINDS, type IndexedExportEntry } from '../core/config.ts';
import { FsError } from '../core/fs-error.ts';
import { exportStateDir, type Home, type HomePaths } from '../core/home.ts';
import type { Logger } from '../core/log.ts';
import { createSource, type SourceSpec } from '../sources/registry.ts';
import type { Source } from '../sources/source.ts';

/** The Source spec for one export of a home. */
export function sourceSpecOf(opts: { paths: HomePaths; entry: IndexedExportEntry }): SourceSpec {
  const { entry } = opts;
  return {
    kind: entry.kind,
    name: entry.name,
    exportIndex: entry.index,
    path: entry.path,
    ro: entry.ro,
    stateDir: exportStateDir(opts.paths, entry.index),
    options: entry.options,
  };
}

/**
 * For local kinds, the export path must be an existing directory. Checked before the
 * adapter is built so the error names the path, not an adapter internal. A windows export
 * on another OS is left to the adapter, which says why it cannot run here.
 */
export async function checkExportPath(entry: Pick<IndexedExportEntry, 'kind' | 'path'>): Promise<void> {
  if (!LOCAL_EXPORT_KINDS.has(entry.kind)) return;
  if (entry.kind === 'windows' && process.platform !== 'win32') return;
  let info;
  try {
    info = await stat(entry.path);
  } catch (err) {
    throw FsError.from(err, 'export path', entry.path);
  }
  if (!info.isDirectory()) throw FsError.ENOTDIR('export path', entry.path);
}

/** Build the Source for an export (not opened); any failure becomes an `FsError`. */
export async function buildExportSource(opts: {
  paths: HomePaths;
  entry: IndexedExportEntry;
}): Promise<Source> {
  await checkExportPath(opts.entry);
  const spec = sourceSpecOf(opts);
  try {
    if (spec.stateDir !== undefined) await mkdir(spec.stateDir, { recursive: true, mode: 0o700 });
    return await createSource(spec);
  } catch (err) {
    throw FsError.from(err, 'export', opts.entry.name);
  }
}

/**
 * Prove an export works before it is written to the config: build its Source, open it,
 * and close it again.
 */
export async function probeExport(opts: { paths: HomePaths; entry: IndexedExportEntry }): Promise<void> {
  const source = await buildExportSource(opts);
  try {
    await source.open();
  } catch (err) {
    await source.close().catch(() => undefined);
    throw FsError.from(err, 'export', opts.entry.name);
  }
  await source.close();
}

/** One export of the registry and how opening it went. */
export interface RegisteredExport {
  entry: IndexedExportEntry;
  /** The open Source, when opening succeeded. */
  source?: Source | undefined;
  /** Why the export could not be opened. */
  error?: FsError | undefined;
}

/**
 * The open Sources behind a home's exports. One export that fails to open (a directory
 * that went away, an unreachable bucket) is logged and reported in `exports()` but does
 * not keep the others from serving.
 */
export class ExportRegistry implements AsyncDisposable {
  readonly #home: Home;
  readonly #logger: Logger | undefined;
  readonly #exports = new Map<string, RegisteredExport>();
  #state: 'new' | 'open' | 'closed' = 'new';
  #opening: Promise<void> | undefined;

  constructor(opts: { home: Home; logger?: Logger | undefined }) {
    this.#home = opts.home;
    this.#logger = opts.logger?.child({ component: 'exports' });
  }

  /** Build and open every export's Source; idempotent. */
  async open(): Promise<void> {
    if (this.#state === 'closed') throw FsError.ESHUTDOWN('open', undefined, 'export registry is closed');
    this.#opening ??= this.#openAll();
    return this.#opening;
  }

  async #openAll(): Promise<void> {
    await Promise.all(
      this.#home.config.export.map(async (entry) => {
        const registered: RegisteredExport = { entry };
        this.#exports.set(entry.name, registered);
        let source: Source | undefined;
        try {
          source = await buildExportSource({ paths: this.#home.paths, entry });
          await source.open();
          registered.source = source;
          this.#logger?.info('export opened', { export: entry.name, kind: entry.kind, index: entry.index });
        } catch (err) {
          await source?.close().catch(() => undefined);
          registered.error = FsError.from(err, 'export', entry.name);
          this.#logger?.error('export failed to open', {
            export: entry.name,
            kind: entry.kind,
            error: registered.error,
          });
        }
      }),
    );
    this.#state = 'open';
  }

  /** Every export of the home, in config order, with its Source or its error. */
  exports(): RegisteredExport[] {
    return this.#home.config.export.flatMap((entry) => {
      const registered = this.#exports.get(entry.name);
      return registered === undefined ? [] : [registered];
    });
  }

  /** The open Source of export `name`; `ENOENT` for an unknown export, its error for a failed one. */
  get(name: string): Source {
    const registered = this.#exports.get(name);
    if (registered === undefined) throw FsError.ENOENT('export', name, 'no export with this name');
    if (registered.source === undefined) throw registered.error ?? FsError.ENOTCONN('export', name);
    return registered.source;
  }

  /** Close every open Source; idempotent. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    await this.#opening?.catch(() => undefined);
    this.#state = 'closed';
    await Promise.all(
      [...this.#exports.values()].map(async (registered) => {
        await registered.source?.close().catch((err: unknown) => {
          this.#logger?.warn('export failed to close', { export: registered.entry.name, error: err });
        });
      }),
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
