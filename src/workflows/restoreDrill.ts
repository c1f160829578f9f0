// A restore drill: does the newest verified backup (the S3 copy when S3 is configured) still
// restore to what was verified? A failed drill is notified, like a failed backup.
import { ApplicationFailure, CancellationScope, patched, workflowInfo } from '@temporalio/workflow';
import type { DrillReport, DrillSource } from '../activities/drill';

export type { DrillSource } from '../activities/drill';
import { parseDrillInput } from '../backup/workflowInputs';
import { ErrorType } from '../errors';
import { withNotification } from './notify';
import { errorInfo } from './pipeline';
import { catalog, longActivities, quick } from './proxies';

/** The patch under which a local drill runs on the worker that picked its file. */
export const DRILL_ON_FILE_WORKER = 'drill-on-file-worker';

/** The patch under which a drill whose file's worker is lost moves to another worker instead of failing (found by the soak, seed 5 cycle 45). */
export const DRILL_FOLLOWS_FILE_WORKER = 'drill-follows-file-worker';

/** Which copy to drill; without `source`, S3 when the worker has S3, else the local one. */
export interface DrillInput {
  source?: DrillSource;
}

/** A passed drill: what was restored and checked. */
export type DrillResult = DrillReport & { status: 'passed' };

/**
 * pick the newest verified backup → fetch, restore into a scratch database, check every table's
 * count and sample hash, drop the scratch database (one activity) → record in system_logs.
 * No database lock: the drill never touches the live database (it restores into its own scratch
 * database and reads the backup's copy), so backups and restores run beside it unhindered.
 */
export async function restoreDrill(rawInput?: DrillInput): Promise<DrillResult> {
  const input: DrillInput = parseDrillInput(rawInput);
  return withNotification(
    'drill',
    async (about) => {
      const settings = await quick.backupSettings();
      about.policy = settings.notify ?? { enabled: false, on_success: false };
      const source: DrillSource = input.source ?? (settings.s3 ? 's3' : 'local');
      if (source === 's3' && settings.s3 === null) {
        throw ApplicationFailure.create({
          type: ErrorType.S3NotConfigured,
          nonRetryable: true,
          message: 'a drill of the S3 copy was asked for, but S3_BUCKET is not set on the worker; set it, or drill the local copy with --source local. Nothing was restored.',
        });
      }
      const { workflowId } = workflowInfo();
      const pick = await catalog.pickDrillBackup(source);
      about.backup_file = pick.filename;
      try {
        // A local backup is drilled on the worker whose BACKUP_DIR holds it (its own queue), whichever worker picked it.
        const acts = longActivities(settings.activity_tuning);
        const onFileWorker = patched(DRILL_ON_FILE_WORKER);
        // A lost worker (killed, stopped) hands the drill to another worker with the file, as a restore's steps do.
        const follows = onFileWorker && patched(DRILL_FOLLOWS_FILE_WORKER);
        const verifying = follows
          ? acts.following(pick.worker_queue, async () => (await catalog.pickDrillBackup(source)).worker_queue).verifying
          : onFileWorker
            ? acts.onWorker(pick.worker_queue).verifying
            : acts.verifying;
        const report = await verifying.drillBackup({ filename: pick.filename, source });
        const result: DrillResult = { status: 'passed', ...report };
        await quick.recordBackup({ level: 'info', source: 'restore_drill', message: `restore drill of ${pick.filename} (${source}) passed`, details: { ...result, workflow_id: workflowId } });
        return result;
      } catch (err) {
        const { type, message } = errorInfo(err);
        await CancellationScope.nonCancellable(() =>
          quick.recordBackup({ level: 'error', source: 'restore_drill', message: `restore drill of ${pick.filename} (${source}) failed`, details: { filename: pick.filename, source, error: message, error_type: type, workflow_id: workflowId } }),
        ).catch(() => undefined);
        throw err;
      }
    },
    (r) => ({ outcome: 'success', status: 'passed', summary: `${r.tables_checked} tables and ${r.rows_checked} rows restored from ${r.location}, ${r.samples_checked} row samples matched` }),
  );
}
