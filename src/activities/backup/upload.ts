import { Context } from '@temporalio/activity';
import { manifestName } from '../../backup/manifest';
import type { Config, S3Config } from '../../config';
import { ErrorType, permanent, transient } from '../../errors';
import { copyBackup } from '../../storage/copy';
import { LocalStore } from '../../storage/localStore';
import { createS3Client } from '../../storage/s3Client';
import { S3Store } from '../../storage/s3Store';
import { SourceMismatchError } from '../../storage/store';
import { every } from '../stream';
import { readLocalManifest } from './verify';

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
 * Streams a verified backup to S3 (multipart past one part; memory ~2 parts), hashing what it
 * sends: bytes that differ from the manifest's SHA-256 or size are a non-retryable BackupCorrupted
 * and nothing stays in S3. Then confirms the stored object's size and recorded SHA-256, and puts
 * the manifest beside it. An object
 * already there with the same size and checksum is not uploaded again (a retried attempt); a
 * multipart upload a killed attempt left open is aborted first.
 */
export async function uploadBackup(config: Config, filename: string): Promise<UploadResult> {
  const s3 = requireS3(config);
  const manifest = await readLocalManifest(config.backup.dir, filename);
  const client = createS3Client(s3);
  const remote = new S3Store(client, s3, config.backup.prefix);
  const ctx = Context.current();
  try {
    // An earlier attempt killed mid-upload left its multipart upload open; this run holds the
    // database's lock, so no other upload of this file is running.
    await remote.abortIncompleteUploads(filename);
    // Progress arrives once per part, and one part can take longer than the heartbeat timeout on a
    // slow uplink: the heartbeat says "alive" on a timer, with the bytes sent so far.
    const progress = { step: 'upload', bytes: 0, part: 0 };
    const stop = every(2_000, () => ctx.heartbeat(progress));
    const copied = await copyBackup(new LocalStore(config.backup.dir, config.backup.prefix), remote, filename, manifest, {
      signal: ctx.cancellationSignal,
      onProgress: (bytes, part) => Object.assign(progress, { bytes, part: part ?? progress.part }),
    })
      .catch((err: unknown) => {
        // The file read now is not the one its manifest describes: another attempt would read the same bytes.
        if (err instanceof SourceMismatchError) {
          throw permanent(ErrorType.BackupCorrupted, `backup "${filename}" in ${config.backup.dir} does not match its manifest (${err.message}): the file changed after it was written and verified; nothing was kept in S3; make a new backup`, err);
        }
        throw transient(ErrorType.UploadFailed, `upload of "${filename}" to ${remote.where(filename)} failed: ${(err as Error).message}`, err);
      })
      .finally(stop);
    return { bucket: s3.bucket, key: remote.key(filename), size_bytes: manifest.size_bytes, sha256: manifest.sha256, parts: copied.parts, skipped_existing: copied.skipped_existing };
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
  const remote = new S3Store(client, s3, config.backup.prefix);
  try {
    await remote.remove(filename);
    return { bucket: s3.bucket, keys: [remote.key(filename), remote.key(manifestName(filename))] };
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
