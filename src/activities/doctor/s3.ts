import { randomBytes } from 'node:crypto';
import { DeleteObjectCommand, HeadBucketCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3Config } from '../../config';
import { ErrorType, permanent, transient } from '../../errors';
import { check, type CheckResult } from '../../doctor/report';
import { createS3Client } from '../../storage/s3Client';
import { s3Key } from '../../storage/s3Store';

/** The bucket must be reachable and take a small object written, read back by size, and deleted. */
export async function checkS3(config: S3Config | undefined): Promise<CheckResult> {
  if (config === undefined) return check('s3', 'skip', 'S3_BUCKET is not set; backups stay in the backup directory');
  const where = `s3://${config.bucket}/${config.prefix}${config.endpoint ? ` at ${config.endpoint}` : ''}`;
  const client = createS3Client(config, { maxAttempts: 1, requestTimeoutMs: 5_000 });
  const key = s3Key(config, `.fbb-doctor-${randomBytes(4).toString('hex')}`);
  const body = 'family-brain-backup doctor probe\n';
  let step = 'reach the bucket';
  try {
    await client.send(new HeadBucketCommand({ Bucket: config.bucket }));
    step = 'write a test object';
    await client.send(new PutObjectCommand({ Bucket: config.bucket, Key: key, Body: body }));
    step = 'read the test object back';
    const head = await client.send(new HeadObjectCommand({ Bucket: config.bucket, Key: key }));
    step = 'delete the test object';
    await client.send(new DeleteObjectCommand({ Bucket: config.bucket, Key: key }));
    if (head.ContentLength !== body.length) {
      return check(
        's3',
        'fail',
        `${where}: a ${body.length}-byte test object was stored as ${String(head.ContentLength)} bytes`,
        'this S3-compatible store mangles uploads; report the store and version in an issue',
      );
    }
    return check('s3', 'ok', `${where} is reachable and writable`);
  } catch (err) {
    return check('s3', 'fail', `cannot ${step} at ${where}: ${describeS3Error(err)}`, s3Hint(err));
  } finally {
    client.destroy();
  }
}

/** An S3 error in a few words: its name, HTTP status and code (never a credential). */
export function describeS3Error(err: unknown): string {
  const e = err as { name?: string; message?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  return [e.name, status ? `HTTP ${status}` : undefined, e.code ?? e.message].filter(Boolean).join(', ');
}

const NETWORK_ERRORS = new Set(['ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/** True when `err` came from talking to S3 (an answer, a connection, a timeout), not from what an object held or from the local disk. */
export function isS3Failure(err: unknown): boolean {
  const e = err as { $metadata?: unknown; code?: string; name?: string } | null | undefined;
  return e != null && (e.$metadata !== undefined || e.name === 'TimeoutError' || (e.code !== undefined && NETWORK_ERRORS.has(e.code)));
}

/** An S3 failure as S3Unavailable with `message`: retried (per the activity's policy) when the store may come back, not when S3 answered 3xx/4xx (the bucket, the credentials or the region are wrong). */
export function s3Unavailable(err: unknown, message: string): Error {
  const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return status !== undefined && status >= 300 && status < 500 ? permanent(ErrorType.S3Unavailable, message, err) : transient(ErrorType.S3Unavailable, message, err);
}

/** The next step for an S3 error: the endpoint, the bucket, the credentials or the region. */
export function s3Hint(err: unknown, access: 'read' | 'write' = 'write'): string {
  const e = err as { name?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  if (e.code === 'ECONNREFUSED' || e.code === 'ENOTFOUND' || e.name === 'TimeoutError' || e.code === 'ETIMEDOUT') {
    return 'check S3_ENDPOINT (scheme, host and port) and that the store is running';
  }
  if (status === 404 || e.name === 'NoSuchBucket' || e.name === 'NotFound') return access === 'write' ? 'create the bucket, or fix S3_BUCKET' : 'fix S3_BUCKET (the bucket the backups were written to)';
  if (status === 403 || status === 401) {
    return `check the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE) and that they may ${access === 'write' ? 'write to' : 'read'} the bucket`;
  }
  if (status === 301 || e.name === 'PermanentRedirect') return 'set S3_REGION to the bucket\'s region';
  return 'check S3_BUCKET, S3_ENDPOINT, S3_REGION and the AWS credentials';
}
