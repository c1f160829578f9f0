// The base-backup schedules (point-in-time recovery): a weekly full one and, where PostgreSQL allows
// it (17+ with summarize_wal=on; otherwise the run is taken full and its manifest says why), a
// daily incremental one. Pure: `fbb schedules apply` decides whether base backups are wanted.
import type { BaseBackupConfig, Config } from '../config';
import { DEFAULT_BASEBACKUP_RETENTION_DAYS } from '../basebackup/retention';
import { windmillCronToCalendar } from './cron';
import type { ScheduleDefinition } from './definitions';

/** What each scheduled run passes to baseBackup. */
export interface ScheduledBaseBackupInput {
  incremental: boolean;
}

/**
 * Sunday 00:30 full, Monday-Saturday 00:30 incremental: before the dumps (daily 02:00, Sunday 03:00,
 * the 1st 04:00) and the drill (Sunday 05:00), and outside the hour a DST change repeats or skips (02:00-03:00).
 */
export const DEFAULT_BASEBACKUP_CRONS = { full: '0 30 0 * * 7', incremental: '0 30 0 * * 1-6' } as const;

/** The schedule IDs. */
export const BASEBACKUP_SCHEDULE_IDS = { full: 'schedule_basebackup_full', incremental: 'schedule_basebackup_incremental' } as const;

/** The base-backup settings, their defaults when the config was built by hand. */
export function baseBackupConfigOf(config: Pick<Config, 'basebackup'>): BaseBackupConfig {
  return config.basebackup ?? { schedule: 'auto', fullCron: DEFAULT_BASEBACKUP_CRONS.full, incrementalCron: DEFAULT_BASEBACKUP_CRONS.incremental, retentionDays: DEFAULT_BASEBACKUP_RETENTION_DAYS };
}

/** Whether the base-backup schedules are applied: BASEBACKUP_SCHEDULE=on, or auto while the WAL archive runs (a base backup without it restores nothing). */
export function baseBackupsWanted(setting: BaseBackupConfig['schedule'], walArchiveRunning: boolean): boolean {
  return setting === 'on' || (setting === 'auto' && walArchiveRunning);
}

/** The weekly full schedule and, unless BASEBACKUP_INCREMENTAL_CRON=off, the incremental one. */
export function baseBackupSchedules(settings: { database: string; taskQueue: string; timezone: string; fullCron: string; incrementalCron: string | undefined; jitterMs?: number }): ScheduleDefinition[] {
  const kinds = [{ kind: 'full' as const, cron: settings.fullCron }, ...(settings.incrementalCron === undefined ? [] : [{ kind: 'incremental' as const, cron: settings.incrementalCron }])];
  return kinds.map(({ kind, cron }) => ({
    scheduleId: BASEBACKUP_SCHEDULE_IDS[kind],
    backupType: `basebackup_${kind}`,
    cron,
    spec: { calendars: [windmillCronToCalendar(cron, `${kind} base backup (BASEBACKUP_${kind.toUpperCase()}_CRON "${cron}")`)], timezone: settings.timezone, ...(settings.jitterMs ? { jitter: settings.jitterMs } : {}) },
    // Temporal appends the scheduled time to this ID.
    action: { type: 'startWorkflow', workflowType: 'baseBackup', taskQueue: settings.taskQueue, workflowId: `basebackup-${settings.database}-${kind}`, args: [{ incremental: kind === 'incremental' }] },
    policies: { overlap: 'SKIP', catchupWindow: '1 day' },
  }));
}
