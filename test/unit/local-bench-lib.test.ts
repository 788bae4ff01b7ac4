import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseBenchArgs } from '../../bench/lib/args.ts';
import { cpuMedianMs, duel, median, rounds } from '../../bench/lib/measure.ts';
import { table, writeDocSection } from '../../bench/lib/report.ts';

describe('benchmark helpers (bench/lib)', () => {
  it('parses --scale, --repeats, --dir, --no-doc and refuses anything else', () => {
    assert.deepEqual(parseBenchArgs([]), { scale: 'small', doc: true });
    assert.deepEqual(parseBenchArgs(['--scale', 'full', '--repeats=3', '--dir', '/x', '--no-doc']), {
      scale: 'full',
      repeats: 3,
      dir: '/x',
      doc: false,
    });
    assert.throws(() => parseBenchArgs(['--scale', 'huge']), /--scale/);
    assert.throws(() => parseBenchArgs(['--repeat', '3']), /unknown benchmark argument '--repeat'/);
    assert.throws(() => parseBenchArgs(['--repeats', '0']), /--repeats/);
    assert.throws(() => parseBenchArgs(['--dir']), /needs a value/);
  });

  it('median and alternating duels', async () => {
    assert.equal(median([5, 1, 3]), 3);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    const order: string[] = [];
    const d = await duel({
      repeats: 2,
      raw: async () => void order.push('raw'),
      adapter: async () => void order.push('adapter'),
    });
    assert.deepEqual(
      order,
      ['raw', 'adapter', 'raw', 'adapter', 'adapter', 'raw'],
      'warm-up, then alternating order',
    );
    assert.equal(d.rawSamples.length, 2);
    assert.ok(d.ratio > 0);
  });

  it('rounds: a warm-up each, the order rotating, and the CPU growth of each measured call per counter', async () => {
    const order: string[] = [];
    // A counter that grows by 10 ms per call of a, 10 more each time (warm-up 10, then 20, 30).
    let counter = 0;
    let calls = 0;
    const result = await rounds({
      repeats: 2,
      contenders: [
        {
          name: 'a',
          run: async () => {
            order.push('a');
            counter += 10 * ++calls;
          },
          cpu: () => ({ busy: counter }),
        },
        { name: 'b', run: async () => void order.push('b') },
      ],
    });
    assert.deepEqual(order, ['a', 'b', 'a', 'b', 'b', 'a'], 'warm-up, then rotating order');
    const a = result.get('a')!;
    assert.equal(a.samples.length, 2);
    assert.deepEqual(a.cpu, { busy: [20, 30] }, 'the warm-up is not a sample');
    assert.equal(cpuMedianMs(a, 'busy'), 25);
    assert.equal(cpuMedianMs(result.get('b'), 'busy'), undefined, 'no counters, no figure');
  });

  it('replaces its own section of the benchmarks document and keeps the others', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-doc-'));
    try {
      const file = join(dir, 'benchmarks.md');
      await writeDocSection({ file, title: 'A', body: 'first A' });
      await writeDocSection({ file, title: 'B', body: table(['x', 'y'], [[1, 2]]) });
      await writeDocSection({ file, title: 'A', body: 'second A' });
      const text = readFileSync(file, 'utf8');
      assert.match(text, /^# Benchmarks/);
      assert.ok(text.includes('## A\n\nsecond A\n'));
      assert.ok(!text.includes('first A'));
      assert.ok(text.includes('## B\n\n| x | y |\n| --- | --- |\n| 1 | 2 |'));
      assert.ok(text.indexOf('## A') < text.indexOf('## B'), 'a replaced section keeps its place');
      writeFileSync(file, '# Mine\n\nintro\n\n## Other\n\nkept\n');
      await writeDocSection({ file, title: 'A', body: 'new' });
      assert.equal(readFileSync(file, 'utf8'), '# Mine\n\nintro\n\n## Other\n\nkept\n\n## A\n\nnew\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
