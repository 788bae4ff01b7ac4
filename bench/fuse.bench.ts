/**
 * The Tessera FUSE mount (`tessera mount-fs` of a node on loopback) against sshfs and
 * `rclone mount` (of `rclone serve webdav`) of the same directory, in one run: sequential
 * read and write of one big file (`dd bs=1M`), `find` + stat of a big tree, and `cp -r` of a
 * tree into the mount. Every measured call gets a fresh mount (so no client cache carries
 * over between rounds); the exported data stays in the page cache of the serving side.
 *
 *   node --import tsx bench/fuse.bench.ts --scale small|full [--repeats N] [--dir PATH] [--no-doc]
 *
 * Needs FUSE (/dev/fuse, root), openssh-server, sshfs and rclone
 * (`bash scripts/install-system-deps.sh --bench`) and the tessera_fuse addon (`npm ci`).
 */
import { mkdir, rm, stat } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadFuseBinding } from '../src/frontends/fuse/fuse-binding.ts';
import { parseBenchArgs } from './lib/args.ts';
import { writeSmallFiles } from './lib/data-set.ts';
import { describeMachine, machineInfo } from './lib/machine.ts';
import { type Contender, cpuMedianMs, procCpuMs, rounds, type Samples } from './lib/measure.ts';
import { type DaemonMount, startMountDaemon } from './lib/peers/mount-daemon.ts';
import { requirePrograms, runCommand } from './lib/peers/processes.ts';
import { startRcloneServe } from './lib/peers/rclone.ts';
import { mountSshfs, startSshd } from './lib/peers/sshfs.ts';
import { Teardown } from './lib/peers/teardown.ts';
import { startTesseraNode } from './lib/peers/tessera.ts';
import { judge, printJsonLine, table, verdictTable, writeDocSection } from './lib/report.ts';
import { makeRunDir } from './lib/run-dir.ts';
import { dd } from './lib/tools.ts';

const args = parseBenchArgs();
const full = args.scale === 'full';
const sizes = full
  ? { bytes: 1 << 30, findFiles: 100_000, copyFiles: 10_000 }
  : { bytes: 64 << 20, findFiles: 5_000, copyFiles: 1_000 };
const repeats = args.repeats ?? (full ? 3 : 1);
const DIRS = 100;
const BIG = 'big.bin';
const WRITTEN = 'written.bin';
const FIND_TREE = 'find-tree';
const COPY_TREE = 'copy-tree';
const EXPORT = 'data';
const BIN = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'tessera.js');

const CONTENDERS = ['tessera-tls', 'tessera-ws', 'sshfs', 'rclone'] as const;
type Name = (typeof CONTENDERS)[number];
const OPS = ['read', 'write', 'find', 'cp'] as const;
type OpName = (typeof OPS)[number];
/**
 * Who runs each operation. The copy of many small files is compared with sshfs only (the
 * target); rclone mount without its VFS cache uploads each file in a request of its own and
 * would take most of the run.
 */
const RUNS: Record<OpName, readonly Name[]> = {
  read: CONTENDERS,
  write: CONTENDERS,
  find: CONTENDERS,
  cp: ['tessera-tls', 'sshfs'],
};

/** Same-run targets: Tessera's speed over the peer's (time ratio peer / Tessera). */
const TARGETS = [
  {
    key: 'read_vs_sshfs',
    what: 'read (TLS) ≥ 3× sshfs',
    op: 'read',
    ours: 'tessera-tls',
    peer: 'sshfs',
    min: 3,
  },
  {
    key: 'read_vs_rclone',
    what: 'read (plain ws) ≥ 2× rclone mount (plain HTTP)',
    op: 'read',
    ours: 'tessera-ws',
    peer: 'rclone',
    min: 2,
  },
  {
    key: 'write_vs_sshfs',
    what: 'write (TLS) ≥ 2× sshfs',
    op: 'write',
    ours: 'tessera-tls',
    peer: 'sshfs',
    min: 2,
  },
  {
    key: 'find_vs_sshfs',
    what: 'find + stat (TLS) no slower than sshfs',
    op: 'find',
    ours: 'tessera-tls',
    peer: 'sshfs',
    min: 1,
  },
  {
    key: 'cp_vs_sshfs',
    what: 'cp -r (TLS) no slower than sshfs',
    op: 'cp',
    ours: 'tessera-tls',
    peer: 'sshfs',
    min: 1,
  },
] as const satisfies readonly {
  key: string;
  what: string;
  op: OpName;
  ours: Name;
  peer: Name;
  min: number;
}[];

/** `count` small files in DIRS directories (sizes 0–4 KiB, deterministic). */
function makeTree(dir: string, count: number): Promise<string[]> {
  return writeSmallFiles({
    dir,
    files: count,
    dirs: DIRS,
    content: (i) => Buffer.alloc((i * 37) % 4097, i % 251),
  });
}

async function main(): Promise<void> {
  const reason = loadFuseBinding().error?.message;
  if (reason !== undefined) throw new Error(`FUSE benchmark: ${reason}`);
  await requirePrograms(['sshfs', 'rclone', '/usr/sbin/sshd', 'fusermount']);

  await using teardown = new Teardown();
  const root = makeRunDir({ args, name: 'fuse', teardown });
  const data = join(root, 'data');
  const local = join(root, 'local');
  const mnt = join(root, 'mnt');
  await mkdir(data, { recursive: true });

  process.stderr.write(
    `data set: ${sizes.bytes >> 20} MiB file, ${sizes.findFiles} files to find, ${sizes.copyFiles} to copy\n`,
  );
  await runCommand({
    cmd: 'dd',
    args: ['if=/dev/urandom', `of=${join(data, BIG)}`, 'bs=1M', `count=${sizes.bytes >> 20}`, 'status=none'],
  });
  await makeTree(join(data, FIND_TREE), sizes.findFiles);
  await makeTree(join(local, COPY_TREE), sizes.copyFiles);
  // Written back before anything is timed: the first round would otherwise share the machine
  // with the kernel flushing the data set (every contender in it ran 1.7–2.4× slower).
  await runCommand({ cmd: 'sync', args: [] });
  const machine = await machineInfo(root);

  // The servers, each in a process of its own.
  // Two nodes exporting the same directory: TLS (compared with sshfs, which encrypts) and
  // plain ws (compared with rclone's plain-HTTP webdav).
  /** The Tessera node process serving each home (CPU accounting). */
  const nodePids = new Map<string, number | undefined>();
  for (const [home, insecure] of [
    ['home-tls', false],
    ['home-ws', true],
  ] as const) {
    const node = await startTesseraNode({
      home: join(root, home),
      dataDir: data,
      exportName: EXPORT,
      insecure,
    });
    teardown.add(`stop the tessera node (${home})`, () => node.stop());
    nodePids.set(home, node.pid);
  }
  const sshd = await startSshd({ dir: join(root, 'sshd') });
  teardown.add('stop sshd', () => sshd.stop());
  const webdav = await startRcloneServe({ protocol: 'webdav', root: data, dir: join(root, 'rclone') });
  teardown.add('stop rclone serve', () => webdav.stop());

  // A fresh mount per measured call; `dir` is where the data set appears in it.
  const tessera = (home: string) => ({
    nodePid: nodePids.get(home),
    dir: (mp: string) => join(mp, EXPORT),
    mount: (mp: string) =>
      startMountDaemon({
        name: 'tessera mount-fs',
        cmd: process.execPath,
        args: [BIN, 'mount-fs', mp],
        mountpoint: mp,
        env: { ...process.env, TESSERA_HOME: join(root, home), TESSERA_NODE: '', TESSERA_CREDENTIAL: '' },
      }),
  });
  const mounters: Record<
    Name,
    { nodePid?: number | undefined; dir: (mp: string) => string; mount: (mp: string) => Promise<DaemonMount> }
  > = {
    'tessera-tls': tessera('home-tls'),
    'tessera-ws': tessera('home-ws'),
    sshfs: {
      dir: (mp) => mp,
      mount: async (mp) => mountSshfs({ sshd, remoteDir: data, mountpoint: mp }),
    },
    rclone: {
      dir: (mp) => mp,
      mount: (mp) =>
        startMountDaemon({
          name: 'rclone mount',
          cmd: 'rclone',
          args: ['mount', webdav.remote, mp, '--vfs-cache-mode', 'off'],
          mountpoint: mp,
          env: webdav.env,
        }),
    },
  };

  let current: DaemonMount | undefined;
  teardown.add('unmount', async () => current?.unmount());
  const contender = (name: Name, op: OpName): Contender => {
    const mp = join(mnt, name);
    const dir = mounters[name].dir(mp);
    // Reads and writes are checked (`dd` must copy every byte; the written file must reach the
    // server's side whole): a call that did less than asked is an error, not a fast figure.
    const runs: Record<OpName, () => Promise<unknown>> = {
      read: () => dd({ from: join(dir, BIG), to: '/dev/null', expectBytes: sizes.bytes }),
      write: () =>
        dd({
          from: '/dev/zero',
          to: join(dir, WRITTEN),
          count: sizes.bytes >> 20,
          expectBytes: sizes.bytes,
        }),
      find: () =>
        runCommand({ cmd: 'find', args: [join(dir, FIND_TREE), '-printf', '%s %T@\n'], stdout: 'discard' }),
      cp: () =>
        runCommand({
          cmd: 'cp',
          args: ['-r', join(local, COPY_TREE), join(dir, 'copied')],
          stdout: 'discard',
        }),
    };
    const { nodePid } = mounters[name];
    return {
      name,
      before: async () => {
        // The served file in the server side's page cache for every contender alike (untimed):
        // reading through `rclone mount` of `rclone serve` leaves most of it evicted (rclone's
        // local backend drops the pages of what it has read), and the order rotates.
        if (op === 'read') await runCommand({ cmd: 'cat', args: [join(data, BIG)], stdout: 'discard' });
        current = await mounters[name].mount(mp);
      },
      run: runs[op],
      // Tessera's CPU per call: the mount process and the node serving it.
      cpu:
        nodePid === undefined
          ? undefined
          : () => ({
              mount: current?.pid === undefined ? NaN : procCpuMs({ pid: current.pid }),
              node: procCpuMs({ pid: nodePid }),
            }),
      after: async () => {
        await current?.unmount();
        current = undefined;
        if (op === 'write') {
          const { size } = await stat(join(data, WRITTEN));
          if (size !== sizes.bytes) throw new Error(`${name} wrote ${size} bytes, expected ${sizes.bytes}`);
        }
        // What a round wrote goes, on the server's side, untimed, and is written back before
        // the next contender starts (so none of them shares its time with that writeback).
        await rm(join(data, WRITTEN), { force: true });
        await rm(join(data, 'copied'), { recursive: true, force: true });
        await runCommand({ cmd: 'sync', args: [] });
      },
    };
  };

  const results = new Map<OpName, Map<string, Samples>>();
  for (const op of OPS) {
    process.stderr.write(`${op}: `);
    results.set(
      op,
      await rounds({
        repeats,
        contenders: RUNS[op].map((name) => contender(name, op)),
        onSample: (name, ms) => process.stderr.write(`${name} ${Math.round(ms)} ms  `),
      }),
    );
    process.stderr.write('\n');
  }
  const ms = (op: OpName, name: Name) => results.get(op)!.get(name)?.ms ?? NaN;
  const mbps = (op: OpName, name: Name) => sizes.bytes / 1e6 / (ms(op, name) / 1000);
  const verdicts = judge(TARGETS, (t, who) => results.get(t.op)!.get(who)!);
  const ratios = Object.fromEntries(verdicts.map((v) => [v.target.key, v.ratio]));
  const met = Object.fromEntries(verdicts.map((v) => [v.target.key, v.met]));

  const rows = CONTENDERS.map((name) => [
    name,
    `${Math.round(mbps('read', name))} MB/s`,
    `${Math.round(mbps('write', name))} MB/s`,
    `${(ms('find', name) / 1000).toFixed(2)} s`,
    RUNS.cp.includes(name) ? `${(ms('cp', name) / 1000).toFixed(2)} s` : '–',
  ]);
  const figures = table(
    [
      'mount',
      `read ${sizes.bytes >> 20} MiB`,
      `write ${sizes.bytes >> 20} MiB`,
      `find+stat ${sizes.findFiles}`,
      `cp -r ${sizes.copyFiles}`,
    ],
    rows,
  );
  const targets = verdictTable(verdicts);
  // Medians of the measured calls, in CPU seconds.
  const cpuOf = (op: OpName, name: Name, who: 'mount' | 'node') =>
    (cpuMedianMs(results.get(op)!.get(name), who) ?? NaN) / 1000;
  const perGiB = (1 << 30) / sizes.bytes;
  const tesseraNames = CONTENDERS.filter((n) => n.startsWith('tessera'));
  const cpuRows = tesseraNames.flatMap((name) =>
    (['mount', 'node'] as const).map((who) => [
      `${name} ${who}`,
      `${(cpuOf('read', name, who) * perGiB).toFixed(2)} s/GiB`,
      `${(cpuOf('write', name, who) * perGiB).toFixed(2)} s/GiB`,
      `${cpuOf('find', name, who).toFixed(2)} s`,
      RUNS.cp.includes(name) ? `${cpuOf('cp', name, who).toFixed(2)} s` : '–',
    ]),
  );
  const cpuTable = table(['CPU (process)', 'read', 'write', 'find+stat', 'cp -r'], cpuRows);
  console.log(`\n${figures}\n\n${targets}\n\n${cpuTable}\n`);
  if (args.doc && full) {
    await writeDocSection({
      title: 'FUSE mount (bench/fuse.bench.ts)',
      body: `\`tessera mount-fs\` of a node (its own process on loopback; over TLS — the session moving,
as every client's does by default, to a sealed connection keyed by its TLS session: AES-256-GCM
per message, [protocol.md](protocol.md#sealed-connections) — and over plain ws for
the comparison with rclone's plain-HTTP webdav) against sshfs
(OpenSSH \`sshd\`, cipher ${sshd.cipher}) and \`rclone mount\` (\`--vfs-cache-mode off\`) of
\`rclone serve webdav\`, all serving the same directory, measured in one run: ${repeats}
round(s), the order rotating, medians. A fresh mount for every measured call (no client
cache carries over); the served files stay in the server side's page cache (the file to
read is read through on the server's side before every read call, untimed: a read through
\`rclone mount\` leaves most of it evicted, and the next contender would read from disk); the
data set, and after every call what it wrote and its removal, are written back (\`sync\`,
untimed) before the next call. Reads and
writes are \`dd bs=1M\` of a ${sizes.bytes >> 20} MiB file; find is \`find -printf '%s %T@'\`
(a stat of every entry) over ${sizes.findFiles} files in ${DIRS} directories; cp is
\`cp -r\` of ${sizes.copyFiles} small files (0–4 KiB) in ${DIRS} directories from the local disk
into the mount (Tessera over TLS and sshfs only: rclone mount without its VFS cache uploads
each file in a request of its own). A fresh mount per call also means a fresh, unwarmed
JavaScript process for Tessera.
Load average at the end: ${loadavg()[0]!.toFixed(2)}. ${describeMachine(machine)}

${figures}

${targets}

CPU time of Tessera's two processes per call (\`/proc/PID/stat\` around each measured call,
medians; reads and writes scaled to a GiB):

${cpuTable}

How: libfuse 3, requests of up to 1 MiB; the FUSE process reads ahead 8 × 1 MiB for a
sequential reader; writes are answered by the addon once copied into one of its write slots
and sent to the node in 1 MiB buffers pipelined (write-behind, up to 16 MiB in flight per
file, errors reported by a later write or at close); listings go to the kernel as READDIRPLUS,
each name with its attributes, so a stat after a listing needs no LOOKUP. Where the time
goes: [fuse.md](fuse.md#performance).`,
    });
  }
  printJsonLine({
    bench: 'fuse',
    scale: args.scale,
    repeats,
    bytes: sizes.bytes,
    findFiles: sizes.findFiles,
    copyFiles: sizes.copyFiles,
    ms: Object.fromEntries(OPS.map((op) => [op, Object.fromEntries(RUNS[op].map((n) => [n, ms(op, n)]))])),
    readMBps: Object.fromEntries(CONTENDERS.map((n) => [n, mbps('read', n)])),
    writeMBps: Object.fromEntries(CONTENDERS.map((n) => [n, mbps('write', n)])),
    cpuSeconds: Object.fromEntries(
      OPS.map((op) => [
        op,
        Object.fromEntries(
          tesseraNames
            .filter((n) => RUNS[op].includes(n))
            .map((n) => [n, { mount: cpuOf(op, n, 'mount'), node: cpuOf(op, n, 'node') }]),
        ),
      ]),
    ),
    ratios,
    met,
  });
}

try {
  await main();
} catch (err) {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
}
