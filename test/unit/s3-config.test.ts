import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FsError } from '../../src/core/fs-error.ts';
import type { SourceSpec } from '../../src/sources/registry.ts';
import { parseS3Spec, parseS3Url } from '../../src/sources/s3/s3-config.ts';

const spec = (path: string, options?: Record<string, unknown>): SourceSpec => ({
  kind: 's3',
  name: 'cloud',
  exportIndex: 1,
  path,
  ro: false,
  options,
});

function einval(fn: () => unknown, ...mentions: string[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(FsError.is(err, 'EINVAL'), String(err));
    for (const m of mentions) assert.ok(err.message.includes(m), `'${err.message}' should mention ${m}`);
    return true;
  });
}

describe('s3 export config', () => {
  const saved = { ...process.env };
  before(() => {
    process.env.T_S3_ID = 'AKIDEXAMPLE';
    process.env.T_S3_SECRET = 'secret-value';
    delete process.env.AWS_REGION;
    delete process.env.AWS_DEFAULT_REGION;
  });
  after(() => {
    process.env = saved;
  });

  it('parses bucket and prefix, normalizing slashes', () => {
    assert.deepEqual(parseS3Url('x', 's3://bkt'), { bucket: 'bkt', prefix: '' });
    assert.deepEqual(parseS3Url('x', 's3://bkt/'), { bucket: 'bkt', prefix: '' });
    assert.deepEqual(parseS3Url('x', 's3://bkt/a/b'), { bucket: 'bkt', prefix: 'a/b/' });
    assert.deepEqual(parseS3Url('x', 's3://bkt//a//b/'), { bucket: 'bkt', prefix: 'a/b/' });
  });

  it('refuses URLs that are not s3://bucket/prefix', () => {
    einval(() => parseS3Url('x', '/local/dir'), '/local/dir');
    einval(() => parseS3Url('x', 's3:///nobucket'), 'nobucket');
    einval(() => parseS3Url('x', 's3://bkt/a/../c'), '..');
    einval(() => parseS3Url('x', 's3://-bad/'), '-bad');
  });

  it('applies defaults', () => {
    const c = parseS3Spec(spec('s3://bkt/pre'));
    assert.equal(c.region, 'us-east-1');
    assert.equal(c.forcePathStyle, false);
    assert.deepEqual(c.credentials, { kind: 'default' });
    assert.equal(c.partSize, 16 * 1024 * 1024);
    assert.ok(c.scanIntervalMs > 0 && c.scanIntervalMs < 10_000);
  });

  it('accepts every documented option', () => {
    const c = parseS3Spec(
      spec('s3://bkt', {
        endpoint: 'http://127.0.0.1:9000',
        region: 'eu-west-3',
        force_path_style: true,
        access_key_id_env: 'T_S3_ID',
        secret_access_key_env: 'T_S3_SECRET',
        part_size: '8MiB',
        upload_concurrency: 2,
        scan_interval_ms: 250,
        scan_max_dirs: 16,
        spool_dir: '/var/tmp/spool',
        max_attempts: 5,
        id_scan_limit: 10,
      }),
    );
    assert.equal(c.endpoint, 'http://127.0.0.1:9000');
    assert.equal(c.region, 'eu-west-3');
    assert.equal(c.partSize, 8 * 1024 * 1024);
    assert.deepEqual(c.credentials, {
      kind: 'named-env',
      accessKeyIdEnv: 'T_S3_ID',
      secretAccessKeyEnv: 'T_S3_SECRET',
      sessionTokenEnv: undefined,
    });
    assert.equal(c.spoolDir, '/var/tmp/spool');
    assert.equal(c.scanMaxDirs, 16);
  });

  it('names unknown and malformed options', () => {
    einval(() => parseS3Spec(spec('s3://bkt', { secret_access_key: 'inline!' })), "'secret_access_key'");
    einval(() => parseS3Spec(spec('s3://bkt', { part_size: 1024 })), 'part_size', '5 MiB');
    einval(() => parseS3Spec(spec('s3://bkt', { part_size: 'lots' })), 'part_size');
    einval(() => parseS3Spec(spec('s3://bkt', { endpoint: 'ftp://x' })), 'endpoint');
    einval(() => parseS3Spec(spec('s3://bkt', { spool_dir: 'relative' })), 'spool_dir');
    einval(() => parseS3Spec(spec('s3://bkt', { credentials: 'inline' })), 'credentials');
  });

  it('takes credentials by handle only, and says which variable is missing', () => {
    einval(
      () => parseS3Spec(spec('s3://bkt', { access_key_id_env: 'T_S3_ID' })),
      'access_key_id_env',
      'secret_access_key_env',
    );
    einval(
      () =>
        parseS3Spec(
          spec('s3://bkt', { access_key_id_env: 'T_S3_ID', secret_access_key_env: 'T_S3_NOT_SET' }),
        ),
      'T_S3_NOT_SET',
    );
    einval(
      () =>
        parseS3Spec(
          spec('s3://bkt', {
            credentials: 'env',
            access_key_id_env: 'T_S3_ID',
            secret_access_key_env: 'T_S3_SECRET',
          }),
        ),
      'credentials',
    );
    delete process.env.AWS_ACCESS_KEY_ID;
    einval(() => parseS3Spec(spec('s3://bkt', { credentials: 'env' })), 'AWS_ACCESS_KEY_ID');
    assert.deepEqual(parseS3Spec(spec('s3://bkt', { credentials: 'anonymous' })).credentials, {
      kind: 'anonymous',
    });
  });

  it('never echoes a secret value in its errors', () => {
    try {
      parseS3Spec(
        spec('s3://bkt', { access_key_id_env: 'T_S3_ID', secret_access_key_env: 'T_S3_SECRET', bogus: 1 }),
      );
      assert.fail('should throw');
    } catch (err) {
      assert.ok(FsError.is(err, 'EINVAL'));
      assert.ok(!err.message.includes('secret-value') && !err.message.includes('AKIDEXAMPLE'));
    }
  });
});
