import assert from 'node:assert/strict';
import type { ErrnoName } from '../../src/core/errno.ts';
import { FsError } from '../../src/core/fs-error.ts';
import type { NodeId } from '../../src/core/ids.ts';
import type { DirEntry, Entry, Source } from '../../src/sources/source.ts';

/** Assert that `promise` rejects with an FsError of one of `codes`. */
export async function expectErr(
  codes: ErrnoName | ErrnoName[],
  promise: Promise<unknown>,
  what = '',
): Promise<FsError> {
  const want = Array.isArray(codes) ? codes : [codes];
  try {
    const value = await promise;
    assert.fail(`${what} expected ${want.join('|')}, but it succeeded with ${describe(value)}`);
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    assert.ok(err instanceof FsError, `${what} expected an FsError, got ${String(err)}`);
    assert.ok(want.includes(err.code), `${what} expected ${want.join('|')}, got ${err.code}: ${err.message}`);
    return err;
  }
}

function describe(value: unknown): string {
  try {
    return (
      JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))?.slice(0, 200) ??
      'undefined'
    );
  } catch {
    return String(value);
  }
}

/** Write a whole file through the Source (create, write in chunks, close). */
export async function writeFile(
  src: Source,
  parent: NodeId,
  name: string,
  data: Uint8Array | string,
  chunk = 1 << 20,
): Promise<Entry> {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  const created = await src.create({ parent, name, mode: 0o644 });
  for (let off = 0; off < bytes.byteLength || off === 0; off += chunk) {
    if (bytes.byteLength === 0) break;
    await src.write({ handle: created.handle, offset: off, data: bytes.subarray(off, off + chunk) });
  }
  await src.closeFile({ handle: created.handle });
  return { id: created.id, attr: await src.getattr({ id: created.id }) };
}

/** Read a whole file through the Source. */
export async function readFile(src: Source, id: NodeId, chunk = 1 << 20): Promise<Buffer> {
  const { handle } = await src.openFile({ id, flags: { read: true, write: false } });
  const parts: Uint8Array[] = [];
  try {
    for (let off = 0; ;) {
      const part = await src.read({ handle, offset: off, length: chunk });
      if (part.byteLength === 0) break;
      parts.push(part);
      off += part.byteLength;
    }
  } finally {
    await src.closeFile({ handle });
  }
  return Buffer.concat(parts);
}

/** Every entry of a directory, following cookies. */
export async function listAll(src: Source, dir: NodeId, max = 1000): Promise<DirEntry[]> {
  const out: DirEntry[] = [];
  let cookie = '';
  for (;;) {
    const page = await src.readdirp({ dir, cookie, max });
    assert.ok(page.entries.length <= max, `page of ${page.entries.length} exceeds max ${max}`);
    out.push(...page.entries);
    if (page.eof) return out;
    assert.notEqual(page.cookie, cookie, 'cookie did not advance');
    cookie = page.cookie;
  }
}

/** Names in a directory. */
export async function names(src: Source, dir: NodeId): Promise<string[]> {
  return (await listAll(src, dir)).map((e) => e.name).sort();
}

/** Run `fn` over items with at most `limit` in flight. */
export async function pool<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  });
  await Promise.all(workers);
}

/** Resolve after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
