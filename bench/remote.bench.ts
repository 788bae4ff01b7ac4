/**
 * Tessera over the wire against sshfs, rclone and the local disk, all on loopback in one
 * run: sequential read of one big file, sequential write of one, and a full metadata walk
 * (stat of every file) of a tree. Targets are same-run ratios (see TARGETS).
 *
 *   node --import tsx bench/remote.bench.ts --scale small|full [--repeats N] [--dir PATH] [--no-doc]
 *
 * Needs openssh-server, sshfs and rclone (`bash scripts/install-system-deps.sh --bench`) and
 * FUSE (/dev/fuse, run as root). BENCH_PROFILE_DIR=DIR runs the Tessera nodes with
 * `--cpu-prof` into DIR.
 */
import { mkdirSync } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { CHUNK_BYTES, WINDOW } from '../src/client/remote-source.ts';
import { MAX_READDIR_PAGE } from '../src/sources/dir-pager.ts';
import { parseBenchArgs } from './lib/args.ts';
import { machineInfo } from './lib/machine.ts';
import { writeBigFile, writeSmallFiles } from './lib/data-set.ts';
import {
  type Contender,
  cpuMedianMs,
  procCpuMs,
  procThreadsCpuMs,
  rounds,
  type Samples,
} from './lib/measure.ts';
import { requirePrograms, runCommand } from './lib/peers/processes.ts';
import { type RcloneServer, startRcloneServe } from './lib/peers/rclone.ts';
import { mountSshfs, type SshfsMount, startSshd } from './lib/peers/sshfs.ts';
import { Teardown } from './lib/peers/teardown.ts';
import { startTesseraNode } from './lib/peers/tessera.ts';
import { TesseraClient } from './lib/peers/tessera-client.ts';
import {
  judge,
  printJsonLine,
  runLine,
  table,
  verdictFigures,
  verdictTable,
  writeDocSection,
} from './lib/report.ts';
import { makeRunDir } from './lib/run-dir.ts';
import { WALK_CONCURRENCY } from './lib/source-ops.ts';
import { dd, FIND_STAT_FORMAT, findFiles } from './lib/tools.ts';

const args = parseBenchArgs();
const full = args.scale === 'full';
const sizes = full ? { files: 100_000, bytes: 1 << 30 } : { files: 10_000, bytes: 128 << 20 };
const repeats = args.repeats ?? (full ? 7 : 3);
const TREE_DIRS = 100;
const BIG = 'big.bin';
const TREE = 'tree';
const EXPORT = 'linux';

/** Same-run targets: Tessera's speed over the peer's (time ratio peer / Tessera). */
const TARGETS = [
  {
    key: 'read_tls_vs_sshfs',
    what: 'read over TLS ≥ 3× sshfs',
    op: 'read',
    ours: 'tessera-tls',
    peer: 'sshfs',
    min: 3,
  },
  {
    key: 'read_ws_vs_rclone_webdav',
    what: 'read over plain ws ≥ `rclone cat` over webdav',
    op: 'read',
    ours: 'tessera-ws',
    peer: 'rclone-webdav',
    min: 1,
  },
  {
    key: 'write_tls_vs_sshfs',
    what: 'write over TLS ≥ 2× sshfs',
    op: 'write',
    ours: 'tessera-tls',
    peer: 'sshfs',
    min: 2,
  },
  {
    key: 'walk_tls_vs_sshfs',
    what: 'metadata walk over TLS ≥ 3× faster than sshfs',
    op: 'walk',
    ours: 'tessera-tls',
    peer: 'sshfs',
    min: 3,
  },
  {
    key: 'walk_tls_vs_rclone_sftp',
    what: 'metadata walk over TLS no slower than `rclone lsjson -R` over sftp',
    op: 'walk',
    ours: 'tessera-tls',
    peer: 'rclone-sftp',
    min: 1,
  },
] as const;

type Op = 'read' | 'write' | 'walk';

/**
 * BENCH_OPS=read,write,walk (a subset) measures only those, for development: the report
 * then covers only their targets and docs/benchmarks.md is left alone.
 */
const ops = new Set<Op>(
  (process.env.BENCH_OPS ?? 'read,write,walk').split(',').map((o) => {
    if (o !== 'read' && o !== 'write' && o !== 'walk') throw new Error(`BENCH_OPS: unknown operation '${o}'`);
    return o;
  }),
);
const partial = ops.size < 3;

type Side = 'client' | 'node' | 'nodeMain';

/**
 * The CPU counters of a Tessera contender (`Contender.cpu`): ms (user + system, all threads)
 * its client process and its node process have used so far, and of the node's, its main thread.
 */
function tesseraCpu(pids: {
  client: number | undefined;
  node: number | undefined;
}): () => Record<Side, number> {
  return () => {
    const node = pids.node === undefined ? { main: NaN, other: NaN } : procThreadsCpuMs({ pid: pids.node });
    return {
      client: pids.client === undefined ? NaN : procCpuMs({ pid: pids.client }),
      node: node.main + node.other,
      nodeMain: node.main,
    };
  };
}

function log(msg: string): void {
  process.stderr.write(`[remote ${args.scale}] ${msg}\n`);
}

/** The data set: one big file and a tree of `files` small files in TREE_DIRS directories. */
async function build(data: string): Promise<void> {
  await writeSmallFiles({ dir: join(data, TREE), files: sizes.files, dirs: TREE_DIRS });
  await writeBigFile({ path: join(data, BIG), bytes: sizes.bytes });
  // Let writeback of the fresh data finish now rather than during the measurements.
  await runCommand({ cmd: 'sync', args: [] });
}

async function main(): Promise<void> {
  await requirePrograms([
    '/usr/sbin/sshd',
    'ssh',
    'ssh-keygen',
    'sshfs',
    'fusermount',
    'rclone',
    'dd',
    'find',
  ]);
  const teardown = new Teardown();
  const base = makeRunDir({ args, name: 'remote', teardown });
  const loadAtStart = loadavg();
  try {
    const data = join(base, 'data');
    mkdirSync(data, { recursive: true });
    log(`building a ${sizes.bytes >> 20} MiB file and ${sizes.files} files in ${TREE_DIRS} dirs in ${data}`);
    await build(data);

    log('starting sshd, rclone serve webdav/sftp and two Tessera nodes (TLS, ws) on 127.0.0.1');
    const sshd = await startSshd({ dir: join(base, 'sshd') });
    teardown.add('stop sshd', () => sshd.stop());
    const webdav = await startRcloneServe({
      protocol: 'webdav',
      root: data,
      dir: join(base, 'rclone-webdav'),
    });
    teardown.add('stop rclone serve webdav', () => webdav.stop());
    const sftp = await startRcloneServe({ protocol: 'sftp', root: data, dir: join(base, 'rclone-sftp') });
    teardown.add('stop rclone serve sftp', () => sftp.stop());
    // For reference only: the same server without its directory cache (it reads the disk again).
    const sftpNoCache = await startRcloneServe({
      protocol: 'sftp',
      root: data,
      dir: join(base, 'rclone-sftp-nocache'),
      flags: ['--dir-cache-time', '0s'],
    });
    teardown.add('stop rclone serve sftp (no dir cache)', () => sftpNoCache.stop());
    const profileDir = process.env.BENCH_PROFILE_DIR;
    const nodeArgs = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
    const tls = await startTesseraNode({
      home: join(base, 'home-tls'),
      dataDir: data,
      exportName: EXPORT,
      insecure: false,
      nodeArgs,
    });
    teardown.add('stop the TLS node', () => tls.stop());
    const ws = await startTesseraNode({
      home: join(base, 'home-ws'),
      dataDir: data,
      exportName: EXPORT,
      insecure: true,
      nodeArgs,
    });
    teardown.add('stop the ws node', () => ws.stop());

    const clientArgs = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
    const clients = {
      'tessera-tls': await TesseraClient.start({
        connect: tls.connect,
        exportName: EXPORT,
        nodeArgs: clientArgs,
      }),
      'tessera-ws': await TesseraClient.start({
        connect: ws.connect,
        exportName: EXPORT,
        nodeArgs: clientArgs,
      }),
    };
    for (const [name, client] of Object.entries(clients))
      teardown.add(`close the ${name} client`, () => client.close());
    const pids = {
      'tessera-tls': { client: clients['tessera-tls'].pid, node: tls.pid },
      'tessera-ws': { client: clients['tessera-ws'].pid, node: ws.pid },
    };

    const mountpoint = join(base, 'sshfs-mnt');
    await mkdir(mountpoint, { recursive: true });
    let mount: SshfsMount | undefined;
    teardown.add('unmount sshfs', async () => mount?.unmount());
    /** Each sshfs call runs on a fresh mount: no sshfs or kernel cache carries over from the last. */
    const sshfsFresh = {
      before: async () => {
        mount = await mountSshfs({ sshd, remoteDir: data, mountpoint });
      },
      after: async () => {
        await mount?.unmount();
        mount = undefined;
      },
    };
    const rclone = (server: RcloneServer, rcArgs: string[], stdout: 'discard' | 'capture' = 'discard') =>
      runCommand({ cmd: 'rclone', args: rcArgs, env: server.env, stdout });

    // Untimed checks that every peer sees the same data set.
    log('checking that every peer sees the data set');
    {
      let bytes = 0;
      await runCommand({
        cmd: 'rclone',
        args: ['cat', `${webdav.remote}${BIG}`],
        env: webdav.env,
        stdout: (c) => (bytes += c.length),
      });
      if (bytes !== sizes.bytes) throw new Error(`rclone cat over webdav gave ${bytes} bytes`);
      const listed = JSON.parse(
        (await rclone(sftp, ['lsjson', '-R', `${sftp.remote}${TREE}`], 'capture')).stdout,
      ) as { IsDir: boolean }[];
      const counts = {
        local: await findFiles({ dir: join(data, TREE) }),
        'rclone-sftp': listed.filter((e) => !e.IsDir).length,
        sshfs: 0,
      };
      await sshfsFresh.before();
      try {
        counts.sshfs = await findFiles({ dir: join(mountpoint, TREE) });
      } finally {
        await sshfsFresh.after();
      }
      for (const [who, n] of Object.entries(counts))
        if (n !== sizes.files) throw new Error(`${who} walk found ${n} files, not ${sizes.files}`);
    }

    const results = new Map<Op, Map<string, Samples>>();
    const progress = (op: Op) => (name: string, ms: number) =>
      log(`  ${op} ${name}: ${(ms / 1000).toFixed(3)} s`);

    log(`sequential read of ${sizes.bytes >> 20} MiB, ${repeats} rounds`);
    const readers: Contender[] = [
      { name: 'local', run: () => dd({ from: join(data, BIG), to: '/dev/null', expectBytes: sizes.bytes }) },
      {
        name: 'sshfs',
        run: () => dd({ from: join(mountpoint, BIG), to: '/dev/null', expectBytes: sizes.bytes }),
        ...sshfsFresh,
      },
      { name: 'rclone-webdav', run: () => rclone(webdav, ['cat', `${webdav.remote}${BIG}`]) },
      ...(['tessera-tls', 'tessera-ws'] as const).map((name) => ({
        name,
        run: async () => {
          const n = await clients[name].read(BIG);
          if (n !== sizes.bytes) throw new Error(`${name} read ${n} bytes, not ${sizes.bytes}`);
        },
        cpu: tesseraCpu(pids[name]),
      })),
    ];
    if (ops.has('read'))
      results.set('read', await rounds({ repeats, contenders: readers, onSample: progress('read') }));

    log(`sequential write of ${sizes.bytes >> 20} MiB, ${repeats} rounds`);
    const count = sizes.bytes / CHUNK_BYTES;
    const written = (name: string) => join(data, `written-${name}.bin`);
    const checkWritten = async (name: string) => {
      const st = await stat(written(name));
      if (st.size !== sizes.bytes) throw new Error(`${name} wrote ${st.size} bytes, not ${sizes.bytes}`);
    };
    const writers: Contender[] = [
      {
        name: 'local',
        run: () => dd({ from: '/dev/zero', to: written('local'), count, expectBytes: sizes.bytes }),
        after: async () => {
          await checkWritten('local');
          await rm(written('local'));
        },
      },
      {
        name: 'sshfs',
        run: () =>
          dd({
            from: '/dev/zero',
            to: join(mountpoint, 'written-sshfs.bin'),
            count,
            expectBytes: sizes.bytes,
          }),
        before: sshfsFresh.before,
        after: async () => {
          // Checked before unmounting: dd's close must have pushed every byte already.
          await checkWritten('sshfs');
          await sshfsFresh.after();
          await rm(written('sshfs'));
        },
      },
      ...(['tessera-tls', 'tessera-ws'] as const).map((name) => ({
        name,
        run: () => clients[name].write(`written-${name}.bin`, sizes.bytes),
        cpu: tesseraCpu(pids[name]),
        after: async () => {
          await checkWritten(name);
          await clients[name].unlink(`written-${name}.bin`);
        },
      })),
    ];
    if (ops.has('write'))
      results.set('write', await rounds({ repeats, contenders: writers, onSample: progress('write') }));

    log(`metadata walk of ${sizes.files} files, ${repeats} rounds`);
    const expectFiles = (who: string) => (n: number) => {
      if (n !== sizes.files) throw new Error(`${who} walk found ${n} files, not ${sizes.files}`);
    };
    const find = (dir: string) =>
      runCommand({ cmd: 'find', args: [dir, '-printf', FIND_STAT_FORMAT], stdout: 'discard' });
    const walkers: Contender[] = [
      { name: 'local', run: () => find(join(data, TREE)) },
      { name: 'sshfs', run: () => find(join(mountpoint, TREE)), ...sshfsFresh },
      { name: 'rclone-sftp', run: () => rclone(sftp, ['lsjson', '-R', `${sftp.remote}${TREE}`]) },
      {
        name: 'rclone-sftp-nocache',
        run: () => rclone(sftpNoCache, ['lsjson', '-R', `${sftpNoCache.remote}${TREE}`]),
      },
      ...(['tessera-tls', 'tessera-ws'] as const).map((name) => ({
        name,
        run: async () => expectFiles(name)(await clients[name].walk(TREE)),
        cpu: tesseraCpu(pids[name]),
      })),
    ];
    if (ops.has('walk'))
      results.set('walk', await rounds({ repeats, contenders: walkers, onSample: progress('walk') }));

    await report({ results, base, cipher: sshd.cipher, load: [loadAtStart, loadavg()] });
  } finally {
    await teardown.run();
  }
}

async function report(opts: {
  results: Map<Op, Map<string, Samples>>;
  base: string;
  cipher: string;
  load: [number[], number[]];
}): Promise<void> {
  const { results } = opts;
  const machine = await machineInfo(opts.base);
  const date = new Date().toISOString();
  const samples = (op: Op, who: string) => results.get(op)?.get(who);
  const mbps = (msv: number) => sizes.bytes / 1e6 / (msv / 1000);
  const cell = (op: Op, who: string) => {
    const v = samples(op, who)?.ms;
    if (v === undefined) return '—';
    return op === 'walk'
      ? `${(v / 1000).toFixed(2)} s (${Math.round(sizes.files / (v / 1000)).toLocaleString('en-US')} files/s)`
      : `${mbps(v).toFixed(0)} MB/s (${(v / 1000).toFixed(2)} s)`;
  };
  const columns = ['local', 'sshfs', 'rclone', 'tessera-tls', 'tessera-ws'] as const;
  const peerOf = (op: Op, col: (typeof columns)[number]) =>
    col === 'rclone' ? (op === 'read' ? 'rclone-webdav' : op === 'walk' ? 'rclone-sftp' : 'none') : col;
  const mib = sizes.bytes >> 20;
  const rows = [
    [`sequential read of a ${mib} MiB file`, ...columns.map((c) => cell('read', peerOf('read', c)))],
    [`sequential write of a ${mib} MiB file`, ...columns.map((c) => cell('write', peerOf('write', c)))],
    [
      `metadata walk of ${sizes.files.toLocaleString('en-US')} files in ${TREE_DIRS} dirs`,
      ...columns.map((c) => cell('walk', peerOf('walk', c))),
    ],
  ];
  const verdicts = judge(
    TARGETS.filter((t) => ops.has(t.op)),
    (t, who) => samples(t.op, who)!,
  );
  const allMet = verdicts.every((v) => v.met);
  const noCache = samples('walk', 'rclone-sftp-nocache');
  /** Median CPU seconds of a Tessera call over the rounds, or undefined. */
  const cpuS = (op: Op, who: string, side: Side) => {
    const msv = cpuMedianMs(samples(op, who), side);
    return msv === undefined ? undefined : msv / 1000;
  };
  const cpuCell = (op: Op, who: string, side: Side) => {
    const v = cpuS(op, who, side);
    if (v === undefined) return '—';
    const main = side === 'node' ? cpuS(op, who, 'nodeMain') : undefined;
    return `${v.toFixed(2)} s${main === undefined ? '' : ` (main thread ${main.toFixed(2)} s)`}`;
  };
  const measuredOps = (['read', 'write', 'walk'] as const).filter((op) => ops.has(op));
  const cpuRows = measuredOps.map((op) => [
    op,
    ...(['tessera-tls', 'tessera-ws'] as const).flatMap((who) => [
      cpuCell(op, who, 'client'),
      cpuCell(op, who, 'node'),
    ]),
  ]);
  const body = [
    runLine({ date, scale: args.scale, machine, load: opts.load }),
    '',
    'Everything on 127.0.0.1 in one run, over one data set in page cache (warm for every peer',
    `alike), median of ${repeats} rounds after one warm-up each; every contender runs once per round,`,
    'and the order rotates from round to round. MB/s is 10⁶ bytes per second. Servers (sshd, whose',
    'connections and sftp-server get sessions of their own anyway, rclone serve, the Tessera nodes) run',
    'in sessions of their own, as servers do; the clients and tools run in the benchmark’s.',
    '',
    table(['operation', 'local disk', 'sshfs', 'rclone', 'Tessera (TLS)', 'Tessera (ws)'], rows),
    '',
    verdictTable(verdicts),
    '',
    'CPU time (user + system, every thread) each Tessera call took in the client process and in the node process, median of the rounds (it swings far less with the load on the machine than the wall time does):',
    '',
    table(['operation', 'TLS client', 'TLS node', 'ws client', 'ws node'], cpuRows),
    '',
    `All targets ${allMet ? '**met**' : '**NOT met**'}.` +
      (noCache
        ? ` For reference (not a target): \`rclone lsjson -R\` over an sftp server started with \`--dir-cache-time 0s\`, which reads the directories again on every call instead of answering from memory: ${(noCache.ms / 1000).toFixed(2)} s.`
        : ''),
    '',
    'How each contender works:',
    '',
    `- **local disk**: \`dd bs=1M\` from the file / from \`/dev/zero\` (no fsync), \`find -printf '${FIND_STAT_FORMAT}'\` (size, mtime and mode need a stat of every entry).`,
    `- **sshfs** (sshfs 3, OpenSSH's sshd from a config of its own on a loopback port, sftp-server; default sshfs options and cipher, negotiated: \`${opts.cipher}\`): the same \`dd\` and \`find\` through the mount. Every sshfs call runs on a fresh mount (mounted and unmounted untimed), so neither sshfs's caches nor the kernel's carry over from one call to the next; within a call they work as usual.`,
    '- **rclone** (`serve webdav` and `serve sftp` of the data dir, default flags: `--vfs-cache-mode off`, `--dir-cache-time 5m`; clients configured on the command line with a temp config file): read is `rclone cat` of the file over webdav, output to /dev/null; walk is `rclone lsjson -R` over sftp (names, sizes and times from sftp directory reads). The server keeps its directory cache between calls, as a running `rclone serve` does.',
    `- **Tessera**: two nodes, each in its own process (\`bench/lib/peers/tessera-serve.ts\`: \`createNode\` on a temp home with one \`linux\` export of the data dir and the catalog off, so no indexing runs alongside), one with TLS 1.3 (the client's session moves to a sealed connection keyed by its TLS session, as by default: [protocol.md](protocol.md#sealed-connections)) and one \`--insecure\` (plain ws). The client is a \`RemoteSource\` with one session per node, each in a process of its own (\`bench/lib/peers/tessera-client-child.ts\`, driven over IPC; like \`dd\`, \`find\` and \`rclone\`, no client runs inside the benchmark process). Read = ${WINDOW} pipelined 1 MiB READs in flight, each into its worker's reused buffer (\`read({ into })\`, as \`dd\` reuses its buffer), bytes discarded; write = CREATE, ${WINDOW} pipelined 1 MiB WRITEs in flight, CLOSE (the file appears atomically at close); walk = READDIRP (${MAX_READDIR_PAGE.toLocaleString('en-US')} entries per page, attributes included: the stat of every file, over the wire) of every directory, ${WALK_CONCURRENCY} directories in flight.`,
  ].join('\n');
  if (args.doc && !partial)
    await writeDocSection({ title: 'Remote access: Tessera vs sshfs, rclone and local disk', body });
  process.stderr.write(`${body}\n`);
  const figures = Object.fromEntries(
    [...results].map(([op, m]) => [
      op,
      Object.fromEntries(
        [...m].map(([who, s]) => [
          who,
          {
            ms: +s.ms.toFixed(1),
            samples_ms: s.samples.map((v) => +v.toFixed(1)),
            ...(op === 'walk'
              ? { files_per_s: Math.round(sizes.files / (s.ms / 1000)) }
              : { mb_s: +mbps(s.ms).toFixed(1) }),
          },
        ]),
      ),
    ]),
  );
  printJsonLine({
    bench: 'remote',
    date,
    scale: args.scale,
    machine,
    load_average: { start: opts.load[0], end: opts.load[1] },
    repeats,
    sizes,
    ssh_cipher: opts.cipher,
    figures,
    cpu_s: Object.fromEntries(
      measuredOps.map((op) => [
        op,
        Object.fromEntries(
          (['tessera-tls', 'tessera-ws'] as const).map((who) => [
            who,
            {
              client: cpuS(op, who, 'client') ?? null,
              node: cpuS(op, who, 'node') ?? null,
              node_main_thread: cpuS(op, who, 'nodeMain') ?? null,
            },
          ]),
        ),
      ]),
    ),
    targets: verdictFigures(verdicts),
    targets_met: allMet,
  });
}

await main();
