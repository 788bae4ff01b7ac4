import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  formatBytes,
  formatDuration,
  PROGRESS_MIN_BYTES,
  ProgressBar,
  progressSink,
  renderProgress,
} from '../../src/cli/remote/progress.ts';
import { globToRegExp } from '../../src/cli/remote/glob.ts';
import { modeString, octalMode } from '../../src/cli/remote/format.ts';

const MiB = 1024 * 1024;

describe('progress bar', () => {
  it('formats sizes in binary units with three significant digits', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(1023), '1023 B');
    assert.equal(formatBytes(1536), '1.50 KiB');
    assert.equal(formatBytes(12.3 * MiB), '12.3 MiB');
    assert.equal(formatBytes(300 * MiB), '300 MiB');
    assert.equal(formatBytes(5 * 1024 * MiB), '5.00 GiB');
  });

  it('formats durations as m:ss or h:mm:ss, and unknown ones as --:--', () => {
    assert.equal(formatDuration(0), '0:00');
    assert.equal(formatDuration(65), '1:05');
    assert.equal(formatDuration(3725), '1:02:05');
    assert.equal(formatDuration(undefined), '--:--');
    assert.equal(formatDuration(Infinity), '--:--');
    assert.equal(formatDuration(-1), '--:--');
  });

  it('renders label, bar, percent, bytes, rate and ETA', () => {
    const line = renderProgress({ label: 'big.bin', done: 25 * MiB, total: 100 * MiB, rate: 5 * MiB }, 100);
    assert.equal(
      line,
      'big.bin  [=======>                      ]  25%  25.0 MiB / 100 MiB  5.00 MiB/s  ETA  0:15',
    );
    assert.ok(line.length <= 100);
  });

  it('draws an empty bar at the start and a full one at the end', () => {
    const start = renderProgress({ label: 'f', done: 0, total: 10 * MiB, rate: undefined }, 80);
    assert.match(start, /^f {2}\[ +\] {3}0% +0 B \/ 10\.0 MiB +ETA --:--$/);
    const end = renderProgress({ label: 'f', done: 10 * MiB, total: 10 * MiB, rate: MiB }, 80);
    assert.match(end, /\[=+\] 100%/);
    assert.doesNotMatch(end, />/);
  });

  it('keeps the bar the same width while the numbers change', () => {
    const widths = [0, 1, 7, 33, 64, 99, 100].map((p) => {
      const line = renderProgress(
        { label: 'data', done: (p / 100) * 500 * MiB, total: 500 * MiB, rate: p === 0 ? undefined : p * MiB },
        90,
      );
      return /\[(.*)\]/.exec(line)?.[1]?.length;
    });
    assert.ok(
      widths.every((w) => w !== undefined && w === widths[0]),
      `bar widths ${widths.join(',')}`,
    );
  });

  it('fits narrow terminals: the bar goes first, then the label is cut, never over the width', () => {
    const state = { label: 'a-rather-long-file-name.iso', done: 3 * MiB, total: 9 * MiB, rate: MiB };
    for (const width of [120, 90, 70, 60, 50, 40, 30, 10, 0]) {
      const line = renderProgress(state, width);
      assert.ok(line.length <= width, `width ${width}: ${JSON.stringify(line)}`);
    }
    assert.match(renderProgress(state, 120), /^a-rather-long-file-name\.iso {2}\[/);
    const narrow = renderProgress(state, 60);
    assert.doesNotMatch(narrow, /\[/);
    assert.match(narrow, /^a-rather-long-file-name\.iso {2}\d|^a-rather[^ ]*… {2}/);
    assert.match(renderProgress(state, 56), /^a-ra[^ ]*… {2}/);
    assert.match(renderProgress(state, 50), /^33%/, 'no room for a label: the numbers stay');
  });

  it('shows bytes and rate without a bar or ETA when the total is unknown', () => {
    const line = renderProgress({ label: 'stream', done: 5 * MiB, total: 0, rate: MiB }, 80);
    assert.equal(line, 'stream  5.00 MiB  1.00 MiB/s');
  });

  it('draws only on a terminal, for transfers over 4 MiB, at most every 100 ms, and clears itself', () => {
    let t = 0;
    const written: string[] = [];
    const sink = { write: (s: string) => written.push(s), columns: 80 };
    const small = new ProgressBar({ sink, label: 's', total: PROGRESS_MIN_BYTES, now: () => t });
    small.update(1);
    small.finish();
    assert.equal(small.enabled, false);
    assert.equal(written.length, 0);

    const off = new ProgressBar({ sink: undefined, label: 'x', total: 100 * MiB, now: () => t });
    off.update(MiB);
    assert.equal(off.enabled, false);

    const bar = new ProgressBar({ sink, label: 'big', total: 100 * MiB, now: () => t });
    assert.equal(bar.enabled, true);
    t = 50;
    bar.update(MiB);
    t = 100;
    bar.update(2 * MiB); // within 100 ms of the last draw: skipped
    t = 1050;
    bar.update(11 * MiB);
    assert.equal(written.length, 2);
    assert.ok(written.every((w) => w.startsWith('\r') && w.endsWith('\x1b[K')));
    assert.match(written[1]!, /11\.0 MiB \/ 100 MiB/);
    // 11 MiB over the 1050 ms since the bar started: 10.5 MiB/s.
    assert.match(written[1]!, /10\.5 MiB\/s/);
    bar.finish();
    assert.equal(written.at(-1), '\r\x1b[K');
  });

  it('takes stderr only when it is a terminal and progress is not turned off', () => {
    const io = { err: () => undefined, errColumns: () => 120 };
    assert.equal(progressSink({ io, disabled: false })?.columns, 120);
    assert.equal(progressSink({ io, disabled: true }), undefined);
    assert.equal(
      progressSink({ io: { err: () => undefined, errColumns: () => undefined }, disabled: false }),
      undefined,
    );
    assert.equal(progressSink({ io: { err: () => undefined }, disabled: false }), undefined);
  });
});

describe('find --name globs', () => {
  const cases: [string, string, boolean][] = [
    ['*.txt', 'a.txt', true],
    ['*.txt', '.hidden.txt', true],
    ['*.txt', 'a.txt.bak', false],
    ['a?c', 'abc', true],
    ['a?c', 'ac', false],
    ['[a-c]x', 'bx', true],
    ['[!a-c]x', 'dx', true],
    ['[!a-c]x', 'ax', false],
    ['[^a-c]x', 'ax', false],
    ['[-a]', '-', true],
    ['[]]', ']', true],
    ['x\\*', 'x*', true],
    ['x\\*', 'xy', false],
    ['[ab', '[ab', true],
    ['(a)+', '(a)+', true],
    ['(a)+', 'aa', false],
    ['ü*', 'über', true],
  ];
  for (const [glob, name, expected] of cases) {
    it(`${glob} ${expected ? 'matches' : 'does not match'} ${name}`, () => {
      assert.equal(globToRegExp(glob).test(name), expected);
    });
  }
});

describe('listing formats', () => {
  it('writes modes as ls -l does', () => {
    assert.equal(modeString({ kind: 'file', mode: 0o644 }), '-rw-r--r--');
    assert.equal(modeString({ kind: 'dir', mode: 0o755 }), 'drwxr-xr-x');
    assert.equal(modeString({ kind: 'symlink', mode: 0o777 }), 'lrwxrwxrwx');
    assert.equal(modeString({ kind: 'file', mode: 0o4755 }), '-rwsr-xr-x');
    assert.equal(modeString({ kind: 'dir', mode: 0o1777 }), 'drwxrwxrwt');
    assert.equal(modeString({ kind: 'file', mode: 0o2644 }), '-rw-r-Sr--');
    assert.equal(octalMode(0o644), '0644');
    assert.equal(octalMode(0o4755), '4755');
  });
});
