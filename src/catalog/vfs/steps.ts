import type { CatalogView, FileDoc } from './catalog-view.ts';
import type { Step } from './directory-doc.ts';
import { pathGlobToRegExp } from './path-glob.ts';

const DAY_MS = 86_400_000;

/** What a step sees beyond the file: labels, annotations and the time. */
export interface StepContext {
  catalog: Pick<CatalogView, 'hasLabel' | 'annotationOf'>;
  /** Milliseconds since the epoch ("now" for `age`). */
  now: number;
}

/** A step compiled once per evaluation (patterns built, sets made). */
export interface CompiledStep {
  step: Step;
  test: (file: FileDoc, ctx: StepContext) => boolean;
}

/** A pipeline's verdict: decided by a step (with its index), or fell through. */
export type Verdict = { decided: 'include' | 'exclude'; by: number } | { decided: undefined };

/** Compile one step into its raw test (before `invert`). */
export function compileStep(step: Step): CompiledStep {
  return { step, test: rawTest(step) };
}

function rawTest(step: Step): CompiledStep['test'] {
  switch (step.op) {
    case 'glob': {
      const re = pathGlobToRegExp(step.pattern);
      return (f) => re.test(f.path);
    }
    case 'regex': {
      const re = new RegExp(step.pattern, step.flags);
      return (f) => re.test(f.path);
    }
    case 'age': {
      const { max_days: max, min_days: min } = step;
      return (f, ctx) => {
        const ageDays = (ctx.now - f.mtimeMs) / DAY_MS;
        return (max === undefined || ageDays <= max) && (min === undefined || ageDays >= min);
      };
    }
    case 'size': {
      const { min_bytes: min, max_bytes: max } = step;
      return (f) => (min === undefined || f.size >= min) && (max === undefined || f.size <= max);
    }
    case 'mime': {
      const exact = new Set(step.types.filter((t) => !t.endsWith('*')));
      const prefixes = step.types.filter((t) => t.endsWith('*')).map((t) => t.slice(0, -1));
      return (f) => {
        const mime = f.mime?.toLowerCase();
        if (mime === undefined) return false;
        return exact.has(mime) || prefixes.some((p) => mime.startsWith(p));
      };
    }
    case 'node': {
      const nodes = new Set(step.node_ids);
      return (f) => nodes.has(f.node) || (f.nodeName !== undefined && nodes.has(f.nodeName));
    }
    case 'label': {
      const wanted = step.labels;
      return (f, ctx) => wanted.every((l) => ctx.catalog.hasLabel(f, l));
    }
    case 'annotation': {
      const keys = step.key.split('.');
      const re = step.regex === undefined ? undefined : new RegExp(step.regex);
      const want = step.value;
      return (f, ctx) => {
        let v: unknown = ctx.catalog.annotationOf(f, step.plugin_name);
        for (const k of keys) {
          if (v === null || typeof v !== 'object' || !Object.hasOwn(v, k)) return false;
          v = (v as Record<string, unknown>)[k];
        }
        if (v === undefined || v === null) return false;
        if (re !== undefined) return typeof v === 'string' && re.test(v);
        if (want !== undefined) return sameJson(v, want);
        return true;
      };
    }
  }
}

/** Structural equality for annotation values (JSON data). */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Run a pipeline in order. A step matches when its op matches, flipped by `invert`; a
 * matching step with `on_match` `include` or `exclude` decides and stops; `continue` (and any
 * non-match) goes on to the next step. Falling off the end decides nothing: the caller
 * applies its default.
 */
export function runSteps(steps: readonly CompiledStep[], file: FileDoc, ctx: StepContext): Verdict {
  for (let i = 0; i < steps.length; i++) {
    const { step, test } = steps[i]!;
    if (step.on_match === 'continue') continue; // It cannot decide anything: skip its test.
    if (test(file, ctx) !== step.invert) return { decided: step.on_match, by: i };
  }
  return { decided: undefined };
}

/** An ancestor's steps as a gate on its descendants' files. */
export interface InheritedGate {
  /** The ancestor's virtual path (for explanations). */
  from: string;
  steps: CompiledStep[];
  /** What the gate answers when no step decided. */
  fallthrough: 'include' | 'exclude';
}

/**
 * Whether a file is included: every inherited gate first (outermost ancestor first) — an
 * `exclude` there is final, an `include` only passes that gate, so a child can narrow what
 * an ancestor shows but never widen it — then the mount's own steps, then `defaultResult`.
 */
export function includeFile(opts: {
  gates: readonly InheritedGate[];
  steps: readonly CompiledStep[];
  defaultResult: 'include' | 'exclude';
  file: FileDoc;
  ctx: StepContext;
}): boolean {
  for (const gate of opts.gates) {
    const v = runSteps(gate.steps, opts.file, opts.ctx);
    if ((v.decided ?? gate.fallthrough) === 'exclude') return false;
  }
  const own = runSteps(opts.steps, opts.file, opts.ctx);
  return (own.decided ?? opts.defaultResult) === 'include';
}
