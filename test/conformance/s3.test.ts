import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { Source } from '../../src/sources/source.ts';
import { createSource } from '../../src/sources/s3/s3-source.ts';
import { startS3rver, type S3rverHandle } from '../helpers/s3rver.ts';
import type { BehindTheBack } from './fixture.ts';
import { runConformance } from './suite.ts';

// One s3rver for the file; every fixture gets its own prefix in the bucket.
let server: Promise<S3rverHandle> | undefined;
const spoolDir = mkdtempSync(join(tmpdir(), 'tessera-s3-conf-spool-'));
let fixtures = 0;

after(async () => {
  await (await server)?.stop();
  rmSync(spoolDir, { recursive: true, force: true });
});

/** Keys changed with a plain S3 client, as another S3 user would. */
function behindThrough(client: S3Client, bucket: string, prefix: string): BehindTheBack {
  const key = (path: string) => prefix + path.replace(/^\/+/, '');
  const keysUnder = async (dirKey: string): Promise<string[]> => {
    const out: string[] = [];
    let token: string | undefined;
    do {
      const r = await client.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: dirKey, ContinuationToken: token }),
      );
      out.push(...(r.Contents ?? []).flatMap((o) => (o.Key ? [o.Key] : [])));
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out;
  };
  const isObject = async (k: string): Promise<boolean> =>
    client.send(new HeadObjectCommand({ Bucket: bucket, Key: k })).then(
      () => true,
      () => false,
    );
  const move = async (from: string, to: string) => {
    await client.send(
      new CopyObjectCommand({ Bucket: bucket, Key: to, CopySource: encodeURI(`${bucket}/${from}`) }),
    );
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: from }));
  };
  return {
    async writeFile(path, data) {
      const body = typeof data === 'string' ? Buffer.from(data) : data;
      await client.send(
        new PutObjectCommand({ Bucket: bucket, Key: key(path), Body: body, ContentLength: body.byteLength }),
      );
    },
    async mkdir(path) {
      await client.send(
        new PutObjectCommand({ Bucket: bucket, Key: key(path) + '/', Body: Buffer.alloc(0) }),
      );
    },
    async remove(path) {
      if (await isObject(key(path))) {
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key(path) }));
        return;
      }
      for (const k of await keysUnder(key(path) + '/'))
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: k }));
    },
    async rename(from, to) {
      if (await isObject(key(from))) return move(key(from), key(to));
      const src = key(from) + '/';
      for (const k of await keysUnder(src)) await move(k, key(to) + '/' + k.slice(src.length));
    },
  };
}

runConformance({
  name: 's3',
  bigDirEntries: 1000,
  async setup() {
    server ??= startS3rver();
    const s3 = await server;
    const prefix = `conf-${++fixtures}/`;
    const open = async (ro: boolean): Promise<Source> => {
      const src = createSource({
        kind: 's3',
        name: 'bucket',
        exportIndex: 7,
        path: `s3://${s3.bucket}/${prefix}`,
        ro,
        options: s3.sourceOptions({ scan_interval_ms: 200, spool_dir: spoolDir, max_attempts: 2 }),
      });
      await src.open();
      return src;
    };
    let source = await open(false);
    const extra: Source[] = [];
    const client = s3.client();
    return {
      source,
      async readOnly() {
        const ro = await open(true);
        extra.push(ro);
        return ro;
      },
      behind: behindThrough(client, s3.bucket, prefix),
      async restart() {
        await source.close();
        source = await open(false);
        return source;
      },
      async cleanup() {
        await source.close();
        for (const s of extra) await s.close();
        client.destroy();
      },
    };
  },
});
