// The backup pipeline shared by backupDatabase and restoreDatabase (its pre-restore backup):
// dump -> verify -> upload -> prune -> record, each an activity with its own policy.
import { ApplicationFailure, CancellationScope, log, workflowInfo } from '@temporalio/workflow';
import type { AsideDecision, PruneDecision } from '../activities/backup/prune';
import type { BackupManifest } from '../backup/manifest';
import type { BackupFormat, BackupType } from '../backup/naming';
import { MAX_WORKER_MOVES, quick, workerLost, workerLostFailure, type LongActivities } from './proxies';

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

/** Hears each step as it starts, and once dumped the file's size and the worker holding it (its own queue). */
export type OnStep = (step: BackupStep, detail?: { size_bytes: number; worker_queue?: string }) => void;

/**
 * Runs the pipeline with `acts`; the caller holds the database's lock. The dump runs on any worker;
 * the steps after it, which read the file, on the worker that made it (its own task queue). If that
 * worker is lost, the pipeline starts again on another worker (the file is used as it is when that
 * worker sees it, in a shared BACKUP_DIR; else dumped again under the same name), at most
 * MAX_WORKER_MOVES times, then WorkerLost. One run records one backup.
 */
export async function runBackup(plan: BackupPlan, acts: LongActivities, onStep: OnStep): Promise<BackupResult> {
  const { workflowId } = workflowInfo();
  const { filename } = plan;
  try {
    for (let moves = 0; ; moves++) {
      const at: { workerQueue?: string } = {};
      try {
        return await backupOnce(plan, acts, onStep, moves > 0, at);
      } catch (err) {
        if (at.workerQueue === undefined || !workerLost(err)) throw err;
        if (moves >= MAX_WORKER_MOVES) throw workerLostFailure(`backup ${filename} did not finish`, at.workerQueue, err);
        log.warn('the worker holding the backup file was lost; starting the backup again on another worker', { filename, workerQueue: at.workerQueue, move: moves + 1 });
      }
    }
  } catch (err) {
    await CancellationScope.nonCancellable(() =>
      quick.recordBackup({ level: 'error', message: `backup ${filename} failed`, details: { filename, error: errorInfo(err).message, error_type: errorInfo(err).type, workflow_id: workflowId } }),
    ).catch(() => undefined);
    throw err;
  }
}

/** One pass of the pipeline; `at.workerQueue` names the worker holding the file once dumped. `again`: a pass after a lost worker. */
async function backupOnce(plan: BackupPlan, acts: LongActivities, onStep: OnStep, again: boolean, at: { workerQueue?: string }): Promise<BackupResult> {
  const step = onStep;
  const { workflowId } = workflowInfo();
  const { filename } = plan;
  step('dumping');
  // After a lost worker: the finished file, if the worker this lands on sees it (a shared BACKUP_DIR).
  const found = again ? await quick.locateBackup({ filename, workflowId }) : null;
  const dumped = found ?? (await acts.dumping.dumpDatabase({ filename, type: plan.type, format: plan.format, workflowId }));
  at.workerQueue = dumped.worker_queue;
  const { verifying, uploading, housekeeping } = acts.onWorker(dumped.worker_queue);
  step('verifying', { size_bytes: dumped.size_bytes, ...(dumped.worker_queue ? { worker_queue: dumped.worker_queue } : {}) });
  let verified: BackupManifest;
  let uploaded: BackupResult['uploaded'] = null;
  if (dumped.status === 'verified' && dumped.verification?.ok) {
    // Verified in the same pass as the dump (BACKUP_VERIFY=during_dump): the upload puts the "verified" manifest beside the object at once.
    verified = dumped;
    if (plan.upload) {
      step('uploading');
      const final = await uploading.uploadBackup(filename);
      uploaded = { bucket: final.bucket, key: final.key };
    }
  } else if (plan.upload) {
    // Verifying is CPU-bound on the database server, uploading waits on the network: they overlap.
    // Until verification passes, the manifest beside the object says "dumped"; if it fails, the
    // object and its manifest are deleted before the failure is reported.
    const [v, u] = await Promise.allSettled([verifying.verifyBackup(filename), uploading.uploadBackup(filename)]);
    if (v.status === 'rejected') {
      if (u.status === 'fulfilled') await acts.housekeeping.retractUpload(filename);
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
}
