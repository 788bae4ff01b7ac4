import { FsError } from '../../core/fs-error.ts';
import type { DavPath } from './dav-paths.ts';

/** One condition of an `If` header list: a state token or an entity tag, maybe negated. */
export interface IfCondition {
  not: boolean;
  kind: 'token' | 'etag';
  value: string;
}

/** One parenthesized list, for a tagged resource (its URL) or the request's resource. */
export interface IfList {
  resource: string | undefined;
  conditions: IfCondition[];
}

/**
 * Parse an `If` header (RFC 4918 §10.4): `[<resource>] (cond cond…) (…)…`, where a condition
 * is `[Not] <state-token>` or `[Not] [etag]`. Malformed headers are `EINVAL` (400).
 */
export function parseIfHeader(header: string): IfList[] {
  const lists: IfList[] = [];
  let resource: string | undefined;
  let i = 0;
  const bad = (why: string) => FsError.EINVAL('webdav', 'If', `malformed If header: ${why}`);
  const until = (close: string): string => {
    const end = header.indexOf(close, i);
    if (end < 0) throw bad(`missing '${close}'`);
    const text = header.slice(i, end);
    i = end + 1;
    return text;
  };
  while (i < header.length) {
    const c = header[i];
    if (c === ' ' || c === '\t') i++;
    else if (c === '<') {
      i++;
      resource = until('>');
    } else if (c === '(') {
      i++;
      const conditions: IfCondition[] = [];
      for (;;) {
        while (header[i] === ' ' || header[i] === '\t') i++;
        if (header[i] === ')') {
          i++;
          break;
        }
        let not = false;
        if (/^not\b/i.test(header.slice(i, i + 4))) {
          not = true;
          i += 3;
          while (header[i] === ' ' || header[i] === '\t') i++;
        }
        if (header[i] === '<') {
          i++;
          conditions.push({ not, kind: 'token', value: until('>') });
        } else if (header[i] === '[') {
          i++;
          conditions.push({ not, kind: 'etag', value: until(']') });
        } else throw bad('expected a state token or an entity tag');
      }
      if (conditions.length === 0) throw bad('empty list');
      lists.push({ resource, conditions });
    } else throw bad(`unexpected '${c}'`);
  }
  if (lists.length === 0) throw bad('no condition list');
  return lists;
}

/** Every state token an `If` header names (the lock tokens the request presents). */
export function submittedTokens(lists: readonly IfList[]): Set<string> {
  const tokens = new Set<string>();
  for (const list of lists) for (const c of list.conditions) if (c.kind === 'token') tokens.add(c.value);
  return tokens;
}

/**
 * Evaluate the header: true when some list holds. `state` answers for one resource (the
 * tagged one, or `requestPath` for untagged lists) whether a token is a live lock on it and
 * what its entity tag is.
 */
export async function evaluateIf(opts: {
  lists: readonly IfList[];
  requestPath: DavPath;
  resolveTag: (url: string) => DavPath | undefined;
  hasLock: (path: DavPath, token: string) => boolean;
  etagOf: (path: DavPath) => Promise<string | undefined>;
}): Promise<boolean> {
  for (const list of opts.lists) {
    const path = list.resource === undefined ? opts.requestPath : opts.resolveTag(list.resource);
    if (path === undefined) continue;
    let holds = true;
    for (const c of list.conditions) {
      const truth = c.kind === 'token' ? opts.hasLock(path, c.value) : (await opts.etagOf(path)) === c.value;
      if (truth === c.not) {
        holds = false;
        break;
      }
    }
    if (holds) return true;
  }
  return false;
}
