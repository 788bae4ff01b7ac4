import type { Endpoint } from './endpoint.ts';

/** What an operation is about to do: write intent skips endpoints whose export is read-only. */
export type Intent = 'read' | 'write';

/** Milliseconds of latency one recent transport error is worth when scoring. */
export const ERROR_PENALTY_MS = 250;
/** A serving endpoint is kept unless another scores better by this factor (and margin). */
const SWITCH_FACTOR = 0.5;
const SWITCH_MARGIN_MS = 5;

/** An endpoint's score: lower is better (smoothed latency plus a penalty per recent error). */
export function scoreOf(ep: Pick<Endpoint, 'latencyMs' | 'recentErrors'>): number {
  return ep.latencyMs + ERROR_PENALTY_MS * ep.recentErrors;
}

/** Whether `ep` can serve an operation of `intent` right now. */
export function eligible(ep: Pick<Endpoint, 'state' | 'writable'>, intent: Intent): boolean {
  return ep.state === 'up' && (intent === 'read' || ep.writable);
}

/**
 * Pick the endpoint for an operation: among those up, eligible for the intent and not
 * excluded, the best scored; the one serving now (`current`) is kept unless another is
 * clearly better, so the alias does not flap between endpoints of similar health. Ties go
 * to the endpoint listed first.
 */
export function pickEndpoint<
  E extends Pick<Endpoint, 'state' | 'writable' | 'latencyMs' | 'recentErrors'>,
>(opts: {
  endpoints: readonly E[];
  intent: Intent;
  current?: E | undefined;
  exclude?: (ep: E) => boolean;
}): E | undefined {
  const usable = opts.endpoints.filter((ep) => eligible(ep, opts.intent) && !(opts.exclude?.(ep) ?? false));
  let best: E | undefined;
  for (const ep of usable) if (best === undefined || scoreOf(ep) < scoreOf(best)) best = ep;
  const current = opts.current;
  if (best === undefined || current === undefined || !usable.includes(current)) return best;
  return scoreOf(best) + SWITCH_MARGIN_MS < scoreOf(current) * SWITCH_FACTOR ? best : current;
}
