import { S3Client } from '@aws-sdk/client-s3';
import type { S3Config } from '../config';

/**
 * An S3 client that works with AWS S3 and S3-compatible stores (MinIO, R2, Ceph, s3rver).
 * Checksums only when required: with the SDK's defaults a streamed PutObject is sent
 * aws-chunked with a trailer, which several compatible stores mishandle (s3rver stores the
 * framing bytes in the object). Credentials come from the SDK's default chain.
 */
export function createS3Client(config: S3Config, overrides: { maxAttempts?: number; requestTimeoutMs?: number } = {}): S3Client {
  return new S3Client({
    region: config.region,
    forcePathStyle: config.forcePathStyle,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: overrides.maxAttempts ?? 3,
    ...(config.endpoint === undefined ? {} : { endpoint: config.endpoint }),
    ...(overrides.requestTimeoutMs === undefined ? {} : { requestHandler: { requestTimeout: overrides.requestTimeoutMs, connectionTimeout: overrides.requestTimeoutMs } }),
  });
}
