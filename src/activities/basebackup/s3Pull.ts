// The disaster path when BACKUP_DIR went with the server: copies base/ and wal/ down from S3 (the same
// relative keys under S3_PREFIX) into BACKUP_DIR, each file under a temporary name, fsynced, renamed,
// with the object's time as its modification time (the restorable window reads it).
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, paginateListObjectsV2 } from '@aws-sdk/client-s3';
import { Context } from '@temporalio/activity';
import type { Config } from '../../config';
import { ErrorType, permanent } from '../../errors';
import { createS3Client } from '../../storage/s3Client';
import { fsyncDir } from '../stream';

/** What was copied down. */
export interface PullResult {
  files: number;
  bytes: number;
}

const LAYOUT_KEY = /^(base|wal)\/\d+\/[0-9A-Za-z_.-]+$/;

/** Copies every base backup and archived WAL file from S3 that BACKUP_DIR lacks (or holds at another size; sidecars always). */
export async function pullFromS3(config: Config): Promise<PullResult> {
  const s3 = config.s3;
  if (s3 === undefined) throw permanent(ErrorType.S3NotConfigured, 'the restore was asked to read S3, but S3_BUCKET is not set; set it, or restore from BACKUP_DIR; nothing was changed');
  const client = createS3Client(s3);
  const ctx = Context.current();
  let files = 0;
  let bytes = 0;
  try {
    for (const top of ['base/', 'wal/']) {
      for await (const page of paginateListObjectsV2({ client }, { Bucket: s3.bucket, Prefix: `${s3.prefix}${top}` })) {
        for (const object of page.Contents ?? []) {
          const rel = (object.Key ?? '').slice(s3.prefix.length);
          if (!LAYOUT_KEY.test(rel)) continue;
          const local = path.join(config.backup.dir, rel);
          const size = object.Size ?? 0;
          const have = await fs.stat(local).then((s) => s.size, () => -1);
          if (have === size && !rel.endsWith('.sha256') && !rel.includes('.partial.')) continue;
          await fs.mkdir(path.dirname(local), { recursive: true });
          const tmp = path.join(path.dirname(local), `.${path.basename(local)}.s3-${process.pid}`);
          const out = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: object.Key }), { abortSignal: ctx.cancellationSignal });
          await pipeline(out.Body as Readable, createWriteStream(tmp, { mode: 0o600 }));
          const handle = await fs.open(tmp, 'r');
          await handle.sync().finally(() => handle.close());
          const when = object.LastModified ?? new Date();
          await fs.utimes(tmp, when, when);
          await fs.rename(tmp, local);
          await fsyncDir(path.dirname(local));
          files += 1;
          bytes += size;
          ctx.heartbeat({ step: 'copying from S3', files, bytes });
        }
      }
    }
    return { files, bytes };
  } finally {
    client.destroy();
  }
}
