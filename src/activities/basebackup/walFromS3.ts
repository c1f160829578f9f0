// With one BACKUP_DIR per host, the WAL archive stores on whichever worker runs it at the time (it
// moves when a worker is lost), so one host's wal/<sysid>/ may lack segments another host archived;
// S3 holds them all. This copies what a base backup's verification needs from S3 into BACKUP_DIR,
// each file under a temporary name, fsynced, renamed, its sidecar first (as the archiver writes them).
import fs from 'node:fs/promises';
import path from 'node:path';
import { paginateListObjectsV2 } from '@aws-sdk/client-s3';
import { parseArchivedWal, SHA256_SUFFIX, walDir } from '../../basebackup/naming';
import type { Config } from '../../config';
import { createS3Client } from '../../storage/s3Client';
import { downloadObject } from './s3Copy';

/**
 * Copies the archived WAL of server `sysid` from segment `fromSegno` on (and the history files) from
 * S3 into BACKUP_DIR/wal/<sysid>/, skipping what is there at the same size (a partial copy is always
 * taken again: it grows in place). Keeps S3's time as the file's modification time (the restorable
 * window reads it). The number of files copied; 0 without S3.
 */
export async function copyWalFromS3(config: Config, req: { sysid: string; fromSegno: bigint; segmentBytes: number; signal?: AbortSignal }): Promise<number> {
  const s3 = config.s3;
  if (s3 === undefined) return 0;
  const client = createS3Client(s3);
  const dir = path.join(config.backup.dir, walDir(req.sysid));
  const prefix = `${s3.prefix}${walDir(req.sysid)}/`;
  let copied = 0;
  try {
    for await (const page of paginateListObjectsV2({ client }, { Bucket: s3.bucket, Prefix: prefix })) {
      const objects = page.Contents ?? [];
      const sidecars = new Set(objects.map((o) => o.Key ?? '').filter((k) => k.endsWith(SHA256_SUFFIX)));
      for (const object of objects) {
        const stored = (object.Key ?? '').slice(prefix.length);
        const parsed = parseArchivedWal(stored, req.segmentBytes);
        if (parsed === undefined || (parsed.kind !== 'history' && parsed.segno < req.fromSegno) || !sidecars.has(`${object.Key}${SHA256_SUFFIX}`)) continue;
        const local = path.join(dir, stored);
        const have = await fs.stat(local).then((s) => s.size, () => -1);
        if (have === (object.Size ?? 0) && parsed.kind !== 'partial') continue;
        await fs.mkdir(dir, { recursive: true });
        await downloadObject(client, { bucket: s3.bucket, key: `${object.Key}${SHA256_SUFFIX}`, local: `${local}${SHA256_SUFFIX}`, signal: req.signal });
        await downloadObject(client, { bucket: s3.bucket, key: object.Key!, local, signal: req.signal });
        copied += 1;
      }
    }
    return copied;
  } finally {
    client.destroy();
  }
}
