/**
 * WebDAV GET of one big file: the node's WebDAV (`/dav/`) against `rclone serve webdav` of the
 * same file, on loopback in one run, each fetched by the same clients (curl, `rclone cat`).
 * Target: Tessera's GET at least as fast as rclone's, with either client (same-run ratio of
 * medians). Also reports each server's CPU time per GiB sent.
 *
 *   node --import tsx bench/webdav.bench.ts --scale small|full [--repeats N] [--dir PATH] [--no-doc]
 *
 * Needs rclone and curl (`bash scripts/install-system-deps.sh --bench`).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseBenchArgs } from './lib/args.ts';
import { machineInfo } from './lib/machine.ts';
import { type Contender, cpuMedianMs, procCpuMs, rounds, type Samples } from './lib/measure.ts';
import { requirePrograms, runCommand } from './lib/peers/processes.ts';
import { startNodeRawHttp } from './lib/peers/node-raw-http.ts';
import { startRcloneServe } from './lib/peers/rclone.ts';
import { Teardown } from './lib/peers/teardown.ts';
import { startTesseraNode } from './lib/peers/tessera.ts';
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

const args = parseBenchArgs();
const full = args.scale === 'full';
const bytes = full ? 1 << 30 : 256 << 20;
const repeats = args.repeats ?? (full ? 7 : 3);
const BIG = 'big.bin';
const EXPORT = 'data';

/** Same-run targets: Tessera's GET time over rclone's for the same client. */
const TARGETS = [
  {
    key: 'get_curl',
    what: 'GET with curl: Tessera ≥ `rclone serve webdav`',
    ours: 'tessera/curl',
    peer: 'rclone/curl',
    min: 1,
  },
  {
    key: 'get_rclone_cat',
    what: 'GET with `rclone cat`: Tessera ≥ `rclone serve webdav`',
    ours: 'tessera/rclone-cat',
    peer: 'rclone/rclone-cat',
    min: 1,
  },
] as const;

function log(msg: string): void {
  process.stderr.write(`[webdav ${args.scale}] ${msg}\n`);
}

async function writeBig(path: string): Promise<void> {
  const block = randomBytes(1 << 20);
  const fh = await open(path, 'w');
  try {
    for (let off = 0; off < bytes; off += block.length) await fh.write(block, 0, block.length, off);
  } finally {
    await fh.close();
  }
  await runCommand({ cmd: 'sync', args: [] });
}

async function main(): Promise<void> {
  await requirePrograms(['rclone', 'curl']);
  const teardown = new Teardown();
  const base = makeRunDir({ args, name: 'webdav', teardown });
  const loadAtStart = loadavg();
  try {
    const data = join(base, 'data');
    mkdirSync(data, { recursive: true });
    log(`writing a ${bytes >> 20} MiB file in ${data}`);
    await writeBig(join(data, BIG));

    log('starting rclone serve webdav and two Tessera nodes (plain HTTP, TLS) on 127.0.0.1');
    // Basic auth on both sides, as every Tessera request authenticates.
    const pass = randomBytes(18).toString('base64url');
    const rclone = await startRcloneServe({
      protocol: 'webdav',
      root: data,
      dir: join(base, 'rclone'),
      flags: ['--user', 'bench', `--pass=${pass}`],
    });
    teardown.add('stop rclone serve webdav', () => rclone.stop());
    const http = await startTesseraNode({
      home: join(base, 'home-http'),
      dataDir: data,
      exportName: EXPORT,
      insecure: true,
    });
    teardown.add('stop the plain node', () => http.stop());
    const tls = await startTesseraNode({
      home: join(base, 'home-tls'),
      dataDir: data,
      exportName: EXPORT,
      insecure: false,
    });
    teardown.add('stop the TLS node', () => tls.stop());
    const raw = await startNodeRawHttp({ file: join(data, BIG) });
    teardown.add('stop the bare node:http server', () => raw.stop());

    const env = rclone.env;
    const obscure = async (secret: string) =>
      (await runCommand({ cmd: 'rclone', args: ['obscure', '--', secret], env })).stdout.trim();
    const davUrl = (peer: typeof http) => {
      const u = new URL(peer.url);
      return `${u.protocol === 'wss:' ? 'https' : 'http'}://${u.host}/dav/${EXPORT}`;
    };
    const servers = {
      tessera: {
        url: `${davUrl(http)}/${BIG}`,
        user: http.connect.credential.id,
        secret: http.connect.credential.secret,
        pid: http.pid,
      },
      'tessera-tls': {
        url: `${davUrl(tls)}/${BIG}`,
        user: tls.connect.credential.id,
        secret: tls.connect.credential.secret,
        pid: tls.pid,
      },
      rclone: { url: `http://127.0.0.1:${rclone.port}/${BIG}`, user: 'bench', secret: pass, pid: rclone.pid },
      // No authentication: the server ignores the header.
      'node-raw': { url: raw.url, user: 'none', secret: 'none', pid: raw.pid },
    };
    type Server = keyof typeof servers;
    const curl = async (server: Server) => {
      const s = servers[server];
      const { stdout } = await runCommand({
        cmd: 'curl',
        args: [
          '-sS',
          '-f',
          '-k',
          '-o',
          '/dev/null',
          '-w',
          '%{size_download}',
          '-u',
          `${s.user}:${s.secret}`,
          s.url,
        ],
      });
      if (Number(stdout) !== bytes) throw new Error(`curl from ${server} got ${stdout} bytes, not ${bytes}`);
    };
    const remotes = {
      tessera: `:webdav,url='${davUrl(http)}/',user=${servers.tessera.user},pass=${await obscure(servers.tessera.secret)}:`,
      rclone: `:webdav,url='http://127.0.0.1:${rclone.port}/',user=bench,pass=${await obscure(pass)}:`,
    };
    // The bytes go through a pipe to `wc -c`, not into this process: counting them here would
    // make the benchmark's own CPU part of every figure.
    const cat = async (server: 'tessera' | 'rclone') => {
      const { stdout } = await runCommand({
        cmd: 'bash',
        args: ['-c', 'set -o pipefail; rclone cat "$1" | wc -c', 'bash', `${remotes[server]}${BIG}`],
        env,
      });
      const got = Number(stdout.trim());
      if (got !== bytes) throw new Error(`rclone cat from ${server} got ${got} bytes, not ${bytes}`);
    };

    // CPU time of the server per call.
    const contender = (name: string, server: Server, run: () => Promise<void>): Contender => {
      const { pid } = servers[server];
      return { name, run, cpu: () => ({ server: pid === undefined ? NaN : procCpuMs({ pid }) }) };
    };
    const contenders: Contender[] = [
      contender('tessera/curl', 'tessera', () => curl('tessera')),
      contender('rclone/curl', 'rclone', () => curl('rclone')),
      contender('tessera/rclone-cat', 'tessera', () => cat('tessera')),
      contender('rclone/rclone-cat', 'rclone', () => cat('rclone')),
      contender('tessera-tls/curl', 'tessera-tls', () => curl('tessera-tls')),
      contender('node-raw/curl', 'node-raw', () => curl('node-raw')),
    ];
    log(`GET of ${bytes >> 20} MiB, ${repeats} rounds`);
    const results = await rounds({
      repeats,
      contenders,
      onSample: (name, ms) => log(`  ${name}: ${(ms / 1000).toFixed(3)} s`),
    });
    await report({ results, base, load: [loadAtStart, loadavg()] });
  } finally {
    await teardown.run();
  }
}

async function report(opts: {
  results: Map<string, Samples>;
  base: string;
  load: [number[], number[]];
}): Promise<void> {
  const { results } = opts;
  const machine = await machineInfo(opts.base);
  const date = new Date().toISOString();
  const mbps = (ms: number) => bytes / 1e6 / (ms / 1000);
  const cpuPerGiB = (name: string) =>
    (cpuMedianMs(results.get(name), 'server') ?? NaN) / 1000 / (bytes / 2 ** 30);
  const row = (label: string, name: string) => {
    const s = results.get(name)!;
    return [
      label,
      `${mbps(s.ms).toFixed(0)} MB/s (${(s.ms / 1000).toFixed(2)} s)`,
      `${cpuPerGiB(name).toFixed(2)} s`,
    ];
  };
  const verdicts = judge(TARGETS, (_t, who) => results.get(who)!);
  const allMet = verdicts.every((v) => v.met);
  const mib = bytes >> 20;
  const body = [
    runLine({ date, scale: args.scale, machine, load: opts.load }),
    '',
    `GET of one ${mib} MiB file (in page cache) on 127.0.0.1, median of ${repeats} rounds after one`,
    'warm-up each; every contender runs once per round and the order rotates. MB/s is 10⁶ bytes per',
    "second; server CPU is the serving process's user + system time per GiB sent (median).",
    '',
    table(
      ['server / client', 'GET', 'server CPU per GiB'],
      [
        row('Tessera `/dav/` (plain HTTP) / curl', 'tessera/curl'),
        row('`rclone serve webdav` / curl', 'rclone/curl'),
        row('Tessera `/dav/` (plain HTTP) / `rclone cat`', 'tessera/rclone-cat'),
        row('`rclone serve webdav` / `rclone cat`', 'rclone/rclone-cat'),
        row('Tessera `/dav/` over TLS 1.3 / curl (reference, no target)', 'tessera-tls/curl'),
        row(
          "bare `node:http` + `fs.createReadStream` / curl (the platform's ceiling, no target)",
          'node-raw/curl',
        ),
      ],
    ),
    '',
    verdictTable(verdicts),
    '',
    `All targets ${allMet ? '**met**' : '**NOT met**'}.`,
    '',
    'How each side works:',
    '',
    "- **Tessera**: a node in its own process (`bench/lib/peers/tessera-serve.ts`, the default surfaces as `tessera serve` has them) with one `linux` export of the data dir; HTTP Basic with the owner credential. GET streams the file through the Source contract: 1 MiB reads into pooled buffers, 4 ahead, at most 2 chunks queued on the socket (`src/frontends/send-file.ts`, shared with the REST API's content GET).",
    '- **rclone**: `rclone serve webdav` of the data dir with `--user`/`--pass` (default flags otherwise: `--vfs-cache-mode off`).',
    '- **clients**: `curl -o /dev/null` (one GET), and `rclone cat` of the file through an on-the-fly webdav remote piped into `wc -c`; the byte count is checked on every call.',
  ].join('\n');
  if (args.doc) await writeDocSection({ title: 'WebDAV: Tessera vs rclone serve webdav', body });
  process.stderr.write(`${body}\n`);
  printJsonLine({
    bench: 'webdav',
    date,
    scale: args.scale,
    machine,
    load_average: { start: opts.load[0], end: opts.load[1] },
    repeats,
    bytes,
    figures: Object.fromEntries(
      [...results].map(([name, s]) => [
        name,
        {
          ms: +s.ms.toFixed(1),
          samples_ms: s.samples.map((v) => +v.toFixed(1)),
          mb_s: +mbps(s.ms).toFixed(1),
          server_cpu_s_per_gib: +cpuPerGiB(name).toFixed(3),
        },
      ]),
    ),
    targets: verdictFigures(verdicts),
    targets_met: allMet,
  });
}

await main();
