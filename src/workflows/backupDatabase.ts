import { ApplicationFailure, CancellationScope, defineQuery, setHandler, workflowInfo } from '@temporalio/workflow';
import { parseBackupInput, type BackupInput } from '../backup/input';
import { backupFilename, type BackupType } from '../backup/naming';
import { asideSummary, housekeeping, quick, runBackup, round2, summary, MB } from './pipeline';

/** Steps a backup goes through, as the `progress` query reports them. */
export type BackupStep = 'starting' | 'planning' | 'dumping' | 'verifying' | 'uploading' | 'pruning' | 'recording' | 'done' | 'failed';

/** Answer of the `progress` query. Live byte counts of a running step are in its activity's heartbeat details. */
export interface BackupProgress {
  step: BackupStep;
  filename: string | null;
  /** Size of the backup file once dumped. */
  size_bytes: number | null;
  steps_done: BackupStep[];
}

/** The result: the Windmill script's shape (status, filename, size_mb, ...) plus what verification and upload proved. */
export interface BackupResult {
  status: 'success' | 'dry_run';
  dry_run: boolean;
  filename: string;
  backup_type: BackupType;
  size_mb: number;
  tables_backed_up: number;
  total_rows: number;
  table_details: Record<string, number>;
  sha256: string | null;
  verified: { ok: boolean; tables_checked: number; verified_at: string; duration_ms: number } | null;
  uploaded: { bucket: string; key: string } | null;
  /** Removed backups, and databases kept aside by restores (location "database"). */
  pruned: { filename: string; location: 'local' | 's3' | 'database'; reason: string }[];
  /** Dry run only: what a real run would remove. */
  would_prune?: { filename: string; location: 'local' | 's3' | 'database'; reason: string }[];
  /** Dry run only: the database's size on disk, an upper bound for the dump before compression. */
  estimated_size_mb?: number;
  duration_ms: number;
}

export const progressQuery = defineQuery<BackupProgress>('progress');

/** Dump → verify → upload → prune, then record. Accepts the Windmill guide's JSON as is. */
export async function backupDatabase(rawInput?: BackupInput | Record<string, unknown>): Promise<BackupResult> {
  const progress: BackupProgress = { step: 'starting', filename: null, size_bytes: null, steps_done: [] };
  setHandler(progressQuery, () => progress);
  const step = (next: BackupStep) => {
    if (progress.step !== 'starting') progress.steps_done.push(progress.step);
    progress.step = next;
  };

  const input = parseBackupInput(rawInput);
  const started = Date.now();
  const settings = await quick.backupSettings();
  const filename = backupFilename(settings.prefix, input.backup_type, new Date(started), settings.timezone, input.format);
  progress.filename = filename;
  if (input.upload_to_s3 && settings.s3 === null) {
    throw ApplicationFailure.create({
      type: 'S3NotConfigured',
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

  const { workflowId } = workflowInfo();
  await quick.acquireBackupLock({ workflow_id: workflowId, kind: 'backup' });
  try {
    return await runBackup({ filename, type: input.backup_type, format: input.format, upload: input.upload_to_s3, cleanup: input.cleanup_old, started }, progress, step);
  } catch (err) {
    progress.step = 'failed';
    throw err;
  } finally {
    await CancellationScope.nonCancellable(() => quick.releaseBackupLock(workflowId));
  }
}
