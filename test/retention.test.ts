import { describe, expect, it } from 'vitest';
import type { BackupType } from '../src/backup/naming';
import { applyRetention, cutoff, DEFAULT_RETENTION, type RetentionCandidate } from '../src/backup/retention';

const NOW = new Date('2026-11-24T12:00:00Z');
const daysAgo = (d: number) => new Date(NOW.getTime() - d * 86_400_000);
const b = (type: BackupType, ageDays: number, verified: boolean | null = true): RetentionCandidate => ({
  filename: `family_brain_${type}_${ageDays}d`,
  type,
  createdAt: daysAgo(ageDays),
  verified,
});
const removed = (backups: RetentionCandidate[]) =>
  applyRetention(backups, DEFAULT_RETENTION, NOW).filter((d) => d.action === 'remove').map((d) => d.filename).sort();

describe('retention', () => {
  it.each<[string, RetentionCandidate[], string[]]>([
    ['daily: keeps 7 days, removes older', [b('daily', 0), b('daily', 6), b('daily', 6.99), b('daily', 7.01), b('daily', 30)], ['family_brain_daily_30d', 'family_brain_daily_7.01d']],
    ['weekly: keeps 4 weeks', [b('weekly', 1), b('weekly', 27), b('weekly', 29), b('weekly', 35)], ['family_brain_weekly_29d', 'family_brain_weekly_35d']],
    ['monthly: keeps 12 calendar months', [b('monthly', 10), b('monthly', 300), b('monthly', 364), b('monthly', 366), b('monthly', 400)], ['family_brain_monthly_366d', 'family_brain_monthly_400d']],
    ['manual: keeps 30 days', [b('manual', 29), b('manual', 31)], ['family_brain_manual_31d']],
    ['pre-restore: kept for its own 30 days, even among old daily backups', [b('pre_restore', 29), b('pre_restore', 45), b('daily', 1)], ['family_brain_pre_restore_45d']],
    ['pitr (a moment a restore made into a file): its own 7 days; never the newest daily, never protecting one', [b('pitr', 1), b('pitr', 8), b('pitr', 9), b('daily', 8), b('daily', 10)], ['family_brain_daily_10d', 'family_brain_pitr_8d', 'family_brain_pitr_9d']],
    ['only one left: the last backup of a type is never removed', [b('daily', 90)], []],
    ['all expired: the newest verified one stays', [b('daily', 20), b('daily', 10), b('daily', 15)], ['family_brain_daily_15d', 'family_brain_daily_20d']],
    ['the newest verified stays even when a newer unverified one exists', [b('weekly', 40, null), b('weekly', 50, true), b('weekly', 60, true)], ['family_brain_weekly_40d', 'family_brain_weekly_60d']],
    ['types do not protect each other', [b('daily', 1), b('weekly', 60), b('weekly', 70)], ['family_brain_weekly_70d']],
    ['nothing to decide', [], []],
  ])('%s', (_, backups, expected) => {
    expect(removed(backups)).toEqual(expected);
  });

  it('gives a reason for every decision', () => {
    const decisions = applyRetention([b('daily', 1), b('daily', 8), b('daily', 9, null)], DEFAULT_RETENTION, NOW);
    expect(decisions).toEqual([
      { filename: 'family_brain_daily_1d', type: 'daily', action: 'keep', reason: 'within daily retention (7 days)' },
      { filename: 'family_brain_daily_8d', type: 'daily', action: 'remove', reason: `older than daily retention (7 days): created ${daysAgo(8).toISOString()}` },
      { filename: 'family_brain_daily_9d', type: 'daily', action: 'remove', reason: `older than daily retention (7 days): created ${daysAgo(9).toISOString()}` },
    ]);
    expect(applyRetention([b('monthly', 500)], DEFAULT_RETENTION, NOW)).toEqual([
      { filename: 'family_brain_monthly_500d', type: 'monthly', action: 'keep', reason: 'older than 12 months, but the newest verified monthly backup is always kept' },
    ]);
  });

  it.each([
    [{ months: 12 }, '2026-11-24T12:00:00Z', '2025-11-24T12:00:00.000Z'],
    [{ months: 1 }, '2026-03-31T04:00:00Z', '2026-02-28T04:00:00.000Z'],
    [{ months: 1 }, '2024-03-31T04:00:00Z', '2024-02-29T04:00:00.000Z'],
    [{ days: 7 }, '2026-11-08T12:00:00Z', '2026-11-01T12:00:00.000Z'],
  ])('cutoff of %j at %s is %s', (period, now, expected) => {
    expect(cutoff(period, new Date(now)).toISOString()).toBe(expected);
  });
});
