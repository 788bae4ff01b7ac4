/**
 * The failover row of `bench/mounts.bench.ts`. An alias over two nodes serving the same
 * directory is reading a big file when the serving node is SIGKILLed; the figure is the time
 * from the kill to the next bytes delivered (a 64 KiB read issued right after it). Peer, in
 * the same round: a plain client of a third node, killed the same way, doing what a client
 * without an alias must — notice the error, open a new session to the survivor (HELLO + AUTH,
 * its key already derived), find the file again, open it and read. Target: failover < 2 s.
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { RemoteSource } from '../../src/client/remote-source.ts';
import { rootId } from '../../src/core/ids.ts';
import { createLogger } from '../../src/core/log.ts';
import { AliasSource } from '../../src/namespace/alias-source.ts';
import { median } from './measure.ts';
import { startTesseraNode, type TesseraPeer } from './peers/tessera.ts';
import { table } from './report.ts';

const MiB = 1024 * 1024;
const PROBE = 64 * 1024;
/** Failover must deliver the next bytes within this long after the kill, every round. */
export const FAILOVER_TARGET_MS = 2000;
/** Title of its section in docs/benchmarks.md. */
export const FAILOVER_TITLE = 'Mounts: failover time';

/** Figures of the failover rounds. */
export interface FailoverResult {
  failover_ms: number[];
  manual_reconnect_ms: number[];
  median_failover_ms: number;
  median_manual_ms: number;
  ratio_failover_vs_manual: number;
  target_ms: number;
  target_met: boolean;
}

/** Read 4 MiB through an alias over `a` and `b`, kill the serving one, time the next read. */
async function aliasRound(opts: {
  a: TesseraPeer;
  b: TesseraPeer;
  exportName: string;
  file: string;
}): Promise<{ ms: number; survivor: TesseraPeer }> {
  const { a, b } = opts;
  const alias = new AliasSource({
    alias: 'bench',
    exportName: `/${opts.exportName}`,
    endpoints: [a.connect, b.connect],
    logger: createLogger({ level: 'silent' }),
  });
  await alias.open();
  try {
    const f = await alias.lookup({ parent: rootId(1), name: opts.file });
    const { handle } = await alias.openFile({ id: f.id, flags: { read: true, write: false } });
    for (let off = 0; off < 4 * MiB; off += MiB) await alias.read({ handle, offset: off, length: MiB });
    const victim = alias.status().serving === a.url ? a : b;
    const t0 = performance.now();
    await victim.kill();
    const bytes = await alias.read({ handle, offset: 4 * MiB, length: PROBE });
    const ms = performance.now() - t0;
    if (bytes.length !== PROBE) throw new Error(`short read after failover: ${bytes.length}`);
    if (alias.status().serving === victim.url) throw new Error('still serving from the killed endpoint');
    await alias.closeFile({ handle });
    return { ms, survivor: victim === a ? b : a };
  } finally {
    await alias.close();
  }
}

/** The same kill seen by a plain client: a new session to the survivor, then find, open, read. */
async function manualRound(opts: {
  doomed: TesseraPeer;
  survivor: TesseraPeer;
  exportName: string;
  file: string;
}): Promise<number> {
  // Derive the survivor's key beforehand, as the alias's standby session has.
  const warm = new RemoteSource({ connect: opts.survivor.connect });
  await warm.open();
  await warm.close();
  const open = async (s: RemoteSource) => {
    const root = (await s.listExports()).find((e) => e.name === `/${opts.exportName}`)!.root;
    const f = await s.lookup({ parent: root, name: opts.file });
    return (await s.openFile({ id: f.id, flags: { read: true, write: false } })).handle;
  };
  const src = new RemoteSource({ connect: opts.doomed.connect });
  await src.open();
  const h = await open(src);
  for (let off = 0; off < 4 * MiB; off += MiB) await src.read({ handle: h, offset: off, length: MiB });
  const t0 = performance.now();
  await opts.doomed.kill();
  const failed = await src.read({ handle: h, offset: 4 * MiB, length: PROBE }).then(
    () => false,
    () => true,
  );
  if (!failed) throw new Error('a read succeeded on a killed node');
  const next = new RemoteSource({ connect: opts.survivor.connect });
  await next.open();
  const bytes = await next.read({ handle: await open(next), offset: 4 * MiB, length: PROBE });
  const ms = performance.now() - t0;
  if (bytes.length !== PROBE) throw new Error(`short read: ${bytes.length}`);
  await next.close();
  await src.close().catch(() => undefined);
  return ms;
}

/**
 * Run `repeats` rounds over `dataDir` (which must hold `file`, ≥ 5 MiB): three fresh nodes
 * per round, each with its own home under `base`. Returns the figures and the Markdown body
 * of its benchmarks.md section.
 */
export async function measureFailover(opts: {
  base: string;
  dataDir: string;
  file: string;
  repeats: number;
  log?: (msg: string) => void;
}): Promise<{ result: FailoverResult; body: string }> {
  const exportName = 'failover';
  let homes = 0;
  const start = () =>
    startTesseraNode({
      home: join(opts.base, `failover-home-${homes++}`),
      dataDir: opts.dataDir,
      exportName,
      insecure: false,
    });
  const failover: number[] = [];
  const manual: number[] = [];
  for (let i = 0; i < opts.repeats; i++) {
    opts.log?.(`failover round ${i + 1} of ${opts.repeats}`);
    const nodes = [await start(), await start(), await start()] as const;
    try {
      const { ms, survivor } = await aliasRound({ a: nodes[0], b: nodes[1], exportName, file: opts.file });
      failover.push(ms);
      manual.push(await manualRound({ doomed: nodes[2], survivor, exportName, file: opts.file }));
    } finally {
      for (const n of nodes) await n.stop().catch(() => undefined);
    }
  }
  const r = (ms: number) => Math.round(ms);
  const med = { failover: median(failover), manual: median(manual) };
  const result: FailoverResult = {
    failover_ms: failover.map(r),
    manual_reconnect_ms: manual.map(r),
    median_failover_ms: r(med.failover),
    median_manual_ms: r(med.manual),
    ratio_failover_vs_manual: Math.round((med.failover / med.manual) * 100) / 100,
    target_ms: FAILOVER_TARGET_MS,
    target_met: Math.max(...failover) < FAILOVER_TARGET_MS,
  };
  const body = `Load average ${loadavg()
    .map((v) => v.toFixed(2))
    .join(' ')} after the rounds (a shared machine).

An alias over two nodes (TLS, loopback) serving the same directory reads a big file; the
serving node is SIGKILLed after 4 MiB. **Failover** is the time from the kill to the next
64 KiB delivered through the alias (the open read handle moves to the standby session and
continues at the same offset). **Manual reconnect** is the same kill seen by a plain client
of a third node, which then opens a new session to the survivor (key already derived),
finds the file, opens it and reads. ${opts.repeats} rounds; target: failover < ${FAILOVER_TARGET_MS} ms in every round.

${table(
  ['', 'median ms', 'max ms', 'rounds (ms)'],
  [
    ['failover (alias)', result.median_failover_ms, r(Math.max(...failover)), result.failover_ms.join(', ')],
    [
      'manual reconnect (peer)',
      result.median_manual_ms,
      r(Math.max(...manual)),
      result.manual_reconnect_ms.join(', '),
    ],
  ],
)}

Failover / manual reconnect: ${result.ratio_failover_vs_manual}×. Target ${result.target_met ? '**met**' : '**NOT met**'}.
A kill on loopback is seen at once (the socket closes), so both figures are the work after
it; a peer that vanishes without closing its socket is noticed by the heartbeat (20 s) instead.`;
  return { result, body };
}
