// The disaster path when BACKUP_DIR went with the server: copies base backups and WAL down from S3 (the same
// relative keys under S3_PREFIX) into BACKUP_DIR, each file under a temporary name, fsynced, renamed,
// with the object's time as its modification time (the restorable window reads it).
import fs from 'node:fs/promises';
import path from 'node:path';
import { GetObjectCommand, paginateListObjectsV2, type S3Client } from '@aws-sdk/client-s3';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Config } from '../../config';
import { ErrorType, permanent } from '../../errors';
import { createS3Client } from '../../storage/s3Client';
import { describeS3Error, s3Hint, s3Unavailable } from '../doctor/s3';
import { diskError, isDiskError } from '../failures';
import { parseBaseManifest } from '../../basebackup/manifest';
import { BASE_MANIFEST_SUFFIX } from '../../basebackup/naming';
import { downloadObject } from './s3Copy';
import { objectsForMoment, type ListedObject } from './s3Scope';

/** What was copied down. */
export interface PullResult {
  files: number;
  bytes: number;
}

const LAYOUT_KEY = /^(base|wal)\/\d+\/[0-9A-Za-z_.-]+$/;

/**
 * Copies from S3 what BACKUP_DIR lacks (or holds at another size; sidecars always): with `toTime`, the
 * base backup chain a restore to it starts from and its WAL (s3Scope.ts); without, or when no base
 * backup in S3 reaches it, every base backup and archived WAL file.
 */
export async function pullFromS3(config: Config, toTime?: string): Promise<PullResult> {
  const s3 = config.s3;
  if (s3 === undefined) {
    throw permanent(ErrorType.S3NotConfigured, 'the restore was asked to read S3 (--source s3), but S3_BUCKET is not set; set S3_BUCKET, S3_PREFIX, S3_ENDPOINT and the AWS credentials the backups were written with, or restore from BACKUP_DIR; nothing was changed');
  }
  const client = createS3Client(s3);
  const ctx = Context.current();
  const where = `s3://${s3.bucket}/${s3.prefix}${s3.endpoint ? ` at ${s3.endpoint}` : ''}`;
  let files = 0;
  let bytes = 0;
  const listed: ListedObject[] = [];
  try {
    for (const top of ['base/', 'wal/']) {
      for await (const page of paginateListObjectsV2({ client }, { Bucket: s3.bucket, Prefix: `${s3.prefix}${top}` })) {
        for (const object of page.Contents ?? []) {
          const rel = (object.Key ?? '').slice(s3.prefix.length);
          if (LAYOUT_KEY.test(rel)) listed.push({ rel, size: object.Size ?? 0, when: object.LastModified ?? new Date() });
        }
        ctx.heartbeat({ step: 'listing S3', objects: listed.length });
      }
    }
    const wanted = toTime === undefined ? undefined : objectsForMoment(toTime, await readManifests(client, s3.bucket, s3.prefix, listed), listed);
    for (const object of listed) {
      if (wanted !== undefined && !wanted.has(object.rel)) continue;
      const copied = await copyDown(client, { config, key: `${s3.prefix}${object.rel}`, rel: object.rel, size: object.size, when: object.when, signal: ctx.cancellationSignal });
      if (!copied) continue;
      files += 1;
      bytes += object.size;
      ctx.heartbeat({ step: 'copying from S3', files, bytes });
    }
  } catch (err) {
    // A local failure (BACKUP_DIR full, read-only, not a directory) is not S3's; a write that fills the
    // disk mid-stream names no path, only its code.
    throw isDiskError(err) || typeof (err as { path?: unknown }).path === 'string' ? diskError(err, config.backup.dir) : unavailable(err, where);
  } finally {
    client.destroy();
  }
  if (!listed.some((o) => o.rel.startsWith('base/'))) {
    throw permanent(ErrorType.BackupNotFound, `${where} holds no base backup (nothing under base/); check S3_BUCKET and S3_PREFIX (the ones the backups were written with); nothing was changed`);
  }
  return { files, bytes };
}

/** The base backups' own manifests (small JSON files) as S3 holds them; one that does not parse is left out (its backup is not usable). */
async function readManifests(client: S3Client, bucket: string, prefix: string, listed: ListedObject[]) {
  const out = [];
  for (const o of listed.filter((l) => l.rel.startsWith('base/') && l.rel.endsWith(BASE_MANIFEST_SUFFIX))) {
    const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: `${prefix}${o.rel}` }));
    try {
      out.push(parseBaseManifest(await got.Body!.transformToString(), o.rel));
    } catch {
      continue;
    }
  }
  return out;
}

/** One object into BACKUP_DIR (atomically, downloadObject); false when the local copy is already there. */
async function copyDown(client: S3Client, o: { config: Config; key: string; rel: string; size: number; when: Date; signal: AbortSignal }): Promise<boolean> {
  const local = path.join(o.config.backup.dir, o.rel);
  const have = await fs.stat(local).then((s) => s.size, () => -1);
  if (have === o.size && !o.rel.endsWith('.sha256') && !o.rel.includes('.partial.')) return false;
  await fs.mkdir(path.dirname(local), { recursive: true });
  await downloadObject(client, { bucket: o.config.s3!.bucket, key: o.key, local, when: o.when, signal: o.signal });
  return true;
}

/**
 * An S3 failure as S3Unavailable, with the next step: retried (per the activity's policy) when the store
 * may come back (unreachable, a timeout), not when the bucket, the credentials or the region are wrong.
 */
function unavailable(err: unknown, where: string): unknown {
  if (err instanceof ApplicationFailure || (err as Error).name === 'AbortError') return err;
  return s3Unavailable(err, `cannot read the base backups and WAL in ${where} (${describeS3Error(err)}); ${s3Hint(err, 'read')}; nothing was written to the target directory`);
}
