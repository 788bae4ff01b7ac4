import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { FsError } from '../../core/fs-error.ts';
import type { CredentialSource, S3Config } from './s3-config.ts';

interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** Credentials read from the environment at each use, so rotated tokens are picked up. */
function envCredentials(
  idVar: string,
  secretVar: string,
  tokenVar: string | undefined,
): () => Promise<Credentials> {
  return async () => {
    const accessKeyId = process.env[idVar];
    const secretAccessKey = process.env[secretVar];
    if (!accessKeyId || !secretAccessKey) {
      throw FsError.EKEYREJECTED(
        'credentials',
        undefined,
        `environment variable ${accessKeyId ? secretVar : idVar} is not set`,
      );
    }
    const sessionToken = tokenVar === undefined ? undefined : process.env[tokenVar];
    return sessionToken ? { accessKeyId, secretAccessKey, sessionToken } : { accessKeyId, secretAccessKey };
  };
}

function credentialConfig(source: CredentialSource): Partial<S3ClientConfig> {
  switch (source.kind) {
    case 'default':
      return {};
    case 'env':
      return {
        credentials: envCredentials('AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'),
      };
    case 'named-env':
      return {
        credentials: envCredentials(source.accessKeyIdEnv, source.secretAccessKeyEnv, source.sessionTokenEnv),
      };
    case 'anonymous':
      // Public buckets: requests go out unsigned.
      return {
        credentials: { accessKeyId: 'anonymous', secretAccessKey: 'anonymous' },
        signer: { sign: async (request) => request },
      };
  }
}

/**
 * Build the SDK client for an export. Checksums are only computed when an operation
 * requires them: with the SDK's default, streamed uploads to some servers are stored corrupted.
 */
export function buildS3Client(config: S3Config): S3Client {
  return new S3Client({
    region: config.region,
    ...(config.endpoint !== undefined ? { endpoint: config.endpoint } : {}),
    forcePathStyle: config.forcePathStyle,
    maxAttempts: config.maxAttempts,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: { connectionTimeout: 10_000, requestTimeout: 120_000 },
    ...credentialConfig(config.credentials),
  });
}
