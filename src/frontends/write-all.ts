import { FsError } from '../core/fs-error.ts';
import type { Handle, Source } from '../sources/source.ts';

/**
 * Write all of `data` at `offset` through an open handle: a Source may take fewer bytes per
 * call, so the rest is written again; a write that takes none is `EIO` (naming `op` and
 * `path`) rather than a loop that never ends.
 */
export async function writeAll(opts: {
  source: Source;
  handle: Handle;
  offset: number;
  data: Uint8Array;
  op: string;
  path: string;
}): Promise<void> {
  const { source, handle, offset, data } = opts;
  for (let done = 0; done < data.byteLength;) {
    const { written } = await source.write({ handle, offset: offset + done, data: data.subarray(done) });
    if (written <= 0)
      throw FsError.EIO(opts.op, opts.path, `the source accepted none of ${data.byteLength - done} bytes`);
    done += written;
  }
}
