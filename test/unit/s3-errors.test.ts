import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FsError } from '../../src/core/fs-error.ts';
import { fromS3Error, isNotFound } from '../../src/sources/s3/s3-errors.ts';

// Values shaped as the SDK throws them (name/Code + $metadata); the live paths are covered
// against s3rver in s3-source.test.ts.
function sdkError(name: string, status?: number): Error {
  return Object.assign(new Error(`${name} happened`), { name, $metadata: { httpStatusCode: status } });
}

const ctx = { bucket: 'photos', endpoint: 'https://s3.example' };

describe('s3 error mapping', () => {
  const cases: [Error, string, boolean][] = [
    [sdkError('NoSuchKey', 404), 'ENOENT', false],
    [sdkError('NotFound', 404), 'ENOENT', false],
    [sdkError('AccessDenied', 403), 'EACCES', false],
    [sdkError('Forbidden', 403), 'EACCES', false],
    [sdkError('InvalidAccessKeyId', 403), 'EKEYREJECTED', false],
    [sdkError('SignatureDoesNotMatch', 403), 'EKEYREJECTED', false],
    [sdkError('ExpiredToken', 400), 'EKEYREJECTED', false],
    [sdkError('SlowDown', 503), 'EAGAIN', true],
    [sdkError('KeyTooLongError', 400), 'ENAMETOOLONG', false],
    [sdkError('InternalError', 500), 'EIO', true],
    [sdkError('SomethingNew', 400), 'EIO', false],
    [Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'ECONNREFUSED', true],
    [sdkError('TimeoutError'), 'ETIMEDOUT', true],
  ];
  for (const [err, code, retryable] of cases) {
    it(`${err.name === 'Error' ? 'network' : err.name} → ${code}`, () => {
      const e = fromS3Error(err, 'op', 'k', ctx);
      assert.equal(e.code, code);
      assert.equal(e.retryable, retryable);
      assert.equal(e.cause, err);
    });
  }

  it('names the bucket, the credential problem and the endpoint', () => {
    assert.match(
      fromS3Error(sdkError('NoSuchBucket', 404), 'op', 'k', ctx).message,
      /bucket 'photos' does not exist/,
    );
    assert.match(fromS3Error(sdkError('InvalidAccessKeyId', 403), 'op', 'k', ctx).message, /access key id/);
    assert.match(
      fromS3Error(sdkError('SignatureDoesNotMatch', 403), 'op', 'k', ctx).message,
      /secret access key/,
    );
    const net = Object.assign(new Error('x'), { code: 'ECONNREFUSED' });
    assert.match(fromS3Error(net, 'op', 'k', ctx).message, /https:\/\/s3\.example/);
  });

  it('passes FsErrors through and tells a missing bucket from a missing key', () => {
    const fs = FsError.EEXIST('x');
    assert.equal(fromS3Error(fs, 'op', 'k', ctx), fs);
    assert.equal(isNotFound(sdkError('NoSuchKey', 404)), true);
    assert.equal(isNotFound(sdkError('NoSuchBucket', 404)), false);
  });
});
