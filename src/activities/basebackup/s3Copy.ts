// One S3 object copied into BACKUP_DIR with the same atomic-name rules as everything we store: a
// temporary name, fsync, the object's time as the file's modification time (the restorable window
// reads it), rename, the directory fsynced. Used by restores from S3 and by base-backup verification.
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { fsyncDir } from '../stream';

/** Copies `key` of `bucket` to `local`; `when` (else the object's LastModified) becomes its modification time. */
export async function downloadObject(client: S3Client, o: { bucket: string; key: string; local: string; when?: Date; signal?: AbortSignal }): Promise<void> {
  const tmp = path.join(path.dirname(o.local), `.${path.basename(o.local)}.s3-${process.pid}`);
  try {
    const out = await client.send(new GetObjectCommand({ Bucket: o.bucket, Key: o.key }), { abortSignal: o.signal });
    await pipeline(out.Body as Readable, createWriteStream(tmp, { mode: 0o600 }));
    const handle = await fs.open(tmp, 'r');
    await handle.sync().finally(() => handle.close());
    const when = o.when ?? out.LastModified ?? new Date();
    await fs.utimes(tmp, when, when);
    await fs.rename(tmp, o.local);
  } finally {
    await fs.rm(tmp, { force: true });
  }
  await fsyncDir(path.dirname(o.local));
}
