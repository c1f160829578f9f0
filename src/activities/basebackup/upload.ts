// Copies a finished base backup and its sidecars to S3 under the same relative keys as in BACKUP_DIR
// (base/<sysid>/...): the file by multipart upload, hashed as it is sent and checked by HEAD afterwards.
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Context } from '@temporalio/activity';
import { BASE_MANIFEST_SUFFIX, baseDir, PG_MANIFEST_SUFFIX, SHA256_SUFFIX } from '../../basebackup/naming';
import type { BaseBackupManifest } from '../../basebackup/manifest';
import type { Config } from '../../config';
import { ErrorType, permanent, transient } from '../../errors';
import { createS3Client } from '../../storage/s3Client';
import { s3Key } from '../../storage/s3Store';
import { every, HashCounter } from '../stream';

/** Where a base backup went in S3. */
export interface BaseBackupUpload {
  bucket: string;
  key: string;
}

/** Uploads the base backup and its sidecars; an object already there with the same size and SHA-256 is kept. */
export async function uploadBaseBackup(config: Config, m: Pick<BaseBackupManifest, 'filename' | 'system_identifier' | 'size_bytes' | 'sha256'>): Promise<BaseBackupUpload> {
  const s3 = config.s3;
  if (s3 === undefined) throw permanent(ErrorType.S3NotConfigured, 'a base backup upload was asked for, but S3_BUCKET is not set on the worker');
  const rel = `${baseDir(m.system_identifier)}/${m.filename}`;
  const dir = path.join(config.backup.dir, baseDir(m.system_identifier));
  const key = s3Key(s3, rel);
  const client = createS3Client(s3);
  try {
    const head = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: key })).catch(() => undefined);
    if (head?.ContentLength !== m.size_bytes || head.Metadata?.sha256 !== m.sha256) {
      const sent = new HashCounter();
      const ctx = Context.current();
      const stop = every(2_000, () => ctx.heartbeat({ step: 'uploading', bytes: sent.bytes }));
      try {
        const body = createReadStream(path.join(dir, m.filename));
        void pipeline(body, sent).catch(() => undefined);
        const upload = new Upload({ client, params: { Bucket: s3.bucket, Key: key, Body: sent, Metadata: { sha256: m.sha256 } }, partSize: s3.partSizeBytes, queueSize: 2, leavePartsOnError: false });
        await upload.done();
      } finally {
        stop();
      }
      const after = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: key }));
      if (sent.digest() !== m.sha256 || after.ContentLength !== m.size_bytes) {
        throw transient(ErrorType.UploadFailed, `s3://${s3.bucket}/${key} holds ${String(after.ContentLength)} bytes (sent sha256 ${sent.digest()}), expected ${m.size_bytes} bytes with ${m.sha256}; it is uploaded again`);
      }
    }
    for (const suffix of [SHA256_SUFFIX, PG_MANIFEST_SUFFIX, BASE_MANIFEST_SUFFIX]) {
      const body = await fs.readFile(path.join(dir, `${m.filename}${suffix}`));
      await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: s3Key(s3, `${rel}${suffix}`), Body: body }));
    }
    return { bucket: s3.bucket, key };
  } finally {
    client.destroy();
  }
}
