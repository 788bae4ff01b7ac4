import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { describe, it } from 'node:test';
import {
  ERRNO,
  ERRNO_ALIASES,
  EXIT_INTERNAL_ERROR,
  errnoNameOf,
  exitCodeOf,
  fuseCodeOf,
  httpStatusOf,
  isErrnoName,
  type ErrnoName,
} from '../../src/core/errno.ts';
import { FsError } from '../../src/core/fs-error.ts';
import { ERRORS_DOC, extractTable, normalizeTable, renderErrnoTable } from '../../scripts/errors-doc.ts';

const NAMES = Object.keys(ERRNO) as ErrnoName[];

describe('FsError', () => {
  it('factories carry code, errno, op, path, retryable and a node-style message', () => {
    const err = FsError.ENOENT('lookup', '/a/b');
    assert.ok(err instanceof Error);
    assert.equal(err.name, 'FsError');
    assert.equal(err.code, 'ENOENT');
    assert.equal(err.errno, 2);
    assert.equal(err.op, 'lookup');
    assert.equal(err.path, '/a/b');
    assert.equal(err.retryable, false);
    assert.equal(err.message, "ENOENT: no such file or directory, lookup '/a/b'");
    assert.equal(FsError.EINVAL('config', undefined, 'bad key').message, 'EINVAL: bad key, config');
    assert.equal(FsError.ETIMEDOUT('read').retryable, true);
  });

  it('has a factory for most codes, each making its own code', () => {
    const factories = NAMES.filter(
      (name) => typeof (FsError as unknown as Record<string, unknown>)[name] === 'function',
    );
    assert.ok(factories.length >= 30, `only ${factories.length} factories`);
    for (const name of factories) {
      const make = (FsError as unknown as Record<string, (op: string, path?: string) => FsError>)[name]!;
      const err = make('op', 'p');
      assert.equal(err.code, name);
      assert.equal(err.errno, ERRNO[name].errno);
      assert.equal(err.retryable, ERRNO[name].retryable);
      assert.ok(err.message.startsWith(`${name}: `), err.message);
    }
  });

  it('is(err, code) checks class and code', () => {
    const err = FsError.EEXIST('mkdir', '/d');
    assert.equal(FsError.is(err), true);
    assert.equal(FsError.is(err, 'EEXIST'), true);
    assert.equal(FsError.is(err, 'ENOENT'), false);
    assert.equal(FsError.is(new Error('x')), false);
    assert.equal(FsError.is({ code: 'EEXIST' }, 'EEXIST'), false);
  });

  it('survives a JSON round trip', () => {
    for (const err of [
      FsError.ESTALE('getattr', '281474976710657'),
      FsError.EAGAIN('lock'),
      new FsError({ code: 'EIO', op: 'read', message: 'custom text', retryable: true }),
    ]) {
      const back = FsError.fromJSON(JSON.parse(JSON.stringify(err)));
      assert.ok(back instanceof FsError);
      assert.deepEqual(back.toJSON(), err.toJSON());
      assert.equal(back.errno, err.errno);
    }
  });

  it('turns malformed or unknown JSON into EIO', () => {
    for (const bad of [
      null,
      'ENOENT',
      42,
      {},
      { code: 'ENOENT' },
      { code: 'ENOENT', op: 1, message: 'm', retryable: false },
    ]) {
      const err = FsError.fromJSON(bad);
      assert.equal(err.code, 'EIO');
      assert.equal(err.op, 'decode-error');
    }
    const unknown = FsError.fromJSON({ code: 'EWEIRD', op: 'read', message: 'odd', retryable: false });
    assert.equal(unknown.code, 'EIO');
    assert.match(unknown.message, /unknown error code EWEIRD: odd/);
  });

  it('from() keeps native errno names, maps aliases, passes FsError through', async () => {
    const native = await readFile('/definitely/not/here').catch((e: unknown) => e);
    const err = FsError.from(native, 'read', '/definitely/not/here');
    assert.equal(err.code, 'ENOENT');
    assert.equal(err.op, 'read');
    assert.equal(err.path, '/definitely/not/here');
    assert.equal(err.cause, native);
    const isDir = await readFile('/').catch((e: unknown) => e);
    assert.equal(FsError.from(isDir, 'read').code, 'EISDIR');
    // A device gone from under a mount (e.g. an unplugged disk) is not an unknown I/O error.
    const noDevice = FsError.from(Object.assign(new Error('x'), { code: 'ENODEV' }), 'open', '/mnt/usb');
    assert.equal(noDevice.code, 'ENODEV');
    assert.equal(noDevice.errno, 19);
    for (const [alias, name] of Object.entries(ERRNO_ALIASES)) {
      assert.equal(FsError.from(Object.assign(new Error('x'), { code: alias }), 'op').code, name);
    }
    const own = FsError.EXDEV('rename');
    assert.equal(FsError.from(own, 'other'), own);
  });

  it('from() turns anything unknown into EIO, keeping the text', () => {
    const plain = FsError.from(new Error('disk on fire'), 'write', '/f');
    assert.equal(plain.code, 'EIO');
    assert.equal(plain.message, "EIO: disk on fire, write '/f'");
    assert.equal(FsError.from(Object.assign(new Error('y'), { code: 'ERR_SOMETHING' }), 'op').code, 'EIO');
    for (const value of ['a string', 42, null, undefined, { code: 7 }]) {
      const err = FsError.from(value, 'op');
      assert.equal(err.code, 'EIO');
      assert.equal(err.cause, value);
    }
  });
});

describe('the errno table', () => {
  it('uses the real Linux errno numbers', () => {
    const linux = osConstants.errno as Record<string, number | undefined>;
    let checked = 0;
    for (const name of NAMES) {
      const real = linux[name];
      if (real === undefined) continue;
      assert.equal(ERRNO[name].errno, real, name);
      checked++;
    }
    assert.ok(checked >= 40, `only ${checked} names known to this platform`);
  });

  it('gives every surface a code: distinct exit codes, FUSE = -errno, valid HTTP status', () => {
    const exits = new Set<number>();
    for (const name of NAMES) {
      const exit = exitCodeOf(name);
      assert.ok(exit >= 1 && exit <= 255, `${name} exit ${exit}`);
      assert.notEqual(exit, EXIT_INTERNAL_ERROR, `${name} collides with the internal-error exit code`);
      exits.add(exit);
      assert.equal(fuseCodeOf(name), -ERRNO[name].errno);
      const http = httpStatusOf(name);
      assert.ok(http >= 400 && http <= 599, `${name} http ${http}`);
    }
    assert.equal(exits.size, NAMES.length);
    assert.equal(exitCodeOf('ENOENT'), 2);
    assert.equal(exitCodeOf('EINVAL'), 22);
    assert.equal(httpStatusOf('ENOENT'), 404);
    assert.equal(httpStatusOf('EKEYREJECTED'), 401);
  });

  it('names numbers, unknown ones as EIO', () => {
    assert.equal(errnoNameOf(2), 'ENOENT');
    assert.equal(errnoNameOf(-13), 'EACCES');
    assert.equal(errnoNameOf(9999), 'EIO');
    assert.equal(isErrnoName('ESTALE'), true);
    assert.equal(isErrnoName('toString'), false);
    assert.equal(isErrnoName(2), false);
  });

  it('is documented in docs/errors.md exactly as the table says', async () => {
    const doc = await readFile(ERRORS_DOC, 'utf8');
    const table = extractTable(doc);
    assert.ok(table !== undefined, 'docs/errors.md has the errno-table markers');
    assert.equal(
      normalizeTable(table),
      normalizeTable(renderErrnoTable()),
      'docs/errors.md is out of date: run node --import tsx scripts/errors-doc.ts',
    );
    for (const name of NAMES) assert.ok(table.includes(`\`${name}\``), name);
  });
});
