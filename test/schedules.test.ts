// No Temporal server runs here, so `applySchedules` is tested against a fake of the schedule
// gateway (the slice of Temporal's ScheduleClient it uses); the real client is only wired in src/client.
import { describe, expect, it } from 'vitest';
import { parseBackupInput } from '../src/backup/input';
import { applySchedules, type ScheduleGateway } from '../src/schedules/apply';
import { desiredSchedules, scheduleIdOf, type ScheduleDefinition } from '../src/schedules/definitions';

/** An in-memory stand-in for the schedules a Temporal namespace holds. */
class FakeGateway implements ScheduleGateway {
  readonly schedules = new Map<string, ScheduleDefinition>();
  calls: string[] = [];
  async ids() {
    return [...this.schedules.keys()];
  }
  async create(d: ScheduleDefinition) {
    if (this.schedules.has(d.scheduleId)) throw new Error(`schedule ${d.scheduleId} already exists`);
    this.calls.push(`create ${d.scheduleId}`);
    this.schedules.set(d.scheduleId, d);
  }
  async update(d: ScheduleDefinition) {
    if (!this.schedules.has(d.scheduleId)) throw new Error(`schedule ${d.scheduleId} does not exist`);
    this.calls.push(`update ${d.scheduleId}`);
    this.schedules.set(d.scheduleId, d);
  }
}

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

  it('apply run twice leaves exactly three schedules with the right specs', async () => {
    const gateway = new FakeGateway();
    const defs = desiredSchedules(settings);
    expect(await applySchedules(gateway, defs)).toEqual({ created: ['schedule_daily_backup', 'schedule_weekly_backup', 'schedule_monthly_backup'], updated: [] });
    const changed = desiredSchedules({ ...settings, crons: { daily: '0 30 1 * * *' } });
    expect(await applySchedules(gateway, changed)).toEqual({ created: [], updated: ['schedule_daily_backup', 'schedule_weekly_backup', 'schedule_monthly_backup'] });
    expect([...gateway.schedules.keys()]).toEqual(['schedule_daily_backup', 'schedule_weekly_backup', 'schedule_monthly_backup']);
    expect(gateway.schedules.get('schedule_daily_backup')!.spec.calendars[0]).toMatchObject({ minute: 30, hour: 1 });
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
