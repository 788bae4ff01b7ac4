import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { S3Client } from '@aws-sdk/client-s3';

/** s3rver's fixed credentials (it only checks the key id). */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/** A running s3rver on loopback with one bucket. */
export interface S3rverHandle extends AsyncDisposable {
  /** `http://127.0.0.1:PORT`. */
  endpoint: string;
  port: number;
  bucket: string;
  /** The data directory (removed by `stop`). */
  dir: string;
  /** Export options for an s3 source against this server (credentials from env vars it sets). */
  sourceOptions(extra?: Record<string, unknown>): Record<string, unknown>;
  /** A plain SDK client for this server (for changes behind an adapter's back). */
  client(): S3Client;
  /** Stop the server and remove its data. Idempotent. */
  stop(): Promise<void>;
}

/** Names of the environment variables `sourceOptions` points the adapter at. */
export const S3RVER_ENV = { id: 'TESSERA_TEST_S3RVER_KEY_ID', secret: 'TESSERA_TEST_S3RVER_SECRET' } as const;

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

// Runs in the child: start s3rver on an ephemeral loopback port and report the port.
const CHILD = `
const S3rver = require('s3rver');
const [dir, bucket] = process.argv.slice(1);
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: !process.env.TESSERA_S3RVER_LOG, directory: dir,
  configureBuckets: [{ name: bucket, configs: [] }] });
server.run().then((addr) => process.stdout.write('S3RVER_PORT=' + addr.port + '\\n'),
  (err) => { process.stderr.write(String(err && err.stack || err)); process.exit(1); });
process.on('SIGTERM', () => server.close().finally(() => process.exit(0)));
// The parent died without stopping us: leave nothing behind.
process.on('disconnect', () => {
  require('fs').rmSync(dir, { recursive: true, force: true });
  process.exit(0);
});
`;

/**
 * Start s3rver in a child process (its filesystem store does synchronous I/O, which must not
 * stall the process under test) on 127.0.0.1 with an ephemeral port, in a fresh temp dir,
 * with `bucket` created.
 */
export async function startS3rver(opts: { bucket?: string } = {}): Promise<S3rverHandle> {
  const bucket = opts.bucket ?? 'tessera-test';
  const dir = await mkdtemp(join(tmpdir(), 'tessera-s3rver-'));
  // s3rver encrypts ListObjectsV2 continuation tokens with DES, which OpenSSL 3 keeps in its legacy provider.
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', CHILD, dir, bucket], {
    cwd: repoRoot,
    // The IPC channel closes when this process dies, which tells the child to go too.
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let port: number;
  try {
    port = await readPort(child);
  } catch (err) {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  process.env[S3RVER_ENV.id] = S3RVER_CREDENTIALS.accessKeyId;
  process.env[S3RVER_ENV.secret] = S3RVER_CREDENTIALS.secretAccessKey;
  const endpoint = `http://127.0.0.1:${port}`;
  const clients: S3Client[] = [];
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      for (const c of clients) c.destroy();
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    })());
  return {
    endpoint,
    port,
    bucket,
    dir,
    sourceOptions: (extra = {}) => ({
      endpoint,
      region: 'us-east-1',
      force_path_style: true,
      access_key_id_env: S3RVER_ENV.id,
      secret_access_key_env: S3RVER_ENV.secret,
      ...extra,
    }),
    client() {
      const c = new S3Client({
        endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: S3RVER_CREDENTIALS,
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      });
      clients.push(c);
      return c;
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

function readPort(child: ChildProcess): Promise<number> {
  const log = process.env.TESSERA_S3RVER_LOG !== undefined;
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    let found = false;
    const timer = setTimeout(() => reject(new Error(`s3rver did not start within 20 s: ${err}`)), 20_000);
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
      if (log) process.stderr.write(d);
    });
    child.stdout?.on('data', (d: Buffer) => {
      if (log) process.stderr.write(d);
      if (found) return;
      out += d.toString();
      const m = /S3RVER_PORT=([0-9]+)\n/.exec(out);
      if (m) {
        found = true;
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited with code ${code}: ${err}`));
    });
  });
}
