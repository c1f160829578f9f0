import fs from 'node:fs';
import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { listCatalog } from '../src/activities/catalog';
import { mergeCatalog } from '../src/backup/catalog';
import { manifestName, MANIFEST_VERSION } from '../src/backup/manifest';
import { parseBackupName } from '../src/backup/naming';
import { createS3Client } from '../src/storage/s3Client';
import { runActivity, testConfig, withAdmin, uniqueName } from './helpers';

const VERIFIED = 'family_brain_daily_20261120_020000.sql.gz';
const LEGACY = 'family_brain_daily_20251208_020000.sql.gz';
const S3_ONLY = 'family_brain_weekly_20261122_030000.sql.gz';

function manifest(filename: string): string {
  return JSON.stringify({
    manifest_version: MANIFEST_VERSION, filename, type: 'daily', format: 'plain_gzip', status: 'verified', created_at: '2026-11-20T07:00:00.000Z',
    sha256: 'cd'.repeat(32), size_bytes: 8, table_details: { tenants: 5 }, tables_backed_up: 1, total_rows: 5,
  });
}

describe('the backup catalogue', () => {
  it('merges local and S3 copies by name, newest first, with manifest facts, and lists Windmill-era files as having no manifest', async () => {
    const config = testConfig({ s3: true });
    fs.writeFileSync(path.join(config.backup.dir, VERIFIED), 'verified');
    fs.writeFileSync(path.join(config.backup.dir, manifestName(VERIFIED)), manifest(VERIFIED));
    fs.writeFileSync(path.join(config.backup.dir, LEGACY), 'windmill');
    const client = createS3Client(config.s3!);
    for (const [key, body] of [[VERIFIED, 'verified'], [manifestName(VERIFIED), manifest(VERIFIED)], [S3_ONLY, 'weekly!']]) {
      await client.send(new PutObjectCommand({ Bucket: config.s3!.bucket, Key: `${config.s3!.prefix}${key}`, Body: body }));
    }
    client.destroy();

    const withS3 = await runActivity(listCatalog, config, true);
    expect(withS3.backups.map((b) => [b.filename, b.state, b.locations])).toEqual([
      [S3_ONLY, 'legacy', ['s3']],
      [VERIFIED, 'verified', ['local', 's3']],
      [LEGACY, 'legacy', ['local']],
    ]);
    expect(withS3.backups[1]).toMatchObject({ type: 'daily', created_at: '2026-11-20T07:00:00.000Z', sha256: 'cd'.repeat(32), tables_backed_up: 1, total_rows: 5, has_manifest: true });
    expect(withS3.backups[2]).toMatchObject({ created_at: '2025-12-08T07:00:00.000Z', has_manifest: false, sha256: null, total_rows: null });

    const localOnly = await runActivity(listCatalog, config, false);
    expect(localOnly.backups.map((b) => b.filename)).toEqual([VERIFIED, LEGACY]);
  });

  it('lists databases a restore renamed aside', async () => {
    const live = uniqueName('live');
    const aside = `${live}_pre_restore_20261124_101500`;
    await withAdmin((c) => c.query(`CREATE DATABASE ${aside}`));
    try {
      const catalog = await runActivity(listCatalog, testConfig({ database: live }), false);
      expect(catalog.aside_databases).toEqual([{ name: aside, created_at: '2026-11-24T15:15:00.000Z' }]);
    } finally {
      await withAdmin((c) => c.query(`DROP DATABASE ${aside}`));
    }
  });

  it('takes the manifest from whichever copy has one', () => {
    const name = parseBackupName(VERIFIED)!;
    const merged = mergeCatalog(
      [
        { location: 'local', name, size_bytes: 8, manifest: null },
        { location: 's3', name, size_bytes: 8, manifest: JSON.parse(manifest(VERIFIED)) },
      ],
      'America/Toronto',
    );
    expect(merged).toEqual([expect.objectContaining({ filename: VERIFIED, state: 'verified', locations: ['local', 's3'], has_manifest: true })]);
  });
});
