import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { FsError } from '../../src/core/fs-error.ts';
import { rootId } from '../../src/core/ids.ts';
import { uploadFile } from '../../src/frontends/receive-body.ts';
import { MemorySource } from '../../src/sources/memory/memory-source.ts';
import type { Entry, SourceRequest } from '../../src/sources/source.ts';
import { readdirAll } from '../../src/sources/readdir-pages.ts';
import { readFile } from '../conformance/helpers.ts';

/** A request whose body is `chunks`, running `during` between the first and the second. */
function request(chunks: Buffer[], during: () => Promise<void>): IncomingMessage {
  async function* body() {
    for (const [i, c] of chunks.entries()) {
      if (i === 1) await during();
      yield c;
    }
  }
  return Object.assign(Readable.from(body()), { headers: {}, complete: true }) as unknown as IncomingMessage;
}

// The path of a Source without atomic writes: the body goes to a hidden temporary file that is
// renamed over the target at the end.
describe('uploadFile to a Source without atomic writes', () => {
  const root = rootId(1);
  const names = async (src: MemorySource) =>
    (await readdirAll({ source: src, dir: root, max: 100 })).map((e) => e.name).sort();
  const text = async (src: MemorySource, name: string) => {
    const { id } = await src.lookup({ parent: root, name });
    return (await readFile(src, id)).toString();
  };
  /** Upload `req` as `/f` in the root, without atomic writes. */
  const upload = (src: MemorySource, req: IncomingMessage, opts: { existing?: Entry; exclusive: boolean }) =>
    uploadFile({
      req,
      source: src,
      parent: root,
      name: 'f',
      existing: opts.existing,
      exclusive: opts.exclusive,
      atomic: false,
      op: 'put',
      path: '/f',
    });

  it('an exclusive upload does not replace a file another writer made meanwhile, and leaves no temp', async () => {
    await using src = new MemorySource({ name: 'm', exportIndex: 1 });
    await src.open();
    const req = request([Buffer.from('mine '), Buffer.from('late')], async () => {
      const other = await src.create({ parent: root, name: 'f', mode: 0o644 });
      await src.write({ handle: other.handle, offset: 0, data: Buffer.from('theirs') });
      await src.closeFile({ handle: other.handle });
    });
    await assert.rejects(upload(src, req, { exclusive: true }), (e: unknown) => FsError.is(e, 'EEXIST'));
    assert.equal(await text(src, 'f'), 'theirs');
    assert.deepEqual(await names(src), ['f']);
  });

  it('a plain upload replaces the file whole and leaves no temp', async () => {
    await using src = new MemorySource({ name: 'm', exportIndex: 1 });
    await src.open();
    const old = await src.create({ parent: root, name: 'f', mode: 0o644 });
    await src.closeFile({ handle: old.handle });
    const req = request([Buffer.from('new '), Buffer.from('bytes')], async () => {
      assert.equal(await text(src, 'f'), '', 'the old content stays until the upload is whole');
    });
    const existing = await src.lookup({ parent: root, name: 'f' });
    await upload(src, req, { existing, exclusive: false });
    assert.equal(await text(src, 'f'), 'new bytes');
    assert.deepEqual(await names(src), ['f']);
  });

  it('a close that fails leaves no temp behind', async () => {
    // Without atomic writes the temp file exists from its create on, and the close that stores
    // its content can still fail (a full disk, a lost upload).
    class FailingClose extends MemorySource {
      protected override async doCloseFile(req: SourceRequest<'closeFile'>): Promise<void> {
        await super.doCloseFile(req);
        if (req.abort !== true) throw FsError.ENOSPC('close', String(req.handle), 'disk full');
      }
    }
    await using src = new FailingClose({ name: 'm', exportIndex: 1 });
    await src.open();
    const req = request([Buffer.from('never '), Buffer.from('stored')], async () => undefined);
    await assert.rejects(upload(src, req, { exclusive: false }), (e: unknown) => FsError.is(e, 'ENOSPC'));
    assert.deepEqual(await names(src), []);
  });
});
