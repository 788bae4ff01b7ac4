import type { CliIO } from '../io.ts';

/**
 * Write to stdout and wait until it can take more (file contents, long listings, `find`
 * results as they are found). Falls back to `io.out` for an io without `write`.
 */
export async function writeOut(io: CliIO, data: Uint8Array | string): Promise<void> {
  if (io.write) return io.write(data);
  io.out(typeof data === 'string' ? data : Buffer.from(data).toString('utf8'));
}
