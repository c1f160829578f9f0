import { ApplicationFailure, CancellationScope, defineQuery, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { parseBackupInput, type BackupInput } from '../backup/input';
import type { BackupManifest } from '../backup/manifest';
import { backupFilename, type BackupType } from '../backup/naming';
import type { PruneDecision } from '../activities/backup/prune';

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
  pruned: { filename: string; location: 'local' | 's3'; reason: string }[];
  /** Dry run only: what a real run would remove. */
  would_prune?: { filename: string; location: 'local' | 's3'; reason: string }[];
  /** Dry run only: the database's size on disk, an upper bound for the dump before compression. */
  estimated_size_mb?: number;
  duration_ms: number;
}

export const progressQuery = defineQuery<BackupProgress>('progress');

const quick = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 3, initialInterval: '2 seconds', backoffCoefficient: 2 },
});
const housekeeping = proxyActivities<Activities>({
  startToCloseTimeout: '15 minutes',
  heartbeatTimeout: '2 minutes',
  retry: { maximumAttempts: 3, initialInterval: '10 seconds', backoffCoefficient: 2 },
});
const dumping = proxyActivities<Activities>({
  startToCloseTimeout: '6 hours',
  heartbeatTimeout: '1 minute',
  retry: { maximumAttempts: 3, initialInterval: '30 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes' },
});
const verifying = proxyActivities<Activities>({
  startToCloseTimeout: '6 hours',
  heartbeatTimeout: '1 minute',
  retry: { maximumAttempts: 2, initialInterval: '30 seconds' },
});
const uploading = proxyActivities<Activities>({
  startToCloseTimeout: '6 hours',
  heartbeatTimeout: '2 minutes',
  retry: { maximumAttempts: 5, initialInterval: '10 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes' },
});

const MB = 1024 * 1024;
const round2 = (n: number) => Math.round(n * 100) / 100;
const summary = (d: PruneDecision) => ({ filename: d.filename, location: d.location, reason: d.reason });

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
    const wouldPrune = input.cleanup_old ? (await housekeeping.pruneBackups({ dryRun: true })).filter((d) => d.action === 'remove').map(summary) : [];
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
    step('dumping');
    const dumped = await dumping.dumpDatabase({ filename, type: input.backup_type, format: input.format, workflowId });
    progress.size_bytes = dumped.size_bytes;

    step('verifying');
    const verified: BackupManifest = await verifying.verifyBackup(filename);

    let uploaded: BackupResult['uploaded'] = null;
    if (input.upload_to_s3) {
      step('uploading');
      const u = await uploading.uploadBackup(filename);
      uploaded = { bucket: u.bucket, key: u.key };
    }

    let pruned: BackupResult['pruned'] = [];
    if (input.cleanup_old) {
      step('pruning');
      pruned = (await housekeeping.pruneBackups({ dryRun: false })).filter((d) => d.removed).map(summary);
    }

    const v = verified.verification!;
    const result: BackupResult = {
      status: 'success',
      dry_run: false,
      filename,
      backup_type: input.backup_type,
      size_mb: round2(verified.size_bytes / MB),
      tables_backed_up: verified.tables_backed_up,
      total_rows: verified.total_rows,
      table_details: verified.table_details,
      sha256: verified.sha256,
      verified: { ok: v.ok, tables_checked: v.tables_checked, verified_at: v.verified_at, duration_ms: v.duration_ms },
      uploaded,
      pruned,
      duration_ms: Date.now() - started,
    };
    step('recording');
    const { table_details: _omitted, ...details } = result;
    await quick.recordBackup({ level: 'info', message: `backup ${filename} verified and stored`, details });
    step('done');
    return result;
  } catch (err) {
    progress.step = 'failed';
    await CancellationScope.nonCancellable(() =>
      quick.recordBackup({ level: 'error', message: `backup ${filename} failed`, details: { filename, error: String((err as Error).message ?? err), workflow_id: workflowId } }),
    ).catch(() => undefined);
    throw err;
  } finally {
    await CancellationScope.nonCancellable(() => quick.releaseBackupLock(workflowId));
  }
}
