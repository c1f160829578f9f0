import { createReadStream } from 'node:fs';
import path from 'node:path';
import { DeleteObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Context } from '@temporalio/activity';
import { manifestName, type BackupManifest } from '../../backup/manifest';
import type { BackupFormat } from '../../backup/naming';
import type { Config, S3Config } from '../../config';
import { ErrorType, permanent, transient } from '../../errors';
import { createS3Client } from '../../storage/s3Client';
import { readLocalManifest } from './verify';

const CONTENT_TYPES: Record<BackupFormat, string> = { plain_gzip: 'application/gzip', plain_zstd: 'application/zstd', custom: 'application/octet-stream' };

/** Where an upload landed. */
export interface UploadResult {
  bucket: string;
  key: string;
  size_bytes: number;
  sha256: string;
  parts: number;
  skipped_existing: boolean;
}

/**
 * Streams a verified backup to S3 (multipart past one part; memory ~2 parts), then confirms
 * the stored object's size and recorded SHA-256, and puts the manifest beside it. An object
 * already there with the same size and checksum is not uploaded again (a retried attempt).
 */
export async function uploadBackup(config: Config, filename: string): Promise<UploadResult> {
  const s3 = requireS3(config);
  const manifest = await readLocalManifest(config.backup.dir, filename);
  const client = createS3Client(s3);
  const key = `${s3.prefix}${filename}`;
  try {
    const before = await head(client, s3.bucket, key);
    if (matches(before, manifest)) {
      await putManifest(client, s3, manifest);
      return { bucket: s3.bucket, key, size_bytes: manifest.size_bytes, sha256: manifest.sha256, parts: 0, skipped_existing: true };
    }
    const ctx = Context.current();
    const upload = new Upload({
      client,
      params: {
        Bucket: s3.bucket,
        Key: key,
        Body: createReadStream(path.join(config.backup.dir, filename)),
        ContentType: CONTENT_TYPES[manifest.format],
        Metadata: { sha256: manifest.sha256, 'backup-type': manifest.type, 'created-at': manifest.created_at },
      },
      partSize: s3.partSizeBytes,
      queueSize: 2,
      leavePartsOnError: false,
      abortController: abortOn(ctx.cancellationSignal),
    });
    let parts = 0;
    upload.on('httpUploadProgress', (p) => {
      parts = Math.max(parts, p.part ?? 0);
      ctx.heartbeat({ step: 'upload', bytes: p.loaded ?? 0, part: p.part });
    });
    await upload.done().catch((err: unknown) => {
      throw transient(ErrorType.UploadFailed, `upload of "${filename}" to s3://${s3.bucket}/${key} failed: ${(err as Error).message}`, err);
    });
    const after = await head(client, s3.bucket, key);
    if (!matches(after, manifest)) {
      throw transient(
        ErrorType.UploadFailed,
        `s3://${s3.bucket}/${key} holds ${String(after?.size)} bytes with sha256 ${String(after?.sha256)}, expected ${manifest.size_bytes} bytes with ${manifest.sha256}; ` +
          'the store changed the object (for S3-compatible stores, check that it supports streamed uploads)',
      );
    }
    await putManifest(client, s3, manifest);
    return { bucket: s3.bucket, key, size_bytes: manifest.size_bytes, sha256: manifest.sha256, parts, skipped_existing: false };
  } finally {
    client.destroy();
  }
}

/**
 * Deletes an uploaded backup and its manifest from S3: the backup failed verification after (or
 * while) it was uploaded. Deleting what is not there succeeds, so a retry is harmless.
 */
export async function retractUpload(config: Config, filename: string): Promise<{ bucket: string; keys: string[] }> {
  const s3 = requireS3(config);
  const client = createS3Client(s3);
  const keys = [`${s3.prefix}${filename}`, `${s3.prefix}${manifestName(filename)}`];
  try {
    for (const Key of keys) await client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key }));
    return { bucket: s3.bucket, keys };
  } finally {
    client.destroy();
  }
}

/** S3 settings, or a non-retryable S3NotConfigured that says what to set. */
export function requireS3(config: Config): S3Config {
  if (config.s3 === undefined) {
    throw permanent(ErrorType.S3NotConfigured, 'upload_to_s3 was asked for, but S3_BUCKET is not set on the worker; set S3_BUCKET (and S3_ENDPOINT for MinIO/R2) or run without upload_to_s3');
  }
  return config.s3;
}

async function head(client: S3Client, bucket: string, key: string): Promise<{ size: number; sha256: string | undefined } | undefined> {
  try {
    const out = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return { size: out.ContentLength ?? -1, sha256: out.Metadata?.sha256 };
  } catch (err) {
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === 404) return undefined;
    throw err;
  }
}

function matches(object: { size: number; sha256: string | undefined } | undefined, manifest: BackupManifest): boolean {
  return object !== undefined && object.size === manifest.size_bytes && object.sha256 === manifest.sha256;
}

async function putManifest(client: S3Client, s3: S3Config, manifest: BackupManifest): Promise<void> {
  await client.send(
    new PutObjectCommand({
      Bucket: s3.bucket,
      Key: `${s3.prefix}${manifestName(manifest.filename)}`,
      Body: `${JSON.stringify(manifest, null, 2)}\n`,
      ContentType: 'application/json',
    }),
  );
}

function abortOn(signal: AbortSignal): AbortController {
  const controller = new AbortController();
  signal.addEventListener('abort', () => controller.abort(), { once: true });
  return controller;
}
