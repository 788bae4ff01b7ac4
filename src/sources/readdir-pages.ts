import type { NodeId } from '../core/ids.ts';
import type { DirEntry, Source } from './source.ts';

/**
 * The pages of a directory listing, first to last, following the cookies (a caller that
 * stops early just breaks out of its `for await`). Every page is yielded, the last one too,
 * even when empty.
 */
export async function* readdirPages(opts: {
  source: Source;
  dir: NodeId;
  /** Entries per page asked for. */
  max: number;
}): AsyncGenerator<DirEntry[]> {
  let cookie = '';
  for (;;) {
    const page = await opts.source.readdirp({ dir: opts.dir, cookie, max: opts.max });
    yield page.entries;
    if (page.eof) return;
    cookie = page.cookie;
  }
}

/** Every entry of a directory (all pages). */
export async function readdirAll(opts: { source: Source; dir: NodeId; max: number }): Promise<DirEntry[]> {
  const out: DirEntry[] = [];
  for await (const entries of readdirPages(opts)) out.push(...entries);
  return out;
}
