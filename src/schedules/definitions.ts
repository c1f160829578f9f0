// The three Temporal Schedules that replace the Windmill crons, and the weekly restore drill. Pure: the CLI applies them.
import type { CalendarSpec } from '@temporalio/client';
import type { BackupInput, UserBackupType } from '../backup/input';
import type { BackupFormat } from '../backup/naming';
import type { Config } from '../config';
import { baseBackupConfigOf, baseBackupSchedules, baseBackupsWanted, BASEBACKUP_SCHEDULE_IDS, type ScheduledBaseBackupInput } from './baseBackupSchedules';
import { windmillCronToCalendar } from './cron';

/** What each scheduled run passes to backupDatabase (dry_run is left to its default, false). */
export type ScheduledBackupInput = Pick<BackupInput, 'backup_type' | 'upload_to_s3' | 'format'> & { cleanup_old: true };

/** What each scheduled drill passes to restoreDrill: nothing, so it drills the S3 copy when S3 is configured. */
export type ScheduledDrillInput = Record<string, never>;

/** One schedule: Temporal's options, as `fbb schedules apply` creates or updates them. */
export interface ScheduleDefinition {
  scheduleId: string;
  /** The backup type a backup schedule makes; 'drill' for the restore drill. */
  backupType: UserBackupType | 'drill' | 'basebackup_full' | 'basebackup_incremental';
  cron: string;
  /** `jitter` (ms): the server starts each run up to this much after its time, at random (SCHEDULE_JITTER). */
  spec: { calendars: CalendarSpec[]; timezone: string; jitter?: number };
  action:
    | { type: 'startWorkflow'; workflowType: 'backupDatabase'; taskQueue: string; workflowId: string; args: [ScheduledBackupInput] }
    | { type: 'startWorkflow'; workflowType: 'restoreDrill'; taskQueue: string; workflowId: string; args: [ScheduledDrillInput] }
    | { type: 'startWorkflow'; workflowType: 'baseBackup'; taskQueue: string; workflowId: string; args: [ScheduledBaseBackupInput] };
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

/** SCHEDULE_JITTER's default: runs start up to 5 minutes late, so that many installations on the same crons do not reach S3 in the same second. */
export const DEFAULT_SCHEDULE_JITTER_MS = 5 * 60_000;

/** The spec's jitter field: none for 0. */
const jitterOf = (ms: number | undefined) => (ms ? { jitter: ms } : {});

/** Sunday 05:00, after the weekly backup (03:00) has had time to finish and upload. */
export const DEFAULT_DRILL_CRON = '0 0 5 * * 7';

/** The restore drill's schedule: restores the newest verified backup into a scratch database and checks it. */
export function drillSchedule(settings: { database: string; taskQueue: string; timezone: string; cron?: string; jitterMs?: number }): ScheduleDefinition {
  const cron = settings.cron ?? DEFAULT_DRILL_CRON;
  return {
    scheduleId: DRILL_SCHEDULE_ID,
    backupType: 'drill',
    cron,
    spec: { calendars: [windmillCronToCalendar(cron, `restore drill (DRILL_CRON "${cron}")`)], timezone: settings.timezone, ...jitterOf(settings.jitterMs) },
    // Temporal appends the scheduled time to this ID.
    action: { type: 'startWorkflow', workflowType: 'restoreDrill', taskQueue: settings.taskQueue, workflowId: `drill-${settings.database}`, args: [{}] },
    policies: { overlap: 'SKIP', catchupWindow: '1 day' },
  };
}

/** The drill schedule's ID. */
export const DRILL_SCHEDULE_ID = 'schedule_restore_drill';

/** The backup schedules for these settings; IDs follow the guide's names (schedule_daily_backup, ...). */
export function desiredSchedules(settings: {
  database: string;
  taskQueue: string;
  timezone: string;
  uploadToS3: boolean;
  /** BACKUP_FORMAT: the format of every scheduled backup. */
  format: BackupFormat;
  crons?: Partial<typeof DEFAULT_CRONS>;
  /** SCHEDULE_JITTER in ms; none when unset or 0. */
  jitterMs?: number;
}): ScheduleDefinition[] {
  return (['daily', 'weekly', 'monthly'] as const).map((type) => {
    const cron = settings.crons?.[type] ?? DEFAULT_CRONS[type];
    return {
      scheduleId: `schedule_${type}_backup`,
      backupType: type,
      cron,
      spec: { calendars: [windmillCronToCalendar(cron, `${type} backup (Windmill cron "${cron}")`)], timezone: settings.timezone, ...jitterOf(settings.jitterMs) },
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

/** "daily" or "schedule_daily_backup" -> "schedule_daily_backup", "drill" -> "schedule_restore_drill"; undefined for anything else. */
export function scheduleIdOf(name: string): string | undefined {
  if (/^(?:schedule_)?(?:restore_)?drill$/.test(name)) return DRILL_SCHEDULE_ID;
  const base = /^(?:schedule_)?basebackup_(full|incremental)$/.exec(name);
  if (base) return BASEBACKUP_SCHEDULE_IDS[base[1] as 'full' | 'incremental'];
  const m = /^(?:schedule_)?(daily|weekly|monthly)(?:_backup)?$/.exec(name);
  return m ? `schedule_${m[1]}_backup` : undefined;
}

/**
 * The schedules these settings ask for: three backups and the restore drill, then the base backups
 * when they are wanted (BASEBACKUP_SCHEDULE=on, or auto and `walArchiveRunning`).
 */
export function schedulesFor(config: Config, options: { walArchiveRunning?: boolean } = {}): ScheduleDefinition[] {
  const drill = drillSchedule({ database: config.database.database, taskQueue: config.temporal.taskQueue, timezone: config.schedules.timezone, cron: config.schedules.drill, jitterMs: jitterMsOf(config) });
  const base = baseBackupConfigOf(config);
  const physical = baseBackupsWanted(base.schedule, options.walArchiveRunning === true)
    ? baseBackupSchedules({ database: config.database.database, taskQueue: config.temporal.taskQueue, timezone: config.schedules.timezone, fullCron: base.fullCron, incrementalCron: base.incrementalCron, jitterMs: jitterMsOf(config) })
    : [];
  return [...backupSchedulesFor(config), drill, ...physical];
}

function backupSchedulesFor(config: Config): ScheduleDefinition[] {
  return desiredSchedules({
    database: config.database.database,
    taskQueue: config.temporal.taskQueue,
    timezone: config.schedules.timezone,
    uploadToS3: config.s3 !== undefined,
    format: config.backup.format,
    crons: { daily: config.schedules.daily, weekly: config.schedules.weekly, monthly: config.schedules.monthly },
    jitterMs: jitterMsOf(config),
  });
}

/** SCHEDULE_JITTER as configured, its default when the config predates it. */
const jitterMsOf = (config: Config) => config.schedules.jitterMs ?? DEFAULT_SCHEDULE_JITTER_MS;
