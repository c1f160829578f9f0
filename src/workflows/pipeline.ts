// The backup pipeline shared by backupDatabase and restoreDatabase (its pre-restore backup):
// dump -> verify -> upload -> prune -> record, each an activity with its own policy.
import { ApplicationFailure, CancellationScope, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { AsideDecision, PruneDecision } from '../activities/backup/prune';
import type { BackupManifest } from '../backup/manifest';
import type { BackupFormat, BackupType } from '../backup/naming';
import type { BackupProgress, BackupResult, BackupStep } from './backupDatabase';

export const quick = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 3, initialInterval: '2 seconds', backoffCoefficient: 2 },
});
export const housekeeping = proxyActivities<Activities>({
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

/** The innermost failure's type and message: what went wrong, not "Activity task failed". */
export function errorInfo(err: unknown): { type: string; message: string } {
  let e: unknown = err;
  while (e instanceof Error && !(e instanceof ApplicationFailure) && e.cause) e = e.cause;
  if (e instanceof ApplicationFailure) return { type: e.type ?? 'Error', message: e.message };
  return { type: (e as Error).name ?? 'Error', message: (e as Error).message ?? String(e) };
}

export const MB = 1024 * 1024;
export const round2 = (n: number) => Math.round(n * 100) / 100;
export const summary = (d: PruneDecision) => ({ filename: d.filename, location: d.location, reason: d.reason });
export const asideSummary = (d: AsideDecision) => ({ filename: d.database, location: 'database' as const, reason: d.reason });

/** What to back up and what to do after. */
export interface BackupPlan {
  filename: string;
  type: BackupType;
  format: BackupFormat;
  upload: boolean;
  cleanup: boolean;
  started: number;
}

/** Runs the pipeline; the caller holds the database's lock. */
export async function runBackup(plan: BackupPlan, progress: BackupProgress, step: (s: BackupStep) => void): Promise<BackupResult> {
  const { workflowId } = workflowInfo();
  const { filename } = plan;
  try {
    step('dumping');
    const dumped = await dumping.dumpDatabase({ filename, type: plan.type, format: plan.format, workflowId });
    progress.size_bytes = dumped.size_bytes;

    step('verifying');
    let verified: BackupManifest;
    let uploaded: BackupResult['uploaded'] = null;
    if (plan.upload) {
      // Verifying is CPU-bound on the database server, uploading waits on the network: they overlap.
      // Until verification passes, the manifest beside the object says "dumped"; if it fails, the
      // object and its manifest are deleted before the failure is reported.
      const [v, u] = await Promise.allSettled([verifying.verifyBackup(filename), uploading.uploadBackup(filename)]);
      if (v.status === 'rejected') {
        if (u.status === 'fulfilled') await housekeeping.retractUpload(filename);
        throw v.reason;
      }
      verified = v.value;
      step('uploading');
      if (u.status === 'rejected') throw u.reason;
      // The object is there and matches; this puts the "verified" manifest beside it.
      const final = await uploading.uploadBackup(filename);
      uploaded = { bucket: final.bucket, key: final.key };
    } else {
      verified = await verifying.verifyBackup(filename);
    }

    let pruned: BackupResult['pruned'] = [];
    if (plan.cleanup) {
      step('pruning');
      pruned = [
        ...(await housekeeping.pruneBackups({ dryRun: false })).filter((d) => d.removed).map(summary),
        ...(await housekeeping.pruneAsideDatabases({ dryRun: false })).filter((d) => d.removed).map(asideSummary),
      ];
    }

    const v = verified.verification!;
    const result: BackupResult = {
      status: 'success',
      dry_run: false,
      filename,
      backup_type: plan.type,
      size_mb: round2(verified.size_bytes / MB),
      tables_backed_up: verified.tables_backed_up,
      total_rows: verified.total_rows,
      table_details: verified.table_details,
      sha256: verified.sha256,
      verified: { ok: v.ok, tables_checked: v.tables_checked, verified_at: v.verified_at, duration_ms: v.duration_ms },
      uploaded,
      pruned,
      duration_ms: Date.now() - plan.started,
    };
    step('recording');
    const { table_details: _omitted, ...details } = result;
    await quick.recordBackup({ level: 'info', message: `backup ${filename} verified and stored`, details: { ...details, workflow_id: workflowId } });
    step('done');
    return result;
  } catch (err) {
    await CancellationScope.nonCancellable(() =>
      quick.recordBackup({ level: 'error', message: `backup ${filename} failed`, details: { filename, error: errorInfo(err).message, error_type: errorInfo(err).type, workflow_id: workflowId } }),
    ).catch(() => undefined);
    throw err;
  }
}
