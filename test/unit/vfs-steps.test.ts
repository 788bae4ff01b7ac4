import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FileDoc } from '../../src/catalog/vfs/catalog-view.ts';
import { stepSchema, type Step } from '../../src/catalog/vfs/directory-doc.ts';
import { MemoryCatalogView } from '../../src/catalog/vfs/memory-catalog-view.ts';
import { pathGlobToRegExp } from '../../src/catalog/vfs/path-glob.ts';
import { compileStep, includeFile, runSteps, type StepContext } from '../../src/catalog/vfs/steps.ts';

const NOW = Date.UTC(2026, 0, 31);
const DAY = 86_400_000;

function doc(path: string, extra: Partial<FileDoc> = {}): FileDoc {
  return {
    fileId: `f:${path}`,
    inode: 1000n,
    node: 'n-laptop',
    nodeName: 'laptop',
    export: 'work',
    path,
    nsPath: `/work${path}`,
    size: 100,
    mtimeMs: NOW - DAY,
    mime: 'application/pdf',
    ...extra,
  };
}

const catalog = new MemoryCatalogView();
const ctx: StepContext = { catalog, now: NOW };

function step(raw: Record<string, unknown>): Step {
  return stepSchema.parse(raw);
}

/** Whether the op matches the file, read through on_match include with default exclude. */
function matches(raw: Record<string, unknown>, file: FileDoc): boolean {
  const compiled = [compileStep(step({ ...raw, on_match: 'include' }))];
  return includeFile({ gates: [], steps: compiled, defaultResult: 'exclude', file, ctx });
}

describe('vfs step ops, each with and without invert', () => {
  const cases: { raw: Record<string, unknown>; yes: FileDoc; no: FileDoc }[] = [
    { raw: { op: 'glob', pattern: '*.pdf' }, yes: doc('/a/b/x.pdf'), no: doc('/a/x.pdf.txt') },
    { raw: { op: 'glob', pattern: '/a/**/*.pdf' }, yes: doc('/a/b/c/x.pdf'), no: doc('/b/x.pdf') },
    { raw: { op: 'regex', pattern: 'REPORT', flags: 'i' }, yes: doc('/q/report-1'), no: doc('/q/summary') },
    {
      raw: { op: 'age', max_days: 7 },
      yes: doc('/n', { mtimeMs: NOW - 2 * DAY }),
      no: doc('/o', { mtimeMs: NOW - 9 * DAY }),
    },
    {
      raw: { op: 'age', min_days: 30 },
      yes: doc('/o', { mtimeMs: NOW - 31 * DAY }),
      no: doc('/n', { mtimeMs: NOW }),
    },
    {
      raw: { op: 'size', min_bytes: 10, max_bytes: 20 },
      yes: doc('/m', { size: 15 }),
      no: doc('/b', { size: 21 }),
    },
    { raw: { op: 'mime', types: ['image/*'] }, yes: doc('/i', { mime: 'image/png' }), no: doc('/p') },
    { raw: { op: 'mime', types: ['application/pdf'] }, yes: doc('/p'), no: doc('/u', { mime: undefined }) },
    {
      raw: { op: 'node', node_ids: ['laptop'] },
      yes: doc('/x'),
      no: doc('/x', { node: 'n-nas', nodeName: 'nas' }),
    },
    { raw: { op: 'node', node_ids: ['n-nas'] }, yes: doc('/x', { node: 'n-nas' }), no: doc('/x') },
    { raw: { op: 'label', labels: ['work', 'urgent'] }, yes: doc('/l/both'), no: doc('/l/one') },
    {
      raw: { op: 'annotation', plugin_name: 'lang', key: 'meta.language' },
      yes: doc('/an/fr'),
      no: doc('/an/none'),
    },
    {
      raw: { op: 'annotation', plugin_name: 'lang', key: 'meta.language', value: 'fr' },
      yes: doc('/an/fr'),
      no: doc('/an/de'),
    },
    {
      raw: { op: 'annotation', plugin_name: 'lang', key: 'meta.language', regex: '^d' },
      yes: doc('/an/de'),
      no: doc('/an/fr'),
    },
  ];
  catalog.setLabels('f:/l/both', ['work', 'urgent', 'x']);
  catalog.setLabels('f:/l/one', ['work']);
  catalog.setAnnotation('f:/an/fr', 'lang', { meta: { language: 'fr' } });
  catalog.setAnnotation('f:/an/de', 'lang', { meta: { language: 'de' } });
  for (const c of cases) {
    it(`${JSON.stringify(c.raw)}`, () => {
      assert.equal(matches(c.raw, c.yes), true, 'matches');
      assert.equal(matches(c.raw, c.no), false, 'does not match');
      assert.equal(matches({ ...c.raw, invert: true }, c.yes), false, 'inverted: no longer matches');
      assert.equal(matches({ ...c.raw, invert: true }, c.no), true, 'inverted: matches');
    });
  }
});

describe('vfs step pipeline', () => {
  const pdf = doc('/docs/a.pdf');
  const tmp = doc('/docs/a.tmp', { mime: 'text/plain' });
  const compile = (raws: Record<string, unknown>[]) => raws.map((r) => compileStep(step(r)));

  it('evaluates in order and the first deciding step wins (on_match short-circuits)', () => {
    const steps = compile([
      { op: 'glob', pattern: '*.pdf', on_match: 'include' },
      { op: 'glob', pattern: '/docs/**', on_match: 'exclude' },
    ]);
    assert.deepEqual(runSteps(steps, pdf, ctx), { decided: 'include', by: 0 });
    assert.deepEqual(runSteps(steps, tmp, ctx), { decided: 'exclude', by: 1 });
    const reversed = [steps[1]!, steps[0]!];
    assert.deepEqual(runSteps(reversed, pdf, ctx), { decided: 'exclude', by: 0 });
  });

  it('continue never decides; a non-match goes on; falling through gives default_result', () => {
    const steps = compile([
      { op: 'glob', pattern: '*.pdf', on_match: 'continue' },
      { op: 'size', min_bytes: 1_000_000, on_match: 'exclude' },
    ]);
    assert.deepEqual(runSteps(steps, pdf, ctx), { decided: undefined });
    for (const d of ['include', 'exclude'] as const) {
      assert.equal(includeFile({ gates: [], steps, defaultResult: d, file: pdf, ctx }), d === 'include');
    }
  });

  it('empty steps: default_result decides', () => {
    assert.equal(includeFile({ gates: [], steps: [], defaultResult: 'include', file: tmp, ctx }), true);
    assert.equal(includeFile({ gates: [], steps: [], defaultResult: 'exclude', file: tmp, ctx }), false);
  });

  it("an inherited exclude beats the child's include; an inherited include does not bypass the child", () => {
    const gate = {
      from: '/',
      steps: compile([{ op: 'glob', pattern: '*.tmp', on_match: 'exclude' }]),
      fallthrough: 'include' as const,
    };
    const childInclude = compile([{ op: 'glob', pattern: '*.tmp', on_match: 'include' }]);
    assert.equal(
      includeFile({ gates: [gate], steps: childInclude, defaultResult: 'include', file: tmp, ctx }),
      false,
    );
    assert.equal(
      includeFile({ gates: [], steps: childInclude, defaultResult: 'include', file: tmp, ctx }),
      true,
    );
    const gateInclude = {
      from: '/',
      steps: compile([{ op: 'glob', pattern: '*.pdf', on_match: 'include' }]),
      fallthrough: 'include' as const,
    };
    const childExclude = compile([{ op: 'glob', pattern: '*.pdf', on_match: 'exclude' }]);
    assert.equal(
      includeFile({ gates: [gateInclude], steps: childExclude, defaultResult: 'include', file: pdf, ctx }),
      false,
    );
  });

  it('a whitelist ancestor (falls through to exclude) hides what none of its steps include', () => {
    const gate = {
      from: '/',
      steps: compile([{ op: 'glob', pattern: '*.pdf', on_match: 'include' }]),
      fallthrough: 'exclude' as const,
    };
    assert.equal(includeFile({ gates: [gate], steps: [], defaultResult: 'include', file: pdf, ctx }), true);
    assert.equal(includeFile({ gates: [gate], steps: [], defaultResult: 'include', file: tmp, ctx }), false);
  });

  it('bad steps are refused with the field named', () => {
    assert.throws(() => step({ op: 'age' }), /max_days or min_days/);
    assert.throws(() => step({ op: 'glob', pattern: '*', on_match: 'maybe' }));
    assert.throws(() => step({ op: 'teleport' }));
    assert.throws(() => step({ op: 'regex', pattern: 'x', flags: 'g' }), /imsu/);
  });
});

describe('vfs path globs', () => {
  const cases: [string, string, boolean][] = [
    ['*.pdf', '/x.pdf', true],
    ['*.pdf', '/a/b/x.pdf', true],
    ['*.pdf', '/a.pdf/x', false],
    ['/a/*.pdf', '/a/x.pdf', true],
    ['/a/*.pdf', '/a/b/x.pdf', false],
    ['a/**/x', '/a/x', true],
    ['a/**/x', '/a/b/c/x', true],
    ['/a/**', '/a/b/c', true],
    ['/a/**', '/ab/c', false],
    ['report-?.txt', '/r/report-1.txt', true],
    ['report-?.txt', '/r/report-10.txt', false],
    ['[!a]*', '/d/bcd', true],
    ['[!a]*', '/d/abc', false],
    ['*.[ch]', '/src/x.h', true],
  ];
  for (const [glob, path, want] of cases) {
    it(`${glob} ${want ? 'matches' : 'does not match'} ${path}`, () => {
      assert.equal(pathGlobToRegExp(glob).test(path), want);
    });
  }
});
