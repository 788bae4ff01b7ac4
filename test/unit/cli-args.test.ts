import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCommandArgs } from '../../src/cli/args.ts';
import { FsError } from '../../src/core/fs-error.ts';

describe('parseCommandArgs', () => {
  const parse = (argv: string[], extra: { variadic?: boolean; optionalPositionals?: string[] } = {}) =>
    parseCommandArgs({ command: 'labels add', argv, options: {}, positionals: ['PATH', 'LABEL'], ...extra });
  const usage = (problem: RegExp) => (e: unknown) =>
    FsError.is(e, 'EINVAL') && problem.test(e.message) && e.message.includes("'tessera labels add --help'");

  it('names a missing positional and an unexpected one', () => {
    assert.throws(() => parse(['/a']), usage(/missing LABEL/));
    assert.throws(() => parse(['/a', 'x', 'y']), usage(/unexpected argument 'y'/));
    assert.deepEqual(parse(['/a', 'x', 'y'], { optionalPositionals: ['MORE'] }).positionals, [
      '/a',
      'x',
      'y',
    ]);
  });

  it('takes any number of the last positional when variadic', () => {
    const labels = Array.from({ length: 100 }, (_, i) => `l${i}`);
    assert.deepEqual(parse(['/a', ...labels], { variadic: true }).positionals, ['/a', ...labels]);
    assert.throws(() => parse(['/a'], { variadic: true }), usage(/missing LABEL/));
  });

  it('turns an unknown option into a usage error', () => {
    assert.throws(() => parse(['/a', 'x', '--nope']), usage(/unknown option '--nope'/));
  });
});
