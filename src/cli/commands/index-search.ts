import { openHomeCatalog, requestRescan } from '../../catalog/catalog-file.ts';
import { type MountStatus, mountStates } from '../../catalog/mount-state.ts';
import { search } from '../../catalog/search.ts';
import { storageHistory, storageLatest } from '../../catalog/storage.ts';
import type { CatalogStore } from '../../catalog/store.ts';
import { readRuntime } from '../../node/runtime.ts';
import { parseCommandArgs, usageError } from '../args.ts';
import { HOME_OPTION_HELP, homeRootOf, type Command } from '../command.ts';
import { type CliIO, formatTable } from '../io.ts';
import { formatBytes } from '../remote/progress.ts';

/** Open the home's catalog for a command, run `fn`, close. */
export async function withCatalog<T>(opts: {
  io: CliIO;
  home: string | undefined;
  write?: boolean;
  create?: boolean;
  fn: (store: CatalogStore, root: string) => T | Promise<T>;
}): Promise<T> {
  const root = homeRootOf({ io: opts.io, home: opts.home });
  const store = await openHomeCatalog({ home: root, write: opts.write, create: opts.create });
  try {
    return await opts.fn(store, root);
  } finally {
    await store.close();
  }
}

const ago = (ms: number | null): string =>
  ms === null ? '-' : `${Math.max(0, Math.round((Date.now() - ms) / 1000))} s ago`;

function statusTable(states: MountStatus[]): string {
  if (states.length === 0) return 'no mounts indexed yet\n';
  return formatTable({
    header: ['MOUNT', 'STATE', 'FILES', 'DIRS', 'SEEN', 'CRAWLS', 'LAST CRAWL', 'LAST EVENT', 'ERROR'],
    rows: states.map((s) => [
      s.mount,
      s.state,
      String(s.files),
      String(s.dirs),
      String(s.seen),
      String(s.crawls),
      s.lastCrawlMs === null ? '-' : `${(s.lastCrawlMs / 1000).toFixed(1)} s, ${ago(s.crawlFinishedAt)}`,
      ago(s.lastEventAt),
      s.lastError ?? '',
    ]),
  });
}

const crawlingNow = (states: MountStatus[]) =>
  states.filter((s) => s.state === 'crawling' || s.state === 'pending');

/**
 * The mounts' states as the catalog has them, or 'stopped' when the home's node is not running:
 * a node that was killed could not mark its mounts stopped, and a crawl it left 'crawling'
 * would otherwise keep `--wait` waiting forever.
 */
async function currentStates(store: CatalogStore, home: string): Promise<MountStatus[]> {
  const states = mountStates(store);
  if (await readRuntime({ home })) return states;
  return states.map((s) => (s.state === 'unmounted' ? s : { ...s, state: 'stopped' }));
}

/** `tessera index status`. */
export const indexStatusCommand: Command = {
  name: 'index status',
  summary: 'show what the catalog indexed per mount (state, counts, crawls, errors)',
  help: `Usage: tessera index status [--wait] [--json] [--home DIR]

Show the catalog's index of the node's namespace, one row per mount: state (pending,
crawling, watching, storm, offline, unmounted; stopped while the node is not running),
documents, entries seen by the current or last crawl, completed crawls, the last crawl's
duration and the last watcher event.
Reads the home's catalog directly (the node need not answer).

Options:
  --wait    wait until no mount is crawling; a progress line on a terminal
  --json    the rows as a JSON array
${HOME_OPTION_HELP}
`,
  async run({ io, argv }) {
    const { values } = parseCommandArgs({
      command: 'index status',
      argv,
      options: { wait: { type: 'boolean' }, json: { type: 'boolean' } },
    });
    if (values.help === true) {
      io.out(this.help);
      return 0;
    }
    const states = await withCatalog({
      io,
      home: values.home,
      fn: async (store, root) => {
        let s = await currentStates(store, root);
        const columns = io.errColumns?.();
        while (values.wait === true && crawlingNow(s).length > 0) {
          if (columns !== undefined) {
            const line = crawlingNow(s)
              .map(
                (m) =>
                  `${m.mount}: ${m.seen}${m.files + m.dirs > m.seen ? ` / ~${m.files + m.dirs}` : ''} entries`,
              )
              .join(', ');
            io.err(`\r\x1b[Kindexing ${line}`.slice(0, columns + 4));
          }
          await new Promise((r) => setTimeout(r, 250));
          s = await currentStates(store, root);
        }
        if (values.wait === true && columns !== undefined) io.err('\r\x1b[K');
        return s;
      },
    });
    io.out(values.json === true ? `${JSON.stringify(states, null, 2)}\n` : statusTable(states));
    return 0;
  },
};

/** `tessera index rescan`. */
export const indexRescanCommand: Command = {
  name: 'index rescan',
  summary: 'ask the node to crawl a mount (or every mount) again',
  help: `Usage: tessera index rescan [MOUNT] [--home DIR]

Ask the running node to crawl MOUNT (a namespace path such as /docs), or every mount,
again. The node picks the request up within its check interval (5 s); follow it with
'tessera index status --wait'. Unchanged files cost a stat each and no write.

Options:
${HOME_OPTION_HELP}
`,
  async run({ io, argv }) {
    const { values, positionals } = parseCommandArgs({
      command: 'index rescan',
      argv,
      options: {},
      optionalPositionals: ['MOUNT'],
    });
    if (values.help === true) {
      io.out(this.help);
      return 0;
    }
    const mount = positionals[0];
    await withCatalog({
      io,
      home: values.home,
      write: true,
      fn: (store) => {
        if (mount !== undefined && !mountStates(store).some((s) => s.mount === mount))
          throw usageError({ command: 'index rescan', problem: `no indexed mount '${mount}'` });
        requestRescan(store, { mount });
      },
    });
    io.out(`rescan of ${mount ?? 'every mount'} requested\n`);
    return 0;
  },
};

/** `tessera search`. */
export const searchCommand: Command = {
  name: 'search',
  summary: 'find files in the catalog by name (substring or glob) and labels',
  help: `Usage: tessera search [TEXT] [--glob PATTERN] [--label L]... [--under PATH] [--dirs]
                      [--limit N] [--cursor C] [--all] [--json] [--home DIR]

Search the node's catalog. TEXT matches anywhere in a name, ignoring case; --glob matches
the whole name ('*.pdf', 'IMG_????.jpg'; case-sensitive); every --label must be on the file
(assigned to it or given by a rule). Results come a page at a time; the cursor of the next
page is printed last.

Options:
  --glob PATTERN   shell glob over the whole name
  --label L        a label the file must have (repeatable; all must match)
  --under PATH     only under this namespace directory
  --dirs           include directories
  --limit N        page size (1-1000, default 50)
  --cursor C       continue after a previous page
  --all            every page
  --json           {results: [...], next} (with --all: every result in one array)
${HOME_OPTION_HELP}
`,
  async run({ io, argv }) {
    const { values, positionals } = parseCommandArgs({
      command: 'search',
      argv,
      options: {
        glob: { type: 'string' },
        label: { type: 'string', multiple: true },
        under: { type: 'string' },
        dirs: { type: 'boolean' },
        limit: { type: 'string' },
        cursor: { type: 'string' },
        all: { type: 'boolean' },
        json: { type: 'boolean' },
      },
      optionalPositionals: ['TEXT'],
    });
    if (values.help === true) {
      io.out(this.help);
      return 0;
    }
    const limit = values.limit === undefined ? undefined : Number(values.limit);
    if (limit !== undefined && !Number.isInteger(limit))
      throw usageError({ command: 'search', problem: `--limit expects a number, got '${values.limit}'` });
    const page = await withCatalog({
      io,
      home: values.home,
      fn: (store) => {
        const query = {
          q: positionals[0],
          glob: values.glob,
          labels: values.label ?? [],
          under: values.under,
          dirs: values.dirs === true,
          limit,
          cursor: values.cursor,
        };
        const first = search(store, query);
        if (values.all !== true) return first;
        const results = [...first.results];
        for (let next = first.next; next !== undefined;) {
          const more = search(store, { ...query, cursor: next });
          results.push(...more.results);
          next = more.next;
        }
        return { results };
      },
    });
    if (values.json === true) {
      io.out(`${JSON.stringify(page, null, 2)}\n`);
      return 0;
    }
    for (const r of page.results) {
      const labels = r.labels.length === 0 ? '' : `  [${r.labels.join(', ')}]`;
      io.out(`${r.path}  ${r.kind === 'dir' ? 'dir' : formatBytes(r.size)}${labels}\n`);
    }
    if (page.next !== undefined) io.out(`-- more: --cursor ${page.next}\n`);
    if (page.results.length === 0) io.err('no matches\n');
    return 0;
  },
};

/** `tessera storage`. */
export const storageCommand: Command = {
  name: 'storage',
  summary: 'storage utilization per mount, now or over time',
  help: `Usage: tessera storage [--history] [--mount PATH] [--days N] [--json] [--home DIR]

Show the latest storage utilization of each indexed mount (statfs of its export, sampled
by the node every 10 minutes and at start), or with --history every sample.

Options:
  --history      every sample instead of the latest
  --mount PATH   only this mount
  --days N       with --history: the last N days (default 30)
  --json         the samples as JSON
${HOME_OPTION_HELP}
`,
  async run({ io, argv }) {
    const { values } = parseCommandArgs({
      command: 'storage',
      argv,
      options: {
        history: { type: 'boolean' },
        mount: { type: 'string' },
        days: { type: 'string' },
        json: { type: 'boolean' },
      },
    });
    if (values.help === true) {
      io.out(this.help);
      return 0;
    }
    const days = values.days === undefined ? 30 : Number(values.days);
    if (!Number.isFinite(days) || days <= 0)
      throw usageError({
        command: 'storage',
        problem: `--days expects a positive number, got '${values.days}'`,
      });
    const samples = await withCatalog({
      io,
      home: values.home,
      fn: (store) =>
        values.history === true
          ? storageHistory(store, { mount: values.mount, since: Date.now() - days * 86_400_000 })
          : storageLatest(store).filter((s) => values.mount === undefined || s.mount === values.mount),
    });
    if (values.json === true) {
      io.out(`${JSON.stringify(samples, null, 2)}\n`);
      return 0;
    }
    if (samples.length === 0) {
      io.out('no storage samples yet\n');
      return 0;
    }
    io.out(
      formatTable({
        header: ['MOUNT', 'NODE', 'EXPORT', 'WHEN', 'SIZE', 'USED', 'AVAIL', 'USE%'],
        rows: samples.map((s) => [
          s.mount,
          s.node,
          s.export,
          new Date(s.at).toISOString().replace(/\.\d+Z$/, 'Z'),
          formatBytes(s.totalBytes),
          formatBytes(s.usedBytes),
          formatBytes(s.availBytes),
          s.totalBytes === 0 ? '-' : `${Math.round((100 * s.usedBytes) / s.totalBytes)}%`,
        ]),
      }),
    );
    return 0;
  },
};
