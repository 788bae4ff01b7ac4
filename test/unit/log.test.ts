import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FsError } from '../../src/core/fs-error.ts';
import { createLogger, isLogLevel, MemoryLogSink, stringifyLogRecord } from '../../src/core/log.ts';

const fixedNow = () => Date.parse('2024-05-06T07:08:09.010Z');

describe('structured logs', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-log-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes one JSON object per line with time, level, msg, component and fields', () => {
    const sink = new MemoryLogSink();
    const log = createLogger({ sink, now: fixedNow, component: 'node' });
    log.info('started', { port: 7420 });
    assert.deepEqual(sink.lines, [
      { time: '2024-05-06T07:08:09.010Z', level: 'info', msg: 'started', component: 'node', port: 7420 },
    ]);
    assert.deepEqual(Object.keys(sink.lines[0] ?? {}).slice(0, 4), ['time', 'level', 'msg', 'component']);
  });

  it('filters by level and shares the level with children', () => {
    const sink = new MemoryLogSink();
    const log = createLogger({ sink, level: 'warn' });
    const child = log.child({ component: 'exports' });
    log.debug('d');
    log.info('i');
    child.warn('w');
    log.error('e');
    assert.deepEqual(
      sink.lines.map((l) => [l.level, l.msg, l.component]),
      [
        ['warn', 'w', 'exports'],
        ['error', 'e', 'tessera'],
      ],
    );
    child.setLevel('debug');
    log.debug('now visible');
    assert.equal(sink.lines.at(-1)?.msg, 'now visible');
    assert.equal(log.isEnabled('debug'), true);
    log.setLevel('silent');
    log.error('dropped');
    assert.equal(sink.lines.at(-1)?.msg, 'now visible');
  });

  it('binds fields in children without touching the parent; fixed keys cannot be forged', () => {
    const sink = new MemoryLogSink();
    const root = createLogger({ sink, fields: { node: 'n1' } });
    const session = root.child({ fields: { session: 7 } });
    const op = session.child({ component: 'rpc', fields: { op: 'read' } });
    op.info('done', { bytes: 10, msg: 'forged', level: 'error' });
    root.info('root');
    assert.deepEqual(sink.lines[0], {
      time: sink.lines[0]?.time,
      level: 'info',
      msg: 'done',
      component: 'rpc',
      node: 'n1',
      session: 7,
      op: 'read',
      bytes: 10,
    });
    assert.deepEqual(Object.keys(sink.lines[1] ?? {}).sort(), ['component', 'level', 'msg', 'node', 'time']);
  });

  it('serializes FsError through toJSON, other errors, bigints and cycles without throwing', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const err = FsError.ENOENT('lookup', '/x');
    const line = JSON.parse(
      stringifyLogRecord({
        error: err,
        other: Object.assign(new Error('boom'), { code: 'X' }),
        id: 1n << 60n,
        cyclic,
        data: new Uint8Array(5),
      }),
    ) as Record<string, unknown>;
    assert.deepEqual(line.error, JSON.parse(JSON.stringify(err.toJSON())));
    assert.deepEqual(FsError.fromJSON(line.error).toJSON(), err.toJSON());
    assert.deepEqual(line.other, { name: 'Error', message: 'boom', code: 'X' });
    assert.equal(line.id, String(1n << 60n));
    assert.deepEqual(line.cyclic, { a: 1, self: '[circular]' });
    assert.equal(line.data, '<5 bytes>');
  });

  it('appends to a file and flushes on close', async () => {
    const file = join(dir, 'node.log');
    const log = createLogger({ file, now: fixedNow });
    log.info('one');
    log.child({ component: 'x' }).warn('two', { k: 'v' });
    await log.close();
    const again = createLogger({ file, now: fixedNow });
    again.error('three');
    await again.close();
    await again.close();
    const lines = (await readFile(file, 'utf8'))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      lines.map((l) => [l.level, l.msg]),
      [
        ['info', 'one'],
        ['warn', 'two'],
        ['error', 'three'],
      ],
    );
    assert.equal(lines[1]?.k, 'v');
  });

  it('knows its levels', () => {
    assert.equal(isLogLevel('warn'), true);
    assert.equal(isLogLevel('loud'), false);
    assert.equal(isLogLevel(3), false);
  });
});
