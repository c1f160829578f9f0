// Issue 21, item 16: the upload hashes the bytes it sends and compares them with the manifest; a
// local file that changed after it was verified is not uploaded as if it were the backup. Real
// s3rver; the activity as a worker runs it.
import fs from 'node:fs';
import path from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../src/activities';
import { uploadBackup } from '../src/activities/backup/upload';
import { backupFilename } from '../src/backup/naming';
import { createS3Client } from '../src/storage/s3Client';
import { createDatabase, dropDatabase, runActivity, testConfig } from './helpers';

let source: string;
beforeAll(async () => {
  source = await createDatabase('upload_sent');
});
afterAll(async () => {
  await dropDatabase(source);
});

describe('the upload of a backup file that no longer matches its manifest (same size, one byte changed)', () => {
  it('fails with a non-retryable BackupCorrupted naming both checksums, and leaves nothing in S3', async () => {
    const config = testConfig({ database: source, s3: true });
    const filename = backupFilename('family_brain', 'daily', new Date(), 'UTC');
    const manifest = await runActivity(createActivities({ config }).dumpDatabase, { filename, type: 'daily', format: 'plain_gzip', workflowId: 'sent-bytes' });
    // A bit flipped on the disk after the backup was written and verified: same size, other bytes.
    const file = path.join(config.backup.dir, filename);
    const bytes = fs.readFileSync(file);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = bytes[at]! ^ 0x01;
    fs.writeFileSync(file, bytes);

    const err = await runActivity(uploadBackup, config, filename).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    const failure = err as ApplicationFailure;
    expect(failure.type).toBe('BackupCorrupted');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toMatch(
      new RegExp(
        `^backup "${filename}" in ${config.backup.dir} does not match its manifest \\(the bytes sent to s3://${config.s3!.bucket}/${config.s3!.prefix}${filename} were ${manifest.size_bytes} bytes with sha256 [0-9a-f]{64}, expected ${manifest.size_bytes} bytes with ${manifest.sha256}; the copy was deleted\\): the file changed after it was written and verified; nothing was kept in S3; make a new backup$`,
      ),
    );
    const s3 = createS3Client(config.s3!);
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: config.s3!.bucket, Prefix: config.s3!.prefix }));
    s3.destroy();
    expect(listed.Contents ?? []).toEqual([]);
  });
});
