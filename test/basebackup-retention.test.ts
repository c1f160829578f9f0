// Base-backup and WAL retention as a pure function (src/basebackup/retention.ts), and the base-backup
// schedules as pure definitions. Carried out on a real server and archive: test/basebackup-prune.test.ts.
import { describe, expect, it } from 'vitest';
import type { BaseBackupManifest } from '../src/basebackup/manifest';
import { applyBaseRetention, applyFailedRetention, type RetentionWal } from '../src/basebackup/retention';
import { baseBackupSchedules, baseBackupsWanted, DEFAULT_BASEBACKUP_CRONS } from '../src/schedules/baseBackupSchedules';
import { DEFAULT_CRONS, DEFAULT_DRILL_CRON, scheduleIdOf, schedulesFor } from '../src/schedules/definitions';
import { nextFireTimes } from '../src/schedules/nextTimes';
import { formatLocal } from '../src/schedules/zone';
import { testConfig } from './helpers';

const NOW = new Date('2026-12-20T12:00:00Z');
const SEG = 16 * 1024 * 1024;
const daysAgo = (d: number) => new Date(NOW.getTime() - d * 86_400_000).toISOString();

/** A base backup that ended `age` days ago, its WAL starting in segment `seg`. */
function bb(name: string, age: number, seg: number, extra: Partial<BaseBackupManifest> & { verified?: boolean } = {}): BaseBackupManifest {
  const { verified, ...rest } = extra;
  return {
    filename: name, backup_type: 'full', parent: null, timeline: 1, start_lsn: `0/${(seg * SEG + 40).toString(16).toUpperCase()}`, end_lsn: `0/${(seg * SEG + 4096).toString(16).toUpperCase()}`,
    end_time: daysAgo(age), wal_segment_bytes: SEG, ...(verified ? { verification: { verified_at: daysAgo(age) } } : {}), ...rest,
  } as BaseBackupManifest;
}
const wal = (from: number, to: number): RetentionWal[] => Array.from({ length: to - from + 1 }, (_, i) => ({ stored: `00000001000000000000${(from + i).toString(16).toUpperCase().padStart(4, '0')}.gz`, kind: 'segment' as const, segno: BigInt(from + i) }));
const removed = (decisions: { action: string; filename: string }[]) => decisions.filter((d) => d.action === 'remove').map((d) => d.filename);

describe('applyBaseRetention', () => {
  it.each<[string, BaseBackupManifest[], string[]]>([
    ['keeps what ended within the window and the newest one before it', [bb('a', 30, 1), bb('b', 20, 10), bb('c', 10, 20), bb('d', 3, 30)], ['a']],
    ['keeps everything when all ended within the window', [bb('a', 13, 1), bb('b', 2, 10)], []],
    ['keeps the newest verified one however old, the newest before the window too', [bb('a', 40, 1, { verified: true }), bb('b', 30, 10), bb('c', 20, 20), bb('d', 3, 30)], ['b']],
    ['keeps the newest one when none is verified, even when all are old', [bb('a', 40, 1), bb('b', 30, 10)], ['a']],
    [
      'keeps the chain an old incremental needs, and removes a whole old chain',
      [bb('f1', 40, 1), bb('i1', 39, 2, { backup_type: 'incremental', parent: 'f1' }), bb('f2', 20, 10), bb('i2', 19, 11, { backup_type: 'incremental', parent: 'f2' }), bb('i3', 18, 12, { backup_type: 'incremental', parent: 'i2' }), bb('f3', 5, 20)],
      ['i1', 'f1'],
    ],
    ['nothing to decide', [], []],
  ])('%s', (_, backups, expected) => {
    expect(removed(applyBaseRetention({ backups, wal: [], days: 14, now: NOW }))).toEqual(expected);
  });

  it('removes the WAL before the start segment of the oldest kept backup (its chain included), never history files, and says why', () => {
    const backups = [bb('f1', 40, 2), bb('f2', 20, 6), bb('i2', 19, 8, { backup_type: 'incremental', parent: 'f2' }), bb('f3', 5, 12)];
    const history: RetentionWal = { stored: '00000002.history.gz', kind: 'history', segno: 0n };
    const decisions = applyBaseRetention({ backups, wal: [history, ...wal(1, 14)], days: 14, now: NOW });
    expect(removed(decisions)).toEqual(['f1', ...wal(1, 5).map((w) => w.stored)]);
    expect(decisions.find((d) => d.filename === 'f2')).toEqual({ filename: 'f2', type: 'full', action: 'keep', reason: 'i2 is incremental to it (its chain)' });
    expect(decisions.find((d) => d.filename === 'i2')?.reason).toBe('the newest base backup that ended before the recovery window (14 days) began: moments from 2026-12-06T12:00:00.000Z on are restored from it');
    expect(decisions.find((d) => d.filename === 'f1')?.reason).toBe(`ended ${daysAgo(40)}, before the recovery window (14 days), and no kept base backup needs it`);
    expect(decisions.filter((d) => d.type === 'wal')).toContainEqual({ filename: '000000010000000000000001.gz', type: 'wal', action: 'remove', reason: 'before segment 000000010000000000000006, where the oldest kept base backup (f2) starts' });
    expect(decisions.filter((d) => d.type === 'wal' && d.action === 'keep')).toEqual([
      { filename: '000000010000000000000006 and later', type: 'wal', action: 'keep', reason: '10 archived WAL files from segment 000000010000000000000006 on (and the timeline history files): needed by the kept base backups' },
    ]);
  });

  it('keeps all WAL when there is no base backup to need or not need it', () => {
    expect(applyBaseRetention({ backups: [], wal: wal(1, 3), days: 14, now: NOW })).toEqual([]);
  });
});

describe('base-backup schedules', () => {
  const settings = { database: 'family_brain', taskQueue: 'family-brain-backup', timezone: 'America/Toronto', fullCron: DEFAULT_BASEBACKUP_CRONS.full, incrementalCron: DEFAULT_BASEBACKUP_CRONS.incremental };

  it('take a full base backup on Sunday at 00:30 and an incremental one Monday to Saturday at 00:30, Toronto time, apart from every dump and the drill', () => {
    const defs = baseBackupSchedules(settings);
    expect(defs.map((d) => [d.scheduleId, d.cron, d.action.workflowType, d.action.workflowId, d.action.args[0]])).toEqual([
      ['schedule_basebackup_full', '0 30 0 * * 7', 'baseBackup', 'basebackup-family_brain-full', { incremental: false }],
      ['schedule_basebackup_incremental', '0 30 0 * * 1-6', 'baseBackup', 'basebackup-family_brain-incremental', { incremental: true }],
    ]);
    const from = new Date('2026-12-06T12:00:00Z');
    const local = (cron: ScheduleSpec) => nextFireTimes(cron, from, 7).map((t) => formatLocal(t, 'America/Toronto').replace(/ -05:00$/, ''));
    type ScheduleSpec = (typeof defs)[number]['spec'];
    expect(local(defs[0]!.spec)[0]).toBe('2026-12-13 00:30:00');
    expect(local(defs[1]!.spec)).toEqual(['2026-12-07 00:30:00', '2026-12-08 00:30:00', '2026-12-09 00:30:00', '2026-12-10 00:30:00', '2026-12-11 00:30:00', '2026-12-12 00:30:00', '2026-12-14 00:30:00']);
    const dumpTimes = [...Object.values(DEFAULT_CRONS), DEFAULT_DRILL_CRON].map((c) => c.split(' ').slice(1, 3).join(' '));
    expect(dumpTimes).not.toContain('30 0');
    expect(defs.every((d) => d.policies.overlap === 'SKIP' && d.policies.catchupWindow === '1 day')).toBe(true);
  });

  it('have no incremental schedule with BASEBACKUP_INCREMENTAL_CRON=off, and carry SCHEDULE_JITTER', () => {
    const defs = baseBackupSchedules({ ...settings, incrementalCron: undefined, jitterMs: 60_000 });
    expect(defs.map((d) => [d.scheduleId, d.spec.jitter])).toEqual([['schedule_basebackup_full', 60_000]]);
  });

  it.each([
    ['auto', false, false],
    ['auto', true, true],
    ['on', false, true],
    ['off', true, false],
  ] as const)('BASEBACKUP_SCHEDULE=%s with the WAL archive running %s: applied %s', (setting, running, wanted) => {
    expect(baseBackupsWanted(setting, running)).toBe(wanted);
    const config = { ...testConfig(), basebackup: { schedule: setting, fullCron: '0 30 0 * * 7', incrementalCron: '0 30 0 * * 1-6', retentionDays: 14 } };
    const ids = schedulesFor(config, { walArchiveRunning: running }).map((d) => d.scheduleId);
    expect(ids.filter((id) => id.startsWith('schedule_basebackup_'))).toEqual(wanted ? ['schedule_basebackup_full', 'schedule_basebackup_incremental'] : []);
    expect(ids.slice(0, 4)).toEqual(['schedule_daily_backup', 'schedule_weekly_backup', 'schedule_monthly_backup', 'schedule_restore_drill']);
  });

  it.each([
    ['basebackup_full', 'schedule_basebackup_full'],
    ['schedule_basebackup_incremental', 'schedule_basebackup_incremental'],
    ['basebackup', undefined],
  ])('takes %s for the schedule %s', (name, id) => {
    expect(scheduleIdOf(name)).toBe(id);
  });
});

describe('applyFailedRetention', () => {
  it('keeps base backups that failed verification for the window from when each was taken (the boundary included), then removes them', () => {
    const failed = [
      { filename: 'family_brain_base_20261130_003000.tar.gz', taken_at: daysAgo(20) },
      { filename: 'family_brain_base_20261206_120000.tar.gz', taken_at: daysAgo(14) },
      { filename: 'family_brain_base_20261219_003000.tar.gz', taken_at: daysAgo(1) },
    ];
    expect(applyFailedRetention({ failed, days: 14, now: NOW }).map((d) => [d.filename, d.type, d.action])).toEqual([
      ['failed/family_brain_base_20261219_003000.tar.gz', 'failed', 'keep'],
      ['failed/family_brain_base_20261206_120000.tar.gz', 'failed', 'keep'],
      ['failed/family_brain_base_20261130_003000.tar.gz', 'failed', 'remove'],
    ]);
    expect(applyFailedRetention({ failed: [], days: 14, now: NOW })).toEqual([]);
  });
});
