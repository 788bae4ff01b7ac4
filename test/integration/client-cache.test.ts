// The client cache against a real node on loopback serving a linux export: changes made on
// the serving side are seen within 1 s, corrupted fills are rejected, cached data survives a
// restart and is revalidated, and the data cache's block mode, sharing, eviction and
// promotion do what docs/cache.md says.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { CachingSource, type CachingSourceOptions } from '../../src/client/cache/caching-source.ts';
import type { RemoteSource } from '../../src/client/remote-source.ts';
import { FsError } from '../../src/core/fs-error.ts';
import type { NodeId } from '../../src/core/ids.ts';
import { createLogger } from '../../src/core/log.ts';
import { AliasSource } from '../../src/namespace/alias-source.ts';
import { readOwnerCredential } from '../../src/node/credentials.ts';
import type { TesseraNode } from '../../src/node/node.ts';
import type { Source } from '../../src/sources/source.ts';
import { connect, startNode } from '../helpers/remote-node.ts';
import { overriding } from '../helpers/overriding.ts';

const KiB = 1024;
const CHILD = fileURLToPath(new URL('./fixtures/cache-fill-child.ts', import.meta.url));

let node: TesseraNode;
let home: string;
let data: string;
const temps: string[] = [];

async function temp(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  temps.push(dir);
  return dir;
}

/** `source` with every read's bytes corrupted (one bit flipped) while `corrupt.on` is set. */
function flipping<S extends Source>(source: S): { source: S; corrupt: { on: boolean } } {
  const corrupt = { on: false };
  const proxy = overriding<Source>(source, {
    read: async (req) => {
      const bytes = Buffer.from(await source.read(req));
      if (corrupt.on && bytes.length > 0) bytes[bytes.length >> 1]! ^= 0x40;
      return bytes;
    },
  }) as S;
  return { source: proxy, corrupt };
}

/** A CachingSource over a fresh session whose reads can be corrupted. */
async function cache(
  dir: string,
  opts: Partial<CachingSourceOptions> = {},
): Promise<{ src: CachingSource; remote: RemoteSource; corrupt: { on: boolean } }> {
  const remote = await connect(node, home);
  const { source, corrupt } = flipping(remote);
  return { src: await cacheOver(source, dir, opts), remote, corrupt };
}

/** An open CachingSource over `inner`, once the node stopped pushing invalidations. */
async function cacheOver(
  inner: CachingSourceOptions['inner'],
  dir: string,
  opts: Partial<CachingSourceOptions> = {},
): Promise<CachingSource> {
  const src = new CachingSource({ inner, dir, minFreeBytes: 0, ...opts });
  await src.open();
  await quiet(src);
  return src;
}

/**
 * Wait until no invalidation has arrived for 500 ms: the node may still be pushing the
 * changes of files the test just wrote, and each would (rightly) drop what the test caches.
 */
async function quiet(src: Source): Promise<void> {
  let last = performance.now();
  const stop = src.watch(() => (last = performance.now()));
  try {
    while (performance.now() - last < 500) await new Promise((r) => setTimeout(r, 50));
  } finally {
    stop();
  }
}

async function root(src: Source): Promise<NodeId> {
  return (await src.listExports()).find((e) => e.name === '/disk')!.root;
}

async function idOf(src: Source, name: string): Promise<NodeId> {
  return (await src.lookup({ parent: await root(src), name })).id;
}

async function read(src: Source, id: NodeId, offset = 0, length = 64 * 1024 * 1024): Promise<Buffer> {
  const { handle } = await src.openFile({ id, flags: { read: true, write: false } });
  try {
    return Buffer.from(await src.read({ handle, offset, length }));
  } finally {
    await src.closeFile({ handle });
  }
}

async function listNames(src: Source, dir: NodeId): Promise<string[]> {
  const page = await src.readdirp({ dir, cookie: '', max: 1000 });
  return page.entries.map((e) => e.name).sort();
}

/** Poll `probe` until it holds or `withinMs` passes; how long it took, or undefined. */
async function seenWithin(withinMs: number, probe: () => Promise<boolean>): Promise<number | undefined> {
  const start = performance.now();
  while (performance.now() - start <= withinMs) {
    if (await probe()) return performance.now() - start;
    await new Promise((r) => setTimeout(r, 10));
  }
  return undefined;
}

before(async () => {
  data = await temp('tessera-cache-export-');
  ({ node, home } = await startNode({ dir: data }));
});

after(async () => {
  await node.close();
  for (const p of [home, ...temps]) await rm(p, { recursive: true, force: true });
});

describe('client cache: consistency with the serving node', () => {
  it('a change on the serving node is seen within 1 s, and no read after the invalidation is stale', async () => {
    await writeFile(join(data, 'live.txt'), 'version one');
    const { src } = await cache(await temp('tessera-cache-'));
    try {
      const dir = await root(src);
      const id = await idOf(src, 'live.txt');
      assert.equal((await read(src, id)).toString(), 'version one');
      assert.deepEqual(await listNames(src, dir), ['live.txt']);
      const fetched = src.stats.fetchedBytes;
      assert.equal((await read(src, id)).toString(), 'version one');
      assert.equal(src.stats.fetchedBytes, fetched, 'the second read comes from the cache');

      const invalidated = new Promise<void>((resolve) => {
        const stop = src.watch((ev) => {
          if (ev.kind !== 'entry' && ev.id === id) {
            stop();
            resolve();
          }
        });
      });
      await writeFile(join(data, 'live.txt'), 'version two, longer');
      await writeFile(join(data, 'new.txt'), 'hello');
      const took = await seenWithin(1000, async () => {
        const text = (await read(src, id)).toString();
        const names = await listNames(src, dir);
        return text === 'version two, longer' && names.includes('new.txt');
      });
      assert.ok(took !== undefined, 'the change was not seen within 1 s');
      await invalidated;
      // Once the invalidation is delivered, every read sees the new version.
      assert.equal((await read(src, id)).toString(), 'version two, longer');
      assert.equal((await src.getattr({ id })).size, 'version two, longer'.length);
    } finally {
      await src.close();
    }
  });

  it('metadata is served from the cache until it is invalidated', async () => {
    await writeFile(join(data, 'meta.txt'), 'm');
    // An invalidation that arrives between caching and the close (a late change event of a
    // file written here or by an earlier test, on a busy machine) rightly drops what was
    // cached; then the check runs again on a fresh session.
    for (let attempt = 1; ; attempt++) {
      const { src, remote } = await cache(await temp('tessera-cache-'));
      let invalidated = false;
      const stop = src.watch(() => (invalidated = true));
      try {
        const id = await idOf(src, 'meta.txt');
        await src.getattr({ id });
        await remote.close();
        stop();
        if (invalidated && attempt < 5) continue;
        assert.equal(invalidated, false, 'an invalidation arrived on every attempt');
        await checkServedFromCache(src, id);
        return;
      } finally {
        stop();
        await src.close();
      }
    }
  });
});

/** With its session gone, `src` answers what it cached about `id` and nothing else, until invalidated. */
async function checkServedFromCache(src: CachingSource, id: NodeId): Promise<void> {
  assert.equal((await src.getattr({ id })).size, 1);
  assert.equal((await src.lookup({ parent: await root(src), name: 'meta.txt' })).id, id);
  await assert.rejects(src.lookup({ parent: await root(src), name: 'absent-and-uncached' }), (err) =>
    FsError.is(err),
  );
  // An invalidation (as a reconnecting mount sends) drops them: now they fail too.
  src.invalidateAll();
  await assert.rejects(src.getattr({ id }), (err) => FsError.is(err));
}

describe('client cache: verified fills', () => {
  for (const [mode, size] of [
    ['full-file', 100 * KiB],
    ['block', 600 * KiB],
  ] as const) {
    it(`a corrupted ${mode} fill is rejected, not cached`, async () => {
      const content = randomBytes(size);
      await writeFile(join(data, `corrupt-${mode}.bin`), content);
      const dir = await temp('tessera-cache-');
      const { src, corrupt } = await cache(dir, {
        tuning: { fullFileMaxBytes: 256 * KiB, blockBytes: 64 * KiB },
      });
      try {
        const id = await idOf(src, `corrupt-${mode}.bin`);
        corrupt.on = true;
        await assert.rejects(read(src, id), (err) => FsError.is(err, 'EIO'));
        assert.ok(src.stats.rejected >= 1);
        assert.equal(src.stats.bytes, 0, 'nothing of a rejected fill is cached');
        corrupt.on = false;
        assert.deepEqual(await read(src, id), content);
        assert.equal(src.stats.bytes, size);
        // Cached now: corruption on the wire no longer matters, the cached bytes are served.
        corrupt.on = true;
        assert.deepEqual(await read(src, id), content);
      } finally {
        await src.close();
      }
    });
  }
});

describe('client cache: a node without ranged HASH', () => {
  it('keeps full-file mode and reads bigger files through, correctly', async () => {
    const small = randomBytes(20 * KiB);
    const mid = randomBytes(48 * KiB);
    const big = randomBytes(300 * KiB);
    await writeFile(join(data, 'old-small.bin'), small);
    await writeFile(join(data, 'old-mid.bin'), mid);
    await writeFile(join(data, 'old-big.bin'), big);
    const remote = await connect(node, home);
    // What a node that predates HASH offset/length answers: its arguments are unknown.
    const old = overriding(remote, {
      hash: (req) =>
        req.offset === undefined
          ? remote.hash(req)
          : Promise.reject(FsError.EPROTO('hash', undefined, 'unrecognized key: offset')),
    });
    const src = await cacheOver(old, await temp('tessera-cache-'), {
      tuning: { fullFileMaxBytes: 64 * KiB, maxFetchBytes: 32 * KiB },
    });
    try {
      assert.deepEqual(
        await read(src, await idOf(src, 'old-big.bin'), 1000, 200 * KiB),
        big.subarray(1000, 1000 + 200 * KiB),
      );
      assert.deepEqual(await read(src, await idOf(src, 'old-big.bin')), big);
      // A full-file mode file fetched in two pieces cannot be verified either: read through,
      // without trying (and failing) ranged fetches again at every read.
      const refused = src.stats.rejected;
      assert.deepEqual(await read(src, await idOf(src, 'old-mid.bin')), mid);
      assert.equal(src.stats.rejected, refused, 'no fetch was tried for a file it cannot verify');
      assert.deepEqual(await read(src, await idOf(src, 'old-small.bin')), small);
      assert.equal(src.stats.bytes, small.length, 'only the full-file fill was cached');
    } finally {
      await src.close();
    }
  });
});

describe('client cache: over an alias mount', () => {
  it('fills through an AliasSource are verified by its HASH', async () => {
    const content = randomBytes(200 * KiB);
    await writeFile(join(data, 'alias.bin'), content);
    const credential = await readOwnerCredential({ home });
    const alias = new AliasSource({
      alias: 'one',
      exportName: '/disk',
      endpoints: [{ url: node.url, credential, trust: { fingerprint: node.fingerprint! } }],
      logger: createLogger({ level: 'silent' }),
    });
    const { source, corrupt } = flipping(alias);
    const src = await cacheOver(source, await temp('tessera-cache-'), {
      tuning: { fullFileMaxBytes: 64 * KiB, blockBytes: 16 * KiB },
    });
    try {
      const id = await idOf(src, 'alias.bin');
      corrupt.on = true;
      await assert.rejects(read(src, id, 100 * KiB, 10), (err) => FsError.is(err, 'EIO'));
      corrupt.on = false;
      assert.deepEqual(await read(src, id, 10 * KiB, 100 * KiB), content.subarray(10 * KiB, 110 * KiB));
      assert.deepEqual(await read(src, id), content);
      assert.equal(src.stats.rejected, 1);
      assert.equal(src.stats.bytes, content.length);
    } finally {
      await src.close();
    }
  });
});

describe('client cache: persistence', () => {
  it('cached data survives a restart and is revalidated against the file', async () => {
    const first = randomBytes(300 * KiB);
    await writeFile(join(data, 'persist.bin'), first);
    const dir = await temp('tessera-cache-');
    const tuning = { fullFileMaxBytes: 64 * KiB, blockBytes: 32 * KiB };
    let c = await cache(dir, { tuning });
    const id = await idOf(c.src, 'persist.bin');
    assert.deepEqual(await read(c.src, id, 0, 100 * KiB), first.subarray(0, 100 * KiB));
    assert.deepEqual(await read(c.src, id, 200 * KiB, 50 * KiB), first.subarray(200 * KiB, 250 * KiB));
    await c.src.close();
    // A data file the index does not know (a fill cut short by a crash) is removed at open.
    await writeFile(join(dir, 'data', 'orphan'), 'partial');

    c = await cache(dir, { tuning });
    try {
      assert.ok(!(await readdir(join(dir, 'data'))).includes('orphan'));
      assert.equal(c.src.stats.bytes, 192 * KiB, 'the cached blocks were kept (whole 32 KiB blocks)');
      assert.deepEqual(await read(c.src, id, 0, 100 * KiB), first.subarray(0, 100 * KiB));
      assert.deepEqual(await read(c.src, id, 192 * KiB, 64 * KiB), first.subarray(192 * KiB, 256 * KiB));
      assert.equal(c.src.stats.fetchedBytes, 0, 'served from the cache kept across the restart');
    } finally {
      await c.src.close();
    }

    // Changed while no cache was running: the restart revalidates and drops the old bytes.
    const second = randomBytes(300 * KiB);
    await writeFile(join(data, 'persist.bin'), second);
    c = await cache(dir, { tuning });
    try {
      assert.deepEqual(await read(c.src, id, 0, 100 * KiB), second.subarray(0, 100 * KiB));
      assert.ok(c.src.stats.fetchedBytes > 0);
      assert.equal(c.src.stats.bytes, 128 * KiB, 'only the new blocks are cached');
    } finally {
      await c.src.close();
    }
  });
});

describe('client cache: crash safety', () => {
  it('a cache killed mid-fill keeps only whole, correct ranges', async () => {
    const content = randomBytes(4 * 1024 * KiB);
    await writeFile(join(data, 'crash.bin'), content);
    const dir = await temp('tessera-cache-');
    const credential = await readOwnerCredential({ home });
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, 'crash.bin'], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    child.stdin.end(JSON.stringify({ url: node.url, credential, trust: { fingerprint: node.fingerprint } }));
    // Kill it, without warning, once it has filled a few ranges and is busy with more.
    let recorded = 0;
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const lines = out.split('\n').slice(0, -1);
        recorded = Number(lines.at(-1) ?? 0);
        if (lines.length >= 20 && recorded > 0) resolve();
      });
      child.once('exit', (code) => reject(new Error(`the filling child exited early (${code})`)));
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;

    const { src, corrupt } = await cache(dir, { tuning: { fullFileMaxBytes: 0, blockBytes: 16 * KiB } });
    try {
      const kept = src.stats.bytes;
      assert.ok(
        kept >= recorded && recorded > 0,
        `the ${recorded} bytes recorded before the kill were kept (${kept})`,
      );
      // Every byte the cache claims is the file's. With every fetch now failing verification,
      // a piece is either served whole from the cache (and must be right) or refused.
      const id = await idOf(src, 'crash.bin');
      const { handle } = await src.openFile({ id, flags: { read: true, write: false } });
      corrupt.on = true;
      let served = 0;
      for (let off = 0; off < content.length; off += 64 * KiB) {
        try {
          const got = await src.read({ handle, offset: off, length: 64 * KiB });
          assert.deepEqual(Buffer.from(got), content.subarray(off, off + 64 * KiB));
          served += 64 * KiB;
        } catch (err) {
          assert.ok(FsError.is(err, 'EIO'), String(err));
        }
      }
      await src.closeFile({ handle });
      assert.equal(served, kept, 'exactly the bytes the index kept were served');
    } finally {
      await src.close();
    }
  });
});

describe('client cache: block mode', () => {
  const block = 16 * KiB;
  const tuning = { fullFileMaxBytes: 0, blockBytes: block, maxFetchBytes: 1024 * KiB };

  it('fetches aligned blocks, coalesces adjacent missing ones and shares concurrent fetches', async () => {
    const content = randomBytes(64 * block);
    await writeFile(join(data, 'blocks.bin'), content);
    const { src } = await cache(await temp('tessera-cache-'), { tuning });
    try {
      const id = await idOf(src, 'blocks.bin');
      const { handle } = await src.openFile({ id, flags: { read: true, write: false } });
      const at = async (offset: number, length: number) =>
        assert.deepEqual(
          Buffer.from(await src.read({ handle, offset, length })),
          content.subarray(offset, offset + length),
        );
      await at(100, 10); // block 0
      assert.deepEqual([src.stats.fetches, src.stats.fetchedBytes], [1, block]);
      await at(4 * block + 7, 100); // block 4
      // Blocks 1-3 missing, 0 and 4 present: one fetch of three blocks.
      await at(block - 5, 3 * block + 10);
      assert.deepEqual([src.stats.fetches, src.stats.fetchedBytes], [3, 5 * block]);
      // Eight readers of the same missing block share one fetch.
      await Promise.all(Array.from({ length: 8 }, () => at(20 * block + 3, 1000)));
      assert.deepEqual([src.stats.fetches, src.stats.fetchedBytes], [4, 6 * block]);
      await src.closeFile({ handle });
    } finally {
      await src.close();
    }
  });

  it('a too fragmented entry is promoted to the whole file', async () => {
    const content = randomBytes(40 * block);
    await writeFile(join(data, 'fragments.bin'), content);
    const { src } = await cache(await temp('tessera-cache-'), {
      tuning: { ...tuning, maxIntervals: 4, promoteMaxBytes: 1024 * 1024 },
    });
    try {
      const id = await idOf(src, 'fragments.bin');
      for (const b of [1, 5, 9, 13]) await read(src, id, b * block, 10);
      assert.equal(src.stats.bytes, 4 * block);
      await read(src, id, 21 * block, 10); // a fifth range is past the limit: the rest comes too
      assert.equal(src.stats.bytes, content.length);
      assert.deepEqual(await read(src, id), content);
    } finally {
      await src.close();
    }
  });
});

describe('client cache: eviction', () => {
  it('least recently used files go when the size cap is reached', async () => {
    const files = Array.from({ length: 5 }, (_, i) => ({
      name: `lru-${i}.bin`,
      data: randomBytes(40 * KiB),
    }));
    for (const f of files) await writeFile(join(data, f.name), f.data);
    const { src } = await cache(await temp('tessera-cache-'), { maxBytes: 130 * KiB });
    try {
      const ids = [];
      for (const f of files) ids.push(await idOf(src, f.name));
      for (const [i, id] of ids.entries()) assert.deepEqual(await read(src, id), files[i]!.data);
      assert.ok(src.stats.bytes <= 130 * KiB);
      assert.equal(src.stats.evictions, 2);
      const fetched = src.stats.fetchedBytes;
      for (const i of [2, 3, 4]) await read(src, ids[i]!);
      assert.equal(src.stats.fetchedBytes, fetched, 'the three most recent files stayed cached');
      await read(src, ids[0]!);
      assert.equal(src.stats.fetchedBytes, fetched + 40 * KiB, 'the oldest was evicted');
    } finally {
      await src.close();
    }
  });

  it("mounts sharing a cache directory share one cap and keep each other's files", async () => {
    const files = Array.from({ length: 4 }, (_, i) => ({
      name: `shared-${i}.bin`,
      data: randomBytes(40 * KiB),
    }));
    for (const f of files) await writeFile(join(data, f.name), f.data);
    const dir = await temp('tessera-cache-');
    const a = await cache(dir, { maxBytes: 130 * KiB, scope: 'a' });
    const b = await cache(dir, { maxBytes: 130 * KiB, scope: 'b' });
    try {
      assert.deepEqual(await read(a.src, await idOf(a.src, files[0]!.name)), files[0]!.data);
      assert.deepEqual(await read(b.src, await idOf(b.src, files[1]!.name)), files[1]!.data);
      // A third mount opening the directory must not take the others' files for leftovers.
      const c = await cache(dir, { scope: 'c' });
      await c.src.close();
      assert.equal((await readdir(join(dir, 'data'))).length, 2);
      assert.deepEqual(await read(a.src, await idOf(a.src, files[2]!.name)), files[2]!.data);
      assert.deepEqual(await read(b.src, await idOf(b.src, files[3]!.name)), files[3]!.data);
      assert.ok(a.src.stats.bytes <= 130 * KiB, 'one cap for both');
      assert.equal(a.src.stats.evictions, 1);
    } finally {
      await a.src.close();
      await b.src.close();
    }
  });

  it('a file opened and closed without a read leaves no entry or data file behind', async () => {
    await writeFile(join(data, 'unread.bin'), randomBytes(10 * KiB));
    const dir = await temp('tessera-cache-');
    const { src } = await cache(dir);
    try {
      const id = await idOf(src, 'unread.bin');
      const { handle } = await src.openFile({ id, flags: { read: true, write: false } });
      assert.equal((await readdir(join(dir, 'data'))).length, 1, 'an open makes the data file');
      await src.closeFile({ handle });
      assert.equal(src.stats.entries, 0);
      assert.deepEqual(await readdir(join(dir, 'data')), []);
    } finally {
      await src.close();
    }
  });

  it('below the free-space floor nothing is cached and reads still work', async () => {
    const content = randomBytes(50 * KiB);
    await writeFile(join(data, 'floor.bin'), content);
    const { src } = await cache(await temp('tessera-cache-'), { minFreeBytes: Number.MAX_SAFE_INTEGER });
    try {
      const id = await idOf(src, 'floor.bin');
      assert.deepEqual(await read(src, id), content);
      assert.deepEqual(await read(src, id), content);
      assert.equal(src.stats.bytes, 0);
    } finally {
      await src.close();
    }
  });
});
