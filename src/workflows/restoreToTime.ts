import { patched, workflowInfo } from '@temporalio/workflow';
import type { RecoveryResult } from '../activities/basebackup/recover';
import { longActivities, quick, type ActivityGroups } from './proxies';
import { MOMENT_ON_PULLING_WORKER } from './restore/moment';

/** Input of restoreToTime: `{"to_time": "2026-12-05T23:10:00Z" | "latest", "target_dir": "/srv/pg-restored"}`. */
export interface RestoreToTimeInput {
  to_time: string;
  target_dir: string;
  /** "s3": first copy down from S3 into BACKUP_DIR (it went with the server) the base backup and WAL the moment needs; default "local". */
  source?: 'local' | 's3';
}

/** The disaster path: check (moment, window, empty directory, age key: refusals change nothing) → base backup + WAL → recovered, promoted, stopped data directory. */
export async function restoreToTime(input: RestoreToTimeInput): Promise<RecoveryResult> {
  const settings = await quick.backupSettings();
  const long = longActivities(settings.activity_tuning);
  let acts: ActivityGroups = long;
  if (input.source === 's3') {
    const pulled = await acts.uploading.pullPhysicalBackupsFromS3({ to_time: input.to_time });
    // With a BACKUP_DIR per host, what was copied down is on that worker's host: the rest runs there
    // (if that worker is lost, another copies S3 down and the steps go on there).
    if (patched(MOMENT_ON_PULLING_WORKER)) acts = long.following(pulled.worker_queue, async () => (await long.uploading.pullPhysicalBackupsFromS3({ to_time: input.to_time })).worker_queue);
  }
  const plan = await acts.validating.planPointInTime({ to_time: input.to_time, target_dir: input.target_dir });
  return acts.restoring.recoverToDirectory({ plan, workflowId: workflowInfo().workflowId });
}
