import { FsError } from '../../core/fs-error.ts';

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

function escapeClass(text: string): string {
  return text.replace(/[\\\][^-]/g, '\\$&');
}

/**
 * A shell glob for one name, as `find -name` reads it: `*` any run of characters (a leading
 * dot included), `?` one character, `[abc]`, `[a-z]`, `[!abc]` or `[^abc]` one of (or none
 * of) a set, `\x` the character x itself. The whole name must match.
 */
export function globToRegExp(glob: string): RegExp {
  let out = '';
  const chars = [...glob];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === '*') out += '.*';
    else if (c === '?') out += '.';
    else if (c === '\\') out += escapeRegExp(chars[++i] ?? '\\');
    else if (c === '[') {
      let j = i + 1;
      let negate = false;
      if (chars[j] === '!' || chars[j] === '^') {
        negate = true;
        j++;
      }
      let set = '';
      // A ']' right after the opening bracket is a member, not the end.
      if (chars[j] === ']') {
        set += '\\]';
        j++;
      }
      while (j < chars.length && chars[j] !== ']') {
        const m = chars[j]!;
        if (m === '-' && set !== '' && chars[j + 1] !== undefined && chars[j + 1] !== ']') set += '-';
        else set += escapeClass(m);
        j++;
      }
      if (j >= chars.length) {
        out += '\\['; // No closing bracket: a literal '['.
        continue;
      }
      out += `[${negate ? '^' : ''}${set}]`;
      i = j;
    } else out += escapeRegExp(c);
  }
  try {
    return new RegExp(`^${out}$`, 'su');
  } catch {
    throw FsError.EINVAL('find', glob, 'not a valid name pattern');
  }
}
