import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uploadBackup } from '../src/activities/backup/upload';
import { manifestName, MANIFEST_VERSION, parseManifest, type BackupManifest } from '../src/backup/manifest';
import { createS3Client } from '../src/storage/s3Client';
import { backupDatabase } from '../src/workflows';
import { temporalDriver } from './drivers';
import { createDatabase, dropDatabase, runActivity, tempDir, testConfig, uniqueName } from './helpers';

let source: string;
beforeAll(async () => {
  source = await createDatabase('upload_src');
});
const driver = temporalDriver();
afterAll(async () => {
  await driver.release();
  await dropDatabase(source);
});

describe('upload to S3', () => {
  it('a backup with upload_to_s3 lands in the bucket with its size, its SHA-256 in metadata, and its manifest beside it', async () => {
    const config = testConfig({ database: source, s3: true });
    const runner = await driver.runner(config);
    const result = await runner.execute(backupDatabase, { args: [{ backup_type: 'daily', upload_to_s3: true }], workflowId: uniqueName('upload') }).finally(() => runner.stop());
    const s3 = config.s3!;
    expect(result.uploaded).toEqual({ bucket: s3.bucket, key: `${s3.prefix}${result.filename}` });
    const client = createS3Client(s3);
    const head = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: `${s3.prefix}${result.filename}` }));
    expect(head.ContentLength).toBe(fs.statSync(path.join(config.backup.dir, result.filename)).size);
    expect(head.Metadata).toMatchObject({ sha256: result.sha256, 'backup-type': 'daily' });
    const manifestObject = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: `${s3.prefix}${manifestName(result.filename)}` }));
    const manifest = parseManifest(await manifestObject.Body!.transformToString(), 's3 manifest');
    expect(manifest).toMatchObject({ filename: result.filename, status: 'verified', sha256: result.sha256 });
    client.destroy();
  });

  it('uses multipart for a file larger than one part, confirms the stored size, and does not upload it twice', async () => {
    const config = testConfig({ s3: true, backupDir: tempDir() });
    const filename = 'family_brain_manual_20261124_101500.sql.gz';
    const data = randomBytes(12 * 1024 * 1024 + 17);
    fs.writeFileSync(path.join(config.backup.dir, filename), data);
    const manifest: BackupManifest = {
      manifest_version: MANIFEST_VERSION, filename, type: 'manual', format: 'plain_gzip', status: 'verified', created_at: '2026-11-24T15:15:00.000Z',
      database: 'x', server_version: '15', pg_dump_version: '15', size_bytes: data.length, sha256: createHash('sha256').update(data).digest('hex'),
      tables_backed_up: 0, total_rows: 0, table_details: {}, extensions: [], roles: [], verification: null, workflow_id: 'wf',
    };
    fs.writeFileSync(path.join(config.backup.dir, manifestName(filename)), JSON.stringify(manifest));
    const first = await runActivity(uploadBackup, config, filename);
    expect(first).toMatchObject({ size_bytes: data.length, sha256: manifest.sha256, parts: 3, skipped_existing: false });
    const client = createS3Client(config.s3!);
    const head = await client.send(new HeadObjectCommand({ Bucket: config.s3!.bucket, Key: first.key }));
    expect(head.ContentLength).toBe(data.length);
    client.destroy();
    const again = await runActivity(uploadBackup, config, filename);
    expect(again).toMatchObject({ parts: 0, skipped_existing: true });
  });

  it('refuses upload_to_s3 when no bucket is configured, before dumping anything', async () => {
    const config = testConfig({ database: source });
    const runner = await driver.runner(config);
    const handle = await runner.start(backupDatabase, { args: [{ upload_to_s3: true }], workflowId: uniqueName('upload') });
    const err = await handle.result().catch((e: unknown) => e);
    await runner.stop();
    const cause = (err as { cause?: unknown }).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect((cause as ApplicationFailure).type).toBe('S3NotConfigured');
    expect(handle.attempts()).toEqual(['backupSettings:completed']);
    expect(fs.readdirSync(config.backup.dir)).toEqual([]);
  });
});
