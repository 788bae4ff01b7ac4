function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/**
 * A glob over '/'-separated paths: `*` any run within one segment, `**` any run of whole
 * segments (none included), `?` one character but '/', `[abc]`, `[!a-z]` a set, `\x` x.
 * A pattern without '/' matches the last segment (the name) anywhere: `*.pdf` matches
 * `/a/b/x.pdf`; a pattern with '/' matches the whole path (a missing leading '/' is added).
 */
export function pathGlobToRegExp(glob: string): RegExp {
  const anchored = glob.includes('/');
  const pattern = anchored && !glob.startsWith('/') ? `/${glob}` : glob;
  let out = '';
  const chars = [...pattern];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === '*') {
      if (chars[i + 1] === '*') {
        // '/**/' matches '/' or '/any/segments/'; a trailing '/**' anything below.
        const slashBefore = out.endsWith('\\/');
        i++;
        if (chars[i + 1] === '/' && slashBefore) {
          out = out.slice(0, -2) + '(?:\\/.*)?\\/';
          i++;
        } else out += '.*';
      } else out += '[^/]*';
    } else if (c === '?') out += '[^/]';
    else if (c === '\\') out += escapeRegExp(chars[++i] ?? '\\');
    else if (c === '[') {
      const close = chars.indexOf(']', i + 2);
      if (close < 0) {
        out += '\\[';
        continue;
      }
      let set = chars.slice(i + 1, close).join('');
      const negate = set.startsWith('!') || set.startsWith('^');
      if (negate) set = set.slice(1);
      out += `[${negate ? '^/' : ''}${set.replace(/[\\\]^]/g, '\\$&')}]`;
      i = close;
    } else out += escapeRegExp(c);
  }
  return new RegExp(anchored ? `^${out}$` : `(?:^|\\/)${out}$`, 'su');
}
