import { ApplicationFailure, defineQuery, setHandler } from '@temporalio/workflow';
import { parseBackupInput, type BackupInput } from '../backup/input';
import { backupFilename } from '../backup/naming';
import { ErrorType } from '../errors';
import { withDatabaseLock } from './lock';
import { withNotification, type NotifyContext } from './notify';
import { longActivities, quick } from './proxies';
import { asideSummary, runBackup, round2, summary, MB, type BackupProgress, type BackupResult, type BackupStep } from './pipeline';

export type { BackupProgress, BackupResult, BackupStep } from './pipeline';

export const progressQuery = defineQuery<BackupProgress>('progress');

/** Dump → verify → upload → prune, then record; a failure (or, with NOTIFY_ON=always, a success) is notified. Accepts the Windmill guide's JSON as is. */
export async function backupDatabase(rawInput?: BackupInput | Record<string, unknown>): Promise<BackupResult> {
  return withNotification('backup', (about) => backup(rawInput, about), (r) => (r.dry_run ? { outcome: 'none', status: 'dry_run' } : { outcome: 'success', status: 'verified', summary: `${r.size_mb} MB, ${r.tables_backed_up} tables, ${r.total_rows} rows${r.uploaded ? ', uploaded' : ''}` }));
}

async function backup(rawInput: BackupInput | Record<string, unknown> | undefined, about: NotifyContext): Promise<BackupResult> {
  const progress: BackupProgress = { step: 'starting', filename: null, size_bytes: null, steps_done: [] };
  setHandler(progressQuery, () => progress);
  const step = (next: BackupStep, detail?: { size_bytes: number }) => {
    if (progress.step !== 'starting') progress.steps_done.push(progress.step);
    progress.step = next;
    if (detail) progress.size_bytes = detail.size_bytes;
  };

  const input = parseBackupInput(rawInput);
  const started = Date.now();
  const settings = await quick.backupSettings();
  const acts = longActivities(settings.activity_tuning);
  const { housekeeping } = acts;
  const filename = backupFilename(settings.prefix, input.backup_type, new Date(started), settings.timezone, input.format, settings.encrypted === true);
  progress.filename = filename;
  Object.assign(about, { backup_file: filename, policy: settings.notify ?? { enabled: false, on_success: false } });
  if (input.upload_to_s3 && settings.s3 === null) {
    throw ApplicationFailure.create({
      type: ErrorType.S3NotConfigured,
      nonRetryable: true,
      message: 'upload_to_s3 is true, but S3_BUCKET is not set on the worker; set S3_BUCKET (and S3_ENDPOINT for MinIO/R2) or run without upload_to_s3. Nothing was backed up.',
    });
  }

  if (input.dry_run) {
    step('planning');
    const plan = await housekeeping.planBackup();
    const wouldPrune = input.cleanup_old
      ? [
          ...(await housekeeping.pruneBackups({ dryRun: true })).filter((d) => d.action === 'remove').map(summary),
          ...(await housekeeping.pruneAsideDatabases({ dryRun: true })).filter((d) => d.action === 'remove').map(asideSummary),
        ]
      : [];
    step('done');
    return {
      status: 'dry_run',
      dry_run: true,
      filename,
      backup_type: input.backup_type,
      size_mb: 0,
      tables_backed_up: plan.tables_backed_up,
      total_rows: plan.total_rows,
      table_details: plan.table_details,
      sha256: null,
      verified: null,
      uploaded: null,
      pruned: [],
      would_prune: wouldPrune,
      estimated_size_mb: round2(plan.database_size_bytes / MB),
      duration_ms: Date.now() - started,
    };
  }

  return withDatabaseLock('backup', async () => {
    try {
      return await runBackup({ filename, type: input.backup_type, format: input.format, upload: input.upload_to_s3, cleanup: input.cleanup_old, started }, acts, step);
    } catch (err) {
      progress.step = 'failed';
      throw err;
    }
  }, settings);
}
