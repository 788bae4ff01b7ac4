/**
 * The catalog: initial crawl of a real tree against `find -printf` over the same tree, an
 * unchanged re-crawl against the initial one, search latency over a seeded catalog against a
 * brute-force scan of the same names in memory, and how soon a change is visible in search.
 * Targets (full scale): crawl ≥ 50 % of find's rate over 100,000 files; re-crawl ≥ 10× faster
 * than the initial crawl; search p99 ≤ 20 ms over 500,000 documents; a change visible in
 * search ≤ 2 s after it happens.
 *
 *   node --import tsx bench/catalog.bench.ts --scale small|full [--repeats N] [--dir PATH] [--no-doc]
 */
import { execFileSync } from 'node:child_process';
import { constants as fsConstants, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Catalog } from '../src/catalog/catalog.ts';
import { FIRST_INODE } from '../src/catalog/file-doc.ts';
import { addRule, assignLabels } from '../src/catalog/labels.ts';
import { search, type SearchQuery } from '../src/catalog/search.ts';
import { CatalogStore, type CatalogWrite } from '../src/catalog/store.ts';
import { mapLimit } from '../src/core/map-limit.ts';
import { createLogger } from '../src/core/log.ts';
import { Namespace } from '../src/namespace/namespace.ts';
import { lstatBatch } from '../src/sources/local/linux-native.ts';
import { LINUX_PLATFORM } from '../src/sources/local/linux-platform.ts';
import { LocalSource } from '../src/sources/local/local-source.ts';
import { rng } from '../test/helpers/rng.ts';
import { parseBenchArgs } from './lib/args.ts';
import { seedFileWrite } from './lib/catalog-seed.ts';
import { describeMachine, machineInfo } from './lib/machine.ts';
import { median, percentile, procCpuMs, timeAndCpuMs, timeMs } from './lib/measure.ts';
import { printJsonLine, table, writeDocSection } from './lib/report.ts';
import { FIND_STAT_FORMAT } from './lib/tools.ts';

const args = parseBenchArgs();
const full = args.scale === 'full';
const loadStart = loadavg()[0]!.toFixed(2);
const DOCS = full ? 500_000 : 50_000;
const TREE_DIRS = full ? 100 : 20;
const TREE_PER_DIR = full ? 1000 : 500;
const TREE_FILES = TREE_DIRS * TREE_PER_DIR;
const repeats = args.repeats ?? (full ? 5 : 3);
const QUERIES = full ? 400 : 200;
const CHANGES = full ? 10 : 5;
const base = args.dir ?? mkdtempSync(join(tmpdir(), 'tessera-bench-catalog-'));
const logger = createLogger({ level: 'silent' });

function log(msg: string): void {
  process.stderr.write(`[catalog ${args.scale}] ${msg}\n`);
}

const WORDS = [
  'report',
  'invoice',
  'photo',
  'scan',
  'notes',
  'draft',
  'final',
  'budget',
  'meeting',
  'summary',
  'contract',
  'design',
  'backup',
  'export',
  'letter',
  'holiday',
  'project',
  'review',
  'plan',
  'minutes',
];
const EXTS = ['pdf', 'txt', 'jpg', 'png', 'docx', 'xlsx', 'md', 'mp3', 'mov', 'csv'];

/** Seed the store with `DOCS` documents spread over 20 exports; returns their names. */
function seed(store: CatalogStore): string[] {
  const rand = rng(42);
  const names: string[] = [];
  let local = 2;
  let batch: CatalogWrite[] = [];
  for (let i = 0; i < DOCS; i++) {
    const e = i % 20;
    const w1 = WORDS[Math.floor(rand() * WORDS.length)]!;
    const w2 = WORDS[Math.floor(rand() * WORDS.length)]!;
    const name = `${w1}-${w2}-${Math.floor(rand() * 1e6)}.${EXTS[Math.floor(rand() * EXTS.length)]!}`;
    names.push(name);
    const path = `/y${2000 + (i % 25)}/m${i % 12}/${name}`;
    batch.push(
      seedFileWrite({
        exportIndex: e,
        local: local++,
        path,
        size: Math.floor(rand() * 1e7),
        mtimeMs: Date.UTC(2024, 0, 1) + i,
      }),
    );
    if (batch.length === 5000) {
      store.write(batch);
      batch = [];
    }
  }
  store.write(batch);
  return names;
}

/** The query mix: substrings of real names (3–8 characters), 2-character ones, globs, labels. */
const KINDS = ['substring', 'substring', '2-char substring', 'glob', 'substring + label'] as const;

function queries(names: readonly string[]): SearchQuery[] {
  const rand = rng(7);
  const out: SearchQuery[] = [];
  for (let i = 0; i < QUERIES; i++) {
    const name = names[Math.floor(rand() * names.length)]!;
    const kind = i % 5;
    const len = 3 + Math.floor(rand() * 6);
    const at = Math.floor(rand() * Math.max(1, name.length - len));
    if (kind <= 1) out.push({ q: name.slice(at, at + len) });
    else if (kind === 2) out.push({ q: name.slice(at, at + 2) });
    else if (kind === 3) out.push({ glob: `${name.split('-')[0]!}-*.${name.split('.').pop()!}` });
    else out.push({ q: name.slice(at, at + len), labels: ['work'] });
  }
  return out;
}

/** The reference: the same queries answered by scanning every name in memory. */
function bruteForce(names: readonly string[], q: SearchQuery): number {
  let n = 0;
  if (q.q !== undefined) {
    const needle = q.q.toLowerCase();
    for (const name of names) if (name.toLowerCase().includes(needle)) n++;
  } else if (q.glob !== undefined) {
    const [prefix, ext] = q.glob.split('-*.');
    for (const name of names) if (name.startsWith(`${prefix!}-`) && name.endsWith(`.${ext!}`)) n++;
  }
  return n;
}

async function searchPart(): Promise<Record<string, number>> {
  const store = new CatalogStore({ file: join(base, 'seeded.db') });
  await store.open();
  try {
    // As the node does behind its crawls: fill the name index.
    const seedMs = await timeMs(async () => {
      seed(store);
      while (store.indexNames() > 0);
    });
    log(`seeded ${DOCS.toLocaleString('en-US')} documents in ${(seedMs / 1000).toFixed(1)} s`);
    const names = store.filesUnder({ prefix: '/' }).map((d) => d.name);
    addRule(store, { prefix: '/e3/', label: 'work' });
    for (const path of store
      .filesUnder({ prefix: '/e4/y2001' })
      .slice(0, 500)
      .map((d) => d.path))
      assignLabels(store, { path, labels: ['work'] });
    const qs = queries(names);
    for (const q of qs.slice(0, 20)) search(store, q); // warm-up
    const ours: number[] = [];
    const byKind = new Map<string, number[]>();
    for (let r = 0; r < repeats; r++)
      for (const [i, q] of qs.entries()) {
        const t = await timeMs(async () => search(store, q));
        ours.push(t);
        const kind = KINDS[i % KINDS.length]!;
        byKind.set(kind, [...(byKind.get(kind) ?? []), t]);
      }
    const kinds = Object.fromEntries(
      [...byKind].flatMap(([k, v]) => {
        const key = k.replace(/[^a-z0-9]+/g, '_');
        return [
          [`search_${key}_p50_ms`, median(v)],
          [`search_${key}_p99_ms`, percentile(v, 99)],
        ];
      }),
    );
    const brute: number[] = [];
    for (const q of qs.slice(0, 40)) brute.push(await timeMs(async () => bruteForce(names, q)));
    return {
      seed_ms: seedMs,
      search_p50_ms: median(ours),
      search_p99_ms: percentile(ours, 99),
      search_max_ms: Math.max(...ours),
      brute_p50_ms: median(brute),
      brute_p99_ms: percentile(brute, 99),
      ...kinds,
    };
  } finally {
    await store.close();
  }
}

function makeTree(root: string): void {
  for (let d = 0; d < TREE_DIRS; d++) {
    const dir = join(root, `d${String(d).padStart(3, '0')}`);
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < TREE_PER_DIR; f++) writeFileSync(join(dir, `file-${d}-${f}.txt`), `${d}/${f}`);
  }
}

/**
 * The floor: what listing and statting the tree costs on this machine through the native
 * addon's batched statx alone (no namespace, no ids, no catalog): each directory read with
 * `readdir` and its names statted with `lstatBatch`, 8 directories at once like the crawl.
 * Returns the entries statted.
 */
async function statFloor(root: string): Promise<number> {
  let level = [root];
  let entries = 0;
  while (level.length > 0) {
    const subdirs = await mapLimit(level, 8, async (dir) => {
      const names = await readdir(dir);
      const modes = await lstatBatch({ dir, names, map: (st) => st.mode, gone: () => true });
      entries += names.length;
      return names
        .filter((_, i) => ((modes[i] ?? 0) & fsConstants.S_IFMT) === fsConstants.S_IFDIR)
        .map((n) => join(dir, n));
    });
    level = subdirs.flat();
  }
  return entries;
}

async function crawlPart(): Promise<Record<string, number>> {
  const root = join(base, 'tree');
  const state = join(base, 'state');
  mkdirSync(state, { recursive: true });
  const made = await timeMs(async () => makeTree(root));
  log(`made a tree of ${TREE_FILES.toLocaleString('en-US')} files in ${(made / 1000).toFixed(1)} s`);
  const source = new LocalSource({
    spec: {
      kind: 'linux',
      name: 'tree',
      exportIndex: 1,
      path: root,
      ro: false,
      stateDir: state,
      options: {},
    },
    platform: LINUX_PLATFORM,
  });
  await source.open();
  const ns = new Namespace();
  await ns.open();
  await ns.mount({ path: '/tree', source, exportName: 'tree' });
  const db = join(base, 'crawl.db');
  const find = () => execFileSync('find', [root, '-printf', FIND_STAT_FORMAT], { maxBuffer: 1 << 30 }).length;
  const crawlOnce = async (): Promise<Catalog> => {
    const catalog = new Catalog({ file: db, namespace: ns, nodeName: 'bench', logger });
    await catalog.open();
    await catalog.settled();
    return catalog;
  };
  try {
    find(); // warm the page cache and dentries for every contender alike
    // Wall and CPU time of each round, per part.
    const runs = () => ({ ms: [] as number[], cpu: [] as number[] });
    const [findRuns, floorRuns, initialRuns, fillRuns, recrawlRuns] = [
      runs(),
      runs(),
      runs(),
      runs(),
      runs(),
    ];
    const timed = async (into: ReturnType<typeof runs>, fn: () => Promise<unknown>): Promise<void> => {
      const t = await timeAndCpuMs(fn);
      into.ms.push(t.ms);
      into.cpu.push(t.cpuMs);
    };
    let catalog: Catalog | undefined;
    for (let r = 0; r < repeats; r++) {
      // find runs in a child: its CPU is the children's.
      const before = procCpuMs({ pid: 'self', children: true });
      findRuns.ms.push(await timeMs(async () => find()));
      findRuns.cpu.push(procCpuMs({ pid: 'self', children: true }) - before);
      let statted = 0;
      await timed(floorRuns, async () => (statted = await statFloor(root)));
      if (statted !== TREE_FILES + TREE_DIRS)
        throw new Error(
          `the floor statted ${statted} entries under ${root}, expected ${TREE_FILES + TREE_DIRS}`,
        );
      await catalog?.close();
      for (const f of [db, `${db}-wal`, `${db}-shm`]) rmSync(f, { force: true });
      await timed(initialRuns, async () => (catalog = await crawlOnce()));
      await timed(fillRuns, async () => catalog!.indexNames());
      if (catalog!.store.namesIndexedUpto() < FIRST_INODE + TREE_FILES + TREE_DIRS - 1)
        throw new Error(
          `the name index was filled up to inode ${catalog!.store.namesIndexedUpto()}, expected at least ${FIRST_INODE + TREE_FILES + TREE_DIRS - 1}`,
        );
      const count = catalog!.store.count();
      if (count !== TREE_FILES + TREE_DIRS)
        throw new Error(`crawl of ${root} indexed ${count} documents, expected ${TREE_FILES + TREE_DIRS}`);
      await catalog!.close();
      await timed(recrawlRuns, async () => (catalog = await crawlOnce()));
    }
    // The last catalog keeps watching: how soon is a change visible in search?
    const watching = catalog!;
    lastOpen = watching;
    const visible: number[] = [];
    for (let i = 0; i < CHANGES; i++) {
      const name = `fresh-change-${i}-${Date.now()}.txt`;
      const started = process.hrtime.bigint();
      writeFileSync(join(root, `d000`, name), 'new');
      while (watching.search({ q: name }).results.length === 0) await new Promise((r) => setTimeout(r, 5));
      visible.push(Number(process.hrtime.bigint() - started) / 1e6);
    }
    await watching.close();
    return {
      find_ms: median(findRuns.ms),
      initial_ms: median(initialRuns.ms),
      recrawl_ms: median(recrawlRuns.ms),
      find_cpu_ms: median(findRuns.cpu),
      floor_ms: median(floorRuns.ms),
      floor_cpu_ms: median(floorRuns.cpu),
      initial_cpu_ms: median(initialRuns.cpu),
      recrawl_cpu_ms: median(recrawlRuns.cpu),
      name_index_fill_ms: median(fillRuns.ms),
      name_index_fill_cpu_ms: median(fillRuns.cpu),
      visible_p50_ms: median(visible),
      visible_max_ms: Math.max(...visible),
    };
  } finally {
    await ns.close();
    await source.close();
  }
}

/** The catalog still open if a part failed (closed at the end). */
let lastOpen: Catalog | undefined;

async function main(): Promise<void> {
  const machine = await machineInfo(base);
  try {
    const s = await searchPart();
    const c = await crawlPart();
    const crawlRatio = c.find_ms! / c.initial_ms!;
    const recrawlRatio = c.initial_ms! / c.recrawl_ms!;
    const targets = [
      [
        `initial crawl of ${TREE_FILES.toLocaleString('en-US')} files ≥ 50 % of find's rate`,
        `${(crawlRatio * 100).toFixed(0)} %`,
        crawlRatio >= 0.5,
      ],
      [
        'unchanged re-crawl ≥ 10× faster than the initial crawl',
        `${recrawlRatio.toFixed(1)}×`,
        recrawlRatio >= 10,
      ],
      [
        `search p99 ≤ 20 ms over ${DOCS.toLocaleString('en-US')} documents`,
        `${s.search_p99_ms!.toFixed(1)} ms`,
        s.search_p99_ms! <= 20,
      ],
      [
        'a change visible in search ≤ 2 s',
        `${(c.visible_max_ms! / 1000).toFixed(2)} s (worst of ${CHANGES})`,
        c.visible_max_ms! <= 2000,
      ],
    ] as const;
    const ms = (v: number | undefined) => `${v!.toFixed(1)} ms`;
    // A re-crawl must stat every entry, so it cannot beat the floor.
    const bothBound = c.find_ms! / 5;
    const bothPossible = c.floor_ms! <= bothBound;
    const date = new Date().toISOString().slice(0, 10);
    const body = [
      `Run ${date} with \`--scale ${args.scale}\` on ${describeMachine(machine)}.`,
      `Load average ${loadStart} at the start, ${loadavg()[0]!.toFixed(2)} at the end. Medians of ${repeats} rounds.`,
      '',
      `- **Crawl**: a real tree of ${TREE_FILES.toLocaleString('en-US')} files in ${TREE_DIRS} directories (warm page cache), a \`linux\``,
      '  export mounted in a namespace; a `Catalog` opened on an empty database until it settles',
      '  (readdirp through the namespace, documents written in batches with their label triggers).',
      '  The trigram name index is filled after the crawl (search scans the rows not yet in it, so',
      '  results are complete meanwhile); its fill is measured on a row of its own. CPU: user + system',
      "  time of the whole process (every thread), find's from its rusage (10 ms ticks).",
      "  Reference: `find DIR -printf '%s %T@ %m %p\\n'` (a stat of every entry). Re-crawl: the same",
      '  with the database already filled and nothing changed (a stat per entry, no writes).',
      "  Floor: the same tree listed with `readdir` and statted with the native addon's batched",
      '  `statx` (`lstatBatch`, what the `linux` source uses), 8 directories at once, nothing else:',
      '  no namespace, ids or catalog — what any crawl of this tree costs at least.',
      `- **Search**: ${DOCS.toLocaleString('en-US')} seeded documents, ${QUERIES} queries per round (substrings of 3–8`,
      '  characters of real names, 2-character substrings, globs, substrings with a label filter),',
      '  first page of 50. Reference: the same substring/glob answered by scanning every name in',
      '  memory (a JS loop, no index).',
      `- **Change visible**: a file created in the watched tree, \`search\` polled every 5 ms until it is`,
      '  found; the watcher debounces 500 ms per path by design.',
      '',
      table(
        ['measure', 'Tessera catalog', 'reference (same run)', 'ratio'],
        [
          [
            'initial crawl (wall)',
            ms(c.initial_ms),
            `find: ${ms(c.find_ms)}`,
            `${(crawlRatio * 100).toFixed(0)} % of find's rate`,
          ],
          [
            'initial crawl (CPU)',
            ms(c.initial_cpu_ms),
            `find: ${ms(c.find_cpu_ms)}`,
            `${((c.find_cpu_ms! / c.initial_cpu_ms!) * 100).toFixed(0)} % of find's rate`,
          ],
          [
            '… then the name index filled (wall / CPU)',
            `${ms(c.name_index_fill_ms)} / ${ms(c.name_index_fill_cpu_ms)}`,
            `find: ${ms(c.find_ms)}`,
            `crawl + fill: ${((c.find_ms! / (c.initial_ms! + c.name_index_fill_ms!)) * 100).toFixed(0)} % of find's rate`,
          ],
          [
            'unchanged re-crawl (wall)',
            ms(c.recrawl_ms),
            `initial: ${ms(c.initial_ms)}`,
            `${recrawlRatio.toFixed(1)}× faster`,
          ],
          [
            'unchanged re-crawl (CPU)',
            ms(c.recrawl_cpu_ms),
            `initial: ${ms(c.initial_cpu_ms)}`,
            `${(c.initial_cpu_ms! / c.recrawl_cpu_ms!).toFixed(1)}× faster`,
          ],
          [
            'floor: readdir + batched statx, no catalog (wall)',
            ms(c.floor_ms),
            `find: ${ms(c.find_ms)}`,
            `initial crawl ${(c.initial_ms! / c.floor_ms!).toFixed(1)}×, re-crawl ${(c.recrawl_ms! / c.floor_ms!).toFixed(1)}× the floor`,
          ],
          [
            'floor (CPU)',
            ms(c.floor_cpu_ms),
            `find: ${ms(c.find_cpu_ms)}`,
            `initial crawl ${(c.initial_cpu_ms! / c.floor_cpu_ms!).toFixed(1)}×, re-crawl ${(c.recrawl_cpu_ms! / c.floor_cpu_ms!).toFixed(1)}× the floor`,
          ],
          [
            'search p50 / p99',
            `${ms(s.search_p50_ms)} / ${ms(s.search_p99_ms)}`,
            `scan: ${ms(s.brute_p50_ms)} / ${ms(s.brute_p99_ms)}`,
            `${(s.brute_p50_ms! / s.search_p50_ms!).toFixed(0)}× at p50`,
          ],
          ...[...new Set(KINDS)].map((k) => {
            const key = k.replace(/[^a-z0-9]+/g, '_');
            return [
              `… ${k} p50 / p99`,
              `${ms(s[`search_${key}_p50_ms`])} / ${ms(s[`search_${key}_p99_ms`])}`,
              '',
              '',
            ];
          }),
          [
            'change visible in search',
            `${ms(c.visible_p50_ms)} median, ${ms(c.visible_max_ms)} worst`,
            'debounce 500 ms',
            '—',
          ],
        ],
      ),
      '',
      table(
        ['target', 'measured', 'met'],
        targets.map(([t, v, ok]) => [
          t,
          v,
          full ? (ok ? 'yes' : '**no**') : ok ? 'yes (small scale)' : 'no (small scale)',
        ]),
      ),
      '',
      `Both crawl targets at once need a re-crawl ≤ initial / 10 ≤ 2 × find / 10 = ${ms(bothBound)}; the`,
      `floor (listing and statting the tree, nothing else) took ${ms(c.floor_ms)}: ${bothPossible ? 'within reach on this machine' : '**both cannot hold on this machine**'}.`,
    ].join('\n');
    if (args.doc) await writeDocSection({ title: 'Catalog: crawl, re-crawl, search, change latency', body });
    process.stderr.write(`${body}\n`);
    printJsonLine({
      bench: 'catalog',
      date,
      scale: args.scale,
      machine,
      load_average: { start: Number(loadStart), end: +loadavg()[0]!.toFixed(2) },
      repeats,
      documents: DOCS,
      tree_files: TREE_FILES,
      ...Object.fromEntries(Object.entries({ ...s, ...c }).map(([k, v]) => [k, +v.toFixed(2)])),
      crawl_vs_find: +crawlRatio.toFixed(3),
      recrawl_speedup: +recrawlRatio.toFixed(2),
      both_crawl_targets_possible: bothPossible,
      targets_met: Object.fromEntries(targets.map(([t, , ok]) => [t, ok])),
    });
  } finally {
    await lastOpen?.close().catch(() => undefined);
    if (args.dir === undefined) rmSync(base, { recursive: true, force: true });
  }
}

await main();
