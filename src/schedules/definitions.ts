// The three Temporal Schedules that replace the Windmill crons. Pure: the CLI applies them.
import type { CalendarSpec } from '@temporalio/client';
import type { BackupInput, UserBackupType } from '../backup/input';
import type { BackupFormat } from '../backup/naming';
import type { Config } from '../config';
import { windmillCronToCalendar } from './cron';

/** What each scheduled run passes to backupDatabase (dry_run is left to its default, false). */
export type ScheduledBackupInput = Pick<BackupInput, 'backup_type' | 'upload_to_s3' | 'format'> & { cleanup_old: true };

/** One schedule: Temporal's options, as `fbb schedules apply` creates or updates them. */
export interface ScheduleDefinition {
  scheduleId: string;
  backupType: UserBackupType;
  cron: string;
  spec: { calendars: CalendarSpec[]; timezone: string };
  action: { type: 'startWorkflow'; workflowType: 'backupDatabase'; taskQueue: string; workflowId: string; args: [ScheduledBackupInput] };
  /**
   * SKIP: a backup never starts while the previous one still runs (or still waits for a worker),
   * so runs missed while the worker was down start once when it is back, not one per miss.
   * A catch-up window of one day lets a run missed while the server was down happen late rather than never.
   */
  policies: { overlap: 'SKIP'; catchupWindow: '1 day' };
}

/** The guide's schedules: daily 02:00, Sunday 03:00, the 1st at 04:00. */
export const DEFAULT_CRONS: Record<'daily' | 'weekly' | 'monthly', string> = {
  daily: '0 0 2 * * *',
  weekly: '0 0 3 * * 7',
  monthly: '0 0 4 1 * *',
};

/** The schedules for these settings; IDs follow the guide's names (schedule_daily_backup, ...). */
export function desiredSchedules(settings: {
  database: string;
  taskQueue: string;
  timezone: string;
  uploadToS3: boolean;
  /** BACKUP_FORMAT: the format of every scheduled backup. */
  format: BackupFormat;
  crons?: Partial<typeof DEFAULT_CRONS>;
}): ScheduleDefinition[] {
  return (['daily', 'weekly', 'monthly'] as const).map((type) => {
    const cron = settings.crons?.[type] ?? DEFAULT_CRONS[type];
    return {
      scheduleId: `schedule_${type}_backup`,
      backupType: type,
      cron,
      spec: { calendars: [windmillCronToCalendar(cron, `${type} backup (Windmill cron "${cron}")`)], timezone: settings.timezone },
      action: {
        type: 'startWorkflow',
        workflowType: 'backupDatabase',
        taskQueue: settings.taskQueue,
        // Temporal appends the scheduled time to this ID.
        workflowId: `backup-${settings.database}-${type}`,
        args: [{ backup_type: type, upload_to_s3: settings.uploadToS3, cleanup_old: true, format: settings.format }],
      },
      policies: { overlap: 'SKIP', catchupWindow: '1 day' },
    };
  });
}

/** "daily" or "schedule_daily_backup" -> "schedule_daily_backup"; undefined for anything else. */
export function scheduleIdOf(name: string): string | undefined {
  const m = /^(?:schedule_)?(daily|weekly|monthly)(?:_backup)?$/.exec(name);
  return m ? `schedule_${m[1]}_backup` : undefined;
}

/** The three schedules these settings ask for. */
export function schedulesFor(config: Config): ScheduleDefinition[] {
  return desiredSchedules({
    database: config.database.database,
    taskQueue: config.temporal.taskQueue,
    timezone: config.schedules.timezone,
    uploadToS3: config.s3 !== undefined,
    format: config.backup.format,
    crons: config.schedules,
  });
}
