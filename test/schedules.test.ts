// The schedules `fbb schedules apply` creates, as pure definitions. Applying them to the Temporal
// server (created, updated, idempotent) is tested against the dev server in test/cli-schedules.test.ts.
import { describe, expect, it } from 'vitest';
import { parseBackupInput } from '../src/backup/input';
import { desiredSchedules, scheduleIdOf } from '../src/schedules/definitions';
import { scheduleProblems } from '../src/schedules/health';

const settings = { database: 'family_brain', taskQueue: 'family-brain-backup', timezone: 'America/Toronto', uploadToS3: true, format: 'custom' as const };

describe('schedules', () => {
  it('mirror the guide: daily 02:00, Sunday 03:00, the 1st at 04:00, in America/Toronto, cleanup on, in the BACKUP_FORMAT format', () => {
    const defs = desiredSchedules(settings);
    expect(defs.map((d) => [d.scheduleId, d.cron, d.spec.timezone])).toEqual([
      ['schedule_daily_backup', '0 0 2 * * *', 'America/Toronto'],
      ['schedule_weekly_backup', '0 0 3 * * 7', 'America/Toronto'],
      ['schedule_monthly_backup', '0 0 4 1 * *', 'America/Toronto'],
    ]);
    expect(defs[1]!.spec.calendars[0]).toMatchObject({ second: 0, minute: 0, hour: 3, dayOfWeek: ['SUNDAY'] });
    expect(defs[2]!.spec.calendars[0]).toMatchObject({ second: 0, minute: 0, hour: 4, dayOfMonth: 1 });
    expect(defs[0]!.action).toEqual({
      type: 'startWorkflow',
      workflowType: 'backupDatabase',
      taskQueue: 'family-brain-backup',
      workflowId: 'backup-family_brain-daily',
      args: [{ backup_type: 'daily', upload_to_s3: true, cleanup_old: true, format: 'custom' }],
    });
    expect(defs.map((d) => d.action.args[0])).toEqual(
      (['daily', 'weekly', 'monthly'] as const).map((type) => ({ backup_type: type, upload_to_s3: true, cleanup_old: true, format: 'custom' })),
    );
    expect(defs.every((d) => d.policies.overlap === 'SKIP' && d.policies.catchupWindow === '1 day')).toBe(true);
  });

  it('pass backupDatabase an input it accepts as is (only dry_run is left to its default)', () => {
    for (const d of desiredSchedules(settings)) {
      expect(parseBackupInput(d.action.args[0])).toEqual({ ...d.action.args[0], dry_run: false });
    }
  });

  it.each([
    ['daily', 'schedule_daily_backup'],
    ['schedule_weekly_backup', 'schedule_weekly_backup'],
    ['monthly_backup', 'schedule_monthly_backup'],
    ['hourly', undefined],
  ])('takes %s for the schedule %s', (name, id) => {
    expect(scheduleIdOf(name)).toBe(id);
  });
});

describe('scheduleProblems', () => {
  const state = { id: 'schedule_daily_backup', applied: true, paused: false, note: null, missedCatchupWindow: 0 };

  it('reports a pause by the server after a failed run, and runs missed beyond the catch-up window', () => {
    const problems = scheduleProblems([
      { ...state, paused: true, note: 'paused due to workflow failure: backup-family_brain-daily-2026-12-01T07:00:00Z: dump failed' },
      { ...state, id: 'schedule_weekly_backup', missedCatchupWindow: 1 },
    ]);
    expect(problems.map((p) => [p.schedule_id, p.type])).toEqual([
      ['schedule_daily_backup', 'SchedulePaused'],
      ['schedule_weekly_backup', 'ScheduleMissedRuns'],
    ]);
    expect(problems[1]!.message).toMatch(/^schedule schedule_weekly_backup missed 1 run: /);
  });

  it('reports nothing for an active schedule, a pause by a person (any note), or a schedule not applied', () => {
    expect(
      scheduleProblems([
        state,
        { ...state, paused: true, note: 'paused with fbb schedules pause' },
        { ...state, paused: true, note: 'disk replacement' },
        { ...state, applied: false, missedCatchupWindow: 3 },
      ]),
    ).toEqual([]);
  });
});
