import { describe, expect, it } from 'vitest';
import { backupFilename, localTimestamp, parseAsideDatabaseName, parseBackupName, restoreDatabaseNames, timestampToDate } from '../src/backup/naming';

describe('backup file names', () => {
  it.each([
    ['family_brain_daily_20251208_020000.sql.gz', { prefix: 'family_brain', type: 'daily', timestamp: '20251208_020000', format: 'plain_gzip' }],
    ['family_brain_manual_20251208_023807.sql.gz', { prefix: 'family_brain', type: 'manual', timestamp: '20251208_023807', format: 'plain_gzip' }],
    ['family_brain_pre_restore_20261124_101500.sql.gz', { prefix: 'family_brain', type: 'pre_restore', timestamp: '20261124_101500', format: 'plain_gzip' }],
    ['fb-prod_weekly_20261122_030000.dump', { prefix: 'fb-prod', type: 'weekly', timestamp: '20261122_030000', format: 'custom' }],
    ['family_brain_monthly_20261201_040000.sql.zst', { prefix: 'family_brain', type: 'monthly', timestamp: '20261201_040000', format: 'plain_zstd' }],
  ])('parses %s', (name, expected) => {
    expect(parseBackupName(name)).toEqual({ filename: name, ...expected });
  });

  it.each([
    '../etc/passwd',
    'family_brain_daily_20251208_020000.sql.gz.manifest.json',
    'family_brain_daily_20251208_020000.sql.gz.tmp-1234',
    'family_brain_daily_20251208_020000.sql.gz.unverified',
    'backups/family_brain_daily_20251208_020000.sql.gz',
    'family_brain_hourly_20251208_020000.sql.gz',
    'family_brain_daily_2025120_020000.sql.gz',
    'notes.txt',
  ])('does not take %s for a backup', (name) => {
    expect(parseBackupName(name)).toBeUndefined();
  });

  it('stamps names with the wall-clock time of the configured time zone, as the guide shows', () => {
    // 07:00 UTC on 8 December 2025 is 02:00 in Toronto (EST, UTC-5).
    expect(backupFilename('family_brain', 'daily', new Date('2025-12-08T07:00:00Z'), 'America/Toronto')).toBe('family_brain_daily_20251208_020000.sql.gz');
    // In summer Toronto is UTC-4.
    expect(localTimestamp(new Date('2026-07-01T06:00:00Z'), 'America/Toronto')).toBe('20260701_020000');
    expect(backupFilename('fb', 'manual', new Date('2026-07-01T06:00:00Z'), 'UTC', 'custom')).toBe('fb_manual_20260701_060000.dump');
    expect(backupFilename('fb', 'manual', new Date('2026-07-01T06:00:00Z'), 'UTC', 'plain_zstd')).toBe('fb_manual_20260701_060000.sql.zst');
  });

  it.each([
    ['20251208_020000', '2025-12-08T07:00:00.000Z'],
    ['20260701_020000', '2026-07-01T06:00:00.000Z'],
    // 1 November 2026, 01:30 happens twice in Toronto; the earlier (EDT) one is meant.
    ['20261101_013000', '2026-11-01T05:30:00.000Z'],
    // 8 March 2026, 02:30 does not exist in Toronto; it is read as 03:30 EDT, the same instant as 02:30 EST.
    ['20260308_023000', '2026-03-08T07:30:00.000Z'],
  ])('turns the Toronto timestamp %s back into %s', (stamp, iso) => {
    expect(timestampToDate(stamp, 'America/Toronto').toISOString()).toBe(iso);
  });
});

describe('the databases a restore works with', () => {
  it('are all named from the live database and the restore\'s timestamp; the one set aside is what prune and list recognise', () => {
    const names = restoreDatabaseNames('family_brain', '20261124_101500');
    expect(names).toEqual({
      live: 'family_brain',
      incoming: 'family_brain_restoring_20261124_101500',
      aside: 'family_brain_pre_restore_20261124_101500',
      failed: 'family_brain_failed_restore_20261124_101500',
    });
    expect(parseAsideDatabaseName('family_brain', names.aside)).toBe('20261124_101500');
    expect(parseAsideDatabaseName('family_brain', names.incoming)).toBeUndefined();
  });
});
