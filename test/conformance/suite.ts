import { after, before, describe, it, type TestContext } from 'node:test';
import type { NodeId } from '../../src/core/ids.ts';
import type { Caps, ExportInfo, Source } from '../../src/sources/source.ts';
import { advancedCases } from './cases-advanced.ts';
import { basicCases, exportCases } from './cases-basic.ts';
import { closeWriteCases } from './cases-close-write.ts';
import { errorCases } from './cases-errors.ts';
import type { ConformanceFixture, ConformanceOptions } from './fixture.ts';
import { bigDirCases, watchCases } from './cases-dir-watch.ts';
import { readOnlyCases } from './cases-readonly.ts';

/** What every conformance case sees. Populated in `before`, so cases read it lazily. */
export interface Ctx {
  opts: ConformanceOptions;
  fx: ConformanceFixture;
  /** The Source under test (replaced after a restart). */
  src: Source;
  exp: ExportInfo;
  root: NodeId;
  caps: Caps;
  /** A new empty directory under the export root, unique to the caller. */
  fresh(): Promise<NodeId>;
  /** Skip the running test (recording the reason) unless `cond` holds. */
  need(t: TestContext, cond: boolean, reason: string): boolean;
  /** Register a case. */
  test(name: string, fn: (t: TestContext) => Promise<void>): void;
}

interface Stats {
  ran: number;
  skipped: Map<string, string[]>;
}

/**
 * The one conformance suite. Every Source (memory, linux, posix, s3, remote, namespace,
 * zones…) runs these same cases, skipping only what its declared caps exclude; the
 * summary line says how many ran and which were skipped for which reason.
 */
export function runConformance(opts: ConformanceOptions): void {
  const stats: Stats = { ran: 0, skipped: new Map() };
  describe(`conformance: ${opts.name}`, () => {
    if (opts.readOnly === true) {
      group(opts, stats, 'exports', exportCases);
      group(opts, stats, 'read-only', readOnlyCases);
      return;
    }
    group(opts, stats, 'basics', basicCases);
    group(opts, stats, 'close with write', closeWriteCases);
    group(opts, stats, 'errors', errorCases);
    group(opts, stats, 'advanced', advancedCases);
    group(opts, stats, 'readdirp paging', bigDirCases);
    group(opts, stats, 'invalidation', watchCases);
    after(() => {
      const skipped = [...stats.skipped].map(
        ([reason, tests]) => `${tests.length} for "${reason}" (${tests.join(', ')})`,
      );
      const total = stats.ran + [...stats.skipped.values()].reduce((n, t) => n + t.length, 0);
      console.log(
        `conformance ${opts.name}: ${total} tests, ${stats.ran} ran, ${total - stats.ran} skipped${skipped.length ? ': ' + skipped.join('; ') : ''}`,
      );
    });
  });
}

function group(opts: ConformanceOptions, stats: Stats, title: string, register: (ctx: Ctx) => void): void {
  describe(title, () => {
    let seq = 0;
    const ctx = {
      opts,
      async fresh() {
        const entry = await ctx.src.mkdir({
          parent: ctx.root,
          name: `t${++seq}-${process.pid}-${Date.now() % 100000}`,
          mode: 0o755,
        });
        return entry.id;
      },
      need(t: TestContext, cond: boolean, reason: string) {
        if (cond) return true;
        const list = stats.skipped.get(reason) ?? [];
        list.push(t.name);
        stats.skipped.set(reason, list);
        stats.ran--;
        t.skip(reason);
        return false;
      },
      test(name: string, fn: (t: TestContext) => Promise<void>) {
        it(name, async (t) => {
          stats.ran++;
          await fn(t);
        });
      },
    } as Ctx;
    before(async () => {
      ctx.fx = await opts.setup();
      ctx.src = ctx.fx.source;
      const exports = await ctx.src.listExports();
      const exp = ctx.fx.exportName
        ? exports.find((e) => e.name === ctx.fx.exportName)
        : exports.find((e) => opts.readOnly === true || !e.ro);
      if (!exp)
        throw new Error(
          `fixture for ${opts.name} has no export to test (${exports.map((e) => e.name).join(', ')})`,
        );
      ctx.exp = exp;
      ctx.root = exp.root;
      ctx.caps = exp.caps;
    });
    after(async () => {
      await ctx.fx?.cleanup();
    });
    register(ctx);
  });
}
