// The BackupStore contract, run against every implementation (local directory, S3 via s3rver).
import fs from 'node:fs';
import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { manifestName, MANIFEST_VERSION, type BackupManifest } from '../src/backup/manifest';
import { LocalStore } from '../src/storage/localStore';
import { createS3Client } from '../src/storage/s3Client';
import { S3Store } from '../src/storage/s3Store';
import type { BackupStore } from '../src/storage/store';
import { tempDir, testConfig } from './helpers';

/** Puts files into a fresh store of one kind. */
type Seeded = (files: Record<string, string>) => Promise<BackupStore>;

const local: Seeded = async (files) => {
  const dir = tempDir('store');
  for (const [name, body] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), body);
  }
  return new LocalStore(dir, 'family_brain');
};

const s3: Seeded = async (files) => {
  const config = testConfig({ s3: true }).s3!;
  const client = createS3Client(config);
  for (const [name, body] of Object.entries(files)) {
    await client.send(new PutObjectCommand({ Bucket: config.bucket, Key: `${config.prefix}${name}`, Body: body }));
  }
  return new S3Store(client, config, 'family_brain');
};

function manifest(filename: string): string {
  const m: Partial<BackupManifest> = {
    manifest_version: MANIFEST_VERSION, filename, type: 'daily', format: 'plain_gzip', status: 'verified',
    created_at: '2026-11-20T07:00:00.000Z', sha256: 'ab'.repeat(32), size_bytes: 4, table_details: { tenants: 5 },
  };
  return JSON.stringify(m);
}

const NEW = 'family_brain_daily_20261120_020000.sql.gz';
const OLD = 'family_brain_weekly_20261101_030000.dump';
const LEGACY = 'family_brain_manual_20251208_023807.sql.gz';

describe.each([
  ['local directory', local],
  ['S3 (s3rver)', s3],
])('BackupStore contract: %s', (_, seed) => {
  it('lists only backups with the configured prefix, newest first, with manifests where present', async () => {
    const store = await seed({
      [NEW]: 'data',
      [manifestName(NEW)]: manifest(NEW),
      [OLD]: 'old!',
      [LEGACY]: 'windmill',
      [`${LEGACY}.failed`]: 'moved aside',
      [`.${NEW}.partial-1a2b`]: 'half a dump',
      [manifestName('family_brain_daily_20261121_020000.sql.gz')]: 'manifest without data',
      'other_app_daily_20261120_020000.sql.gz': 'not ours',
      'notes.txt': 'hello',
      'nested/family_brain_daily_20261122_020000.sql.gz': 'not at the top level',
    });
    const listed = await store.list();
    expect(listed.map((b) => b.name.filename)).toEqual([NEW, OLD, LEGACY]);
    expect(listed.map((b) => b.size_bytes)).toEqual([4, 4, 8]);
    expect(listed[0]?.manifest).toMatchObject({ filename: NEW, status: 'verified', table_details: { tenants: 5 } });
    expect(listed[1]?.manifest).toBeNull();
    expect(listed[2]?.name).toEqual({ filename: LEGACY, prefix: 'family_brain', type: 'manual', timestamp: '20251208_023807', format: 'plain_gzip' });
  });

  it('reports a broken manifest instead of failing the listing', async () => {
    const store = await seed({ [NEW]: 'data', [manifestName(NEW)]: '{"not": "a manifest"' });
    const [entry] = await store.list();
    expect(entry?.manifest).toBeNull();
    expect(entry?.manifest_error).toMatch(/is not JSON/);
  });

  it('removes a backup with its manifest, and removing it again is fine', async () => {
    const store = await seed({ [NEW]: 'data', [manifestName(NEW)]: manifest(NEW), [OLD]: 'old!' });
    await store.remove(NEW);
    await store.remove(NEW);
    const listed = await store.list();
    expect(listed.map((b) => b.name.filename)).toEqual([OLD]);
  });

  it('refuses to remove anything that is not a backup name', async () => {
    const store = await seed({ 'notes.txt': 'keep me' });
    await expect(store.remove('../notes.txt')).rejects.toThrow('refusing to remove "../notes.txt": not a backup file name');
  });
});
