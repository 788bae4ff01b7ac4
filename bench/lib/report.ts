import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describeMachine, type MachineInfo } from './machine.ts';
import type { Samples } from './measure.ts';

/** docs/benchmarks.md of this repository. */
export const BENCHMARKS_DOC = fileURLToPath(new URL('../../docs/benchmarks.md', import.meta.url));

const DOC_HEADER = `# Benchmarks

Each section is written by its benchmark (\`node --import tsx bench/<name>.bench.ts --scale full\`)
and replaced when it runs again. Figures from one run on one machine: compare within a
section, not across machines.
`;

/** Print the one machine-readable result line (last line of a benchmark's output). */
export function printJsonLine(result: unknown): void {
  console.log(JSON.stringify(result, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
}

/**
 * Replace the section `## <title>` of the benchmarks document with `body` (adding it at the
 * end if absent), leaving every other section as it is.
 */
export async function writeDocSection(opts: { title: string; body: string; file?: string }): Promise<void> {
  const file = opts.file ?? BENCHMARKS_DOC;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    text = DOC_HEADER;
  }
  const heading = `## ${opts.title}`;
  const section = `${heading}\n\n${opts.body.trim()}\n`;
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.trim() === heading);
  if (start === -1) {
    text = `${text.trimEnd()}\n\n${section}`;
  } else {
    let end = lines.findIndex((l, i) => i > start && /^## /.test(l));
    if (end === -1) end = lines.length;
    const before = lines.slice(0, start).join('\n').trimEnd();
    const after = lines.slice(end).join('\n').trim();
    text = `${before}\n\n${section}${after ? `\n${after}\n` : ''}`;
  }
  await writeFile(file, text.endsWith('\n') ? text : `${text}\n`);
}

/** A Markdown table. */
export function table(head: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const line = (cells: readonly (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

/** A same-run target: `ours` at least `min` times as fast as `peer` (peer time / our time). */
export interface RatioTarget {
  /** Key in the JSON line. */
  key: string;
  /** The target in words, for the report. */
  what: string;
  /** Contender names (as `rounds` reports them). */
  ours: string;
  peer: string;
  min: number;
}

/** A target judged on the samples of one run. */
export interface Verdict<T extends RatioTarget = RatioTarget> {
  target: T;
  /** Ratio of the medians (peer / ours). */
  ratio: number;
  met: boolean;
  /** Lowest and highest per-round ratio (`rounds` runs each contender once per round). */
  lowest: number;
  highest: number;
}

/** Judge each target on its two contenders' samples (`samplesOf` finds them). */
export function judge<T extends RatioTarget>(
  targets: readonly T[],
  samplesOf: (target: T, who: string) => Samples,
): Verdict<T>[] {
  return targets.map((target) => {
    const ours = samplesOf(target, target.ours);
    const peer = samplesOf(target, target.peer);
    const ratio = peer.ms / ours.ms;
    // rounds() runs every contender once per round: the same index is the same round.
    const perRound = ours.samples.map((v, i) => peer.samples[i]! / v);
    return {
      target,
      ratio,
      met: ratio >= target.min,
      lowest: Math.min(...perRound),
      highest: Math.max(...perRound),
    };
  });
}

/** The Markdown table of verdicts: target, ratio, per-round range, met. */
export function verdictTable(verdicts: readonly Verdict[]): string {
  return table(
    ['target (same-run ratio of medians)', 'ratio', 'lowest – highest round', 'met'],
    verdicts.map((v) => [
      v.target.what,
      `${v.ratio.toFixed(2)}×`,
      `${v.lowest.toFixed(2)}× – ${v.highest.toFixed(2)}×`,
      v.met ? 'yes' : '**no**',
    ]),
  );
}

/** Verdicts for the JSON line, by target key. */
export function verdictFigures(
  verdicts: readonly Verdict[],
): Record<string, { ratio: number; lowest_round: number; highest_round: number; min: number; met: boolean }> {
  return Object.fromEntries(
    verdicts.map((v) => [
      v.target.key,
      {
        ratio: +v.ratio.toFixed(3),
        lowest_round: +v.lowest.toFixed(3),
        highest_round: +v.highest.toFixed(3),
        min: v.target.min,
        met: v.met,
      },
    ]),
  );
}

/** The first line of a report: when, at which scale, on what, under which load. */
export function runLine(opts: {
  date: string;
  scale: string;
  machine: MachineInfo;
  /** `loadavg()` at the start and at the end of the run. */
  load: readonly [readonly number[], readonly number[]];
}): string {
  const load = (l: readonly number[]) => l.map((v) => v.toFixed(2)).join(' ');
  return `Run ${opts.date} with \`--scale ${opts.scale}\` on ${describeMachine(opts.machine)}; load average ${load(opts.load[0])} at the start, ${load(opts.load[1])} at the end (a shared machine: other work may run alongside).`;
}
