import { workflowInfo } from '@temporalio/workflow';
import type { RecoveryResult } from '../activities/basebackup/recover';
import { longActivities, quick } from './proxies';

/** Input of restoreToTime: `{"to_time": "2026-12-05T23:10:00Z" | "latest", "target_dir": "/srv/pg-restored"}`. */
export interface RestoreToTimeInput {
  to_time: string;
  target_dir: string;
}

/** The disaster path: check (moment, window, empty directory, age key: refusals change nothing) → base backup + WAL → recovered, promoted, stopped data directory. */
export async function restoreToTime(input: RestoreToTimeInput): Promise<RecoveryResult> {
  const settings = await quick.backupSettings();
  const acts = longActivities(settings.activity_tuning);
  const plan = await acts.validating.planPointInTime({ to_time: input.to_time, target_dir: input.target_dir });
  return acts.restoring.recoverToDirectory({ plan, workflowId: workflowInfo().workflowId });
}
