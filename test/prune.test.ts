import fs from 'node:fs';
import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { pruneAsideDatabases, pruneBackups, retentionCandidate } from '../src/activities/backup/prune';
import { manifestName, MANIFEST_VERSION, type BackupManifest } from '../src/backup/manifest';
import { parseBackupName, timestampToDate, type BackupType } from '../src/backup/naming';
import { applyRetention } from '../src/backup/retention';
import { createS3Client } from '../src/storage/s3Client';
import { openStores } from '../src/storage/stores';
import { freePort } from '../src/ports';
import { applicationFailureOf } from '../src/client/failures';
import { runActivity, testConfig, uniqueName, withAdmin } from './helpers';

const NOW = '2026-11-24T12:00:00.000Z';

/** A backup file name `days` days before NOW, on Toronto's clock. */
function name(type: BackupType, days: number): string {
  const at = new Date(Date.parse(NOW) - days * 86_400_000);
  const stamp = new Intl.DateTimeFormat('sv-SE', { timeZone: 'America/Toronto', dateStyle: 'short', timeStyle: 'medium' }).format(at).replace(/[-:]/g, '').replace(' ', '_');
  return `family_brain_${type}_${stamp}.sql.gz`;
}

function manifestFor(filename: string, status: BackupManifest['status']): string {
  const parsed = parseBackupName(filename)!;
  return JSON.stringify({
    manifest_version: MANIFEST_VERSION, filename, type: parsed.type, format: 'plain_gzip', status,
    created_at: timestampToDate(parsed.timestamp, 'America/Toronto').toISOString(), sha256: '00'.repeat(32), size_bytes: 1, table_details: {},
  });
}

const FILES: Record<string, 'verified' | 'dumped' | 'legacy'> = {
  [name('daily', 1)]: 'verified',
  [name('daily', 5)]: 'verified',
  [name('daily', 8)]: 'verified',
  [name('daily', 20)]: 'legacy',
  [name('weekly', 10)]: 'verified',
  [name('weekly', 30)]: 'verified',
  [name('monthly', 200)]: 'verified',
  [name('monthly', 400)]: 'verified',
  [name('monthly', 500)]: 'dumped',
  [name('manual', 45)]: 'verified',
  [name('pre_restore', 3)]: 'verified',
  [name('pre_restore', 40)]: 'verified',
};
const FOREIGN = ['notes.txt', 'other_app_daily_20200101_020000.sql.gz', `${name('daily', 90)}.failed`];

describe('pruneAsideDatabases', () => {
  it('drops databases kept aside by restores once older than their retention, and only on a real run', async () => {
    const live = uniqueName('live');
    const old = `${live}_pre_restore_20261101_020000`;
    const recent = `${live}_pre_restore_20261120_020000`;
    await withAdmin(async (c) => {
      await c.query(`CREATE DATABASE ${old}`);
      await c.query(`CREATE DATABASE ${recent}`);
    });
    const config = testConfig({ database: live });
    const dry = await runActivity(pruneAsideDatabases, config, { dryRun: true, now: NOW });
    expect(dry).toEqual([
      { database: recent, action: 'keep', reason: 'kept aside by a restore less than 7 days ago', removed: false },
      { database: old, action: 'remove', reason: 'kept aside by a restore on 2026-11-01T07:00:00.000Z, more than 7 days ago', removed: false },
    ]);
    await runActivity(pruneAsideDatabases, config, { dryRun: false, now: NOW });
    const { rows } = await withAdmin((c) => c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [`${live}%`]));
    expect(rows.map((r) => r.datname)).toEqual([recent]);
    await withAdmin((c) => c.query(`DROP DATABASE ${recent}`));
  });
});

describe('pruneBackups', () => {
  it('removes on disk and on S3 exactly what the retention function decides, and nothing it does not recognise', async () => {
    const config = testConfig({ s3: true });
    const dir = config.backup.dir;
    const client = createS3Client(config.s3!);
    for (const [file, kind] of Object.entries(FILES)) {
      fs.writeFileSync(path.join(dir, file), 'x');
      await client.send(new PutObjectCommand({ Bucket: config.s3!.bucket, Key: `${config.s3!.prefix}${file}`, Body: 'x' }));
      if (kind !== 'legacy') {
        fs.writeFileSync(path.join(dir, manifestName(file)), manifestFor(file, kind));
        await client.send(new PutObjectCommand({ Bucket: config.s3!.bucket, Key: `${config.s3!.prefix}${manifestName(file)}`, Body: manifestFor(file, kind) }));
      }
    }
    for (const file of FOREIGN) fs.writeFileSync(path.join(dir, file), 'not ours');
    client.destroy();

    const stores = openStores(config);
    const listed = await stores.local.list();
    const expected = applyRetention(listed.map((b) => retentionCandidate(b, 'America/Toronto')), config.backup.retention, new Date(NOW))
      .filter((d) => d.action === 'remove')
      .map((d) => d.filename)
      .sort();
    // manual_45d is past 30 days but is the only (so newest verified) manual backup: kept.
    expect(expected).toEqual([name('daily', 20), name('daily', 8), name('monthly', 400), name('monthly', 500), name('pre_restore', 40), name('weekly', 30)].sort());

    const decisions = await runActivity(pruneBackups, config, { dryRun: false, now: NOW });
    for (const location of ['local', 's3'] as const) {
      expect(decisions.filter((d) => d.location === location && d.removed).map((d) => d.filename).sort()).toEqual(expected);
    }
    const keep = Object.keys(FILES).filter((f) => !expected.includes(f)).sort();
    expect((await stores.local.list()).map((b) => b.name.filename).sort()).toEqual(keep);
    expect((await stores.s3!.list()).map((b) => b.name.filename).sort()).toEqual(keep);
    expect(FOREIGN.every((f) => fs.existsSync(path.join(dir, f)))).toBe(true);
    expect(expected.every((f) => !fs.existsSync(path.join(dir, manifestName(f))))).toBe(true);
    stores.close();
  });

  // Issue 26 (the soak, S3 down during a prune): the run failed with a bare "Error: read ECONNRESET".
  it('with S3 not answering, prunes the local directory, then fails with a retryable S3Unavailable that names the bucket', async () => {
    const config = testConfig({ s3: true });
    const down = { ...config, s3: { ...config.s3!, endpoint: `http://127.0.0.1:${await freePort()}` } };
    for (const [file, kind] of Object.entries(FILES)) {
      fs.writeFileSync(path.join(config.backup.dir, file), 'x');
      if (kind !== 'legacy') fs.writeFileSync(path.join(config.backup.dir, manifestName(file)), manifestFor(file, kind));
    }
    const failure = applicationFailureOf(await runActivity(pruneBackups, down, { dryRun: false, now: NOW }).then(() => undefined, (e: unknown) => e));
    expect(failure?.type).toBe('S3Unavailable');
    expect(failure?.nonRetryable).toBe(false);
    expect(failure?.message).toMatch(new RegExp(`^cannot list the backups in s3://${config.s3!.bucket}/\\S* \\(.*ECONNREFUSED.*\\); check S3_ENDPOINT .*; the local copies were pruned on their own, and nothing else was removed from S3$`));
    const kept = fs.readdirSync(config.backup.dir).filter((f) => parseBackupName(f) !== undefined && !f.endsWith('.json'));
    expect(kept.length).toBeLessThan(Object.keys(FILES).length);
  });

  it('changes nothing on a dry run', async () => {
    const config = testConfig();
    for (const [file] of Object.entries(FILES)) fs.writeFileSync(path.join(config.backup.dir, file), 'x');
    const before = fs.readdirSync(config.backup.dir).sort();
    const decisions = await runActivity(pruneBackups, config, { dryRun: true, now: NOW });
    expect(decisions.filter((d) => d.action === 'remove').length).toBeGreaterThan(0);
    expect(decisions.every((d) => !d.removed)).toBe(true);
    expect(fs.readdirSync(config.backup.dir).sort()).toEqual(before);
  });
});
