// Step 0 of a restore to a moment (input to_time): the moment made into a backup file, which the
// restore then takes like any other. Every restore (database, tenant, table) starts with it from here.
import { CancellationScope, isCancellation, patched, workflowInfo } from '@temporalio/workflow';
import type { LocatedRestore } from '../../activities/affinity';
import type { BackupSettings } from '../../activities/backup';
import type { PointInTime } from '../../backup/manifest';
import { backupFilename } from '../../backup/naming';
import { ErrorType } from '../../errors';
import { errorInfo } from '../pipeline';
import type { ActivityGroups, LongActivities } from '../proxies';
import { failure, type RestoreResult, type RestoreRun } from './state';

/** The patch under which a restore with `to_time` first makes the moment into a file (runs from before it had no to_time). */
export const RESTORE_TO_MOMENT = 'restore-to-moment';

/** The patch under which, with source s3, the moment is planned and made on the worker that copied the backups down. */
export const MOMENT_ON_PULLING_WORKER = 'moment-on-pulling-worker';

/** The patch under which the steps that read a moment's file move on to any worker when the one that made it is lost. */
export const MOMENT_FILE_FOLLOWS = 'moment-file-follows';

/** The patch under which, with source s3, a moment whose maker is lost is made again, from S3, on another worker. */
export const MOMENT_REMADE_WHEN_LOST = 'moment-remade-when-lost';

/**
 * The activities for the steps that read the file a moment was made into: on the worker that made it
 * (its own queue), and, when that worker is lost (a restart, a deploy), on another: with source s3
 * the moment is made again there from S3 (the same moment under the same name: the file was on the
 * lost worker's host, which another worker's BACKUP_DIR may not be; the soak, seed 1717 per host:
 * BackupNotFound); otherwise on any worker (with a shared BACKUP_DIR every worker has the file; with
 * one per host, the next one says it lacks it, BackupNotFound, nothing changed).
 */
export function onMomentWorker(acts: LongActivities, made: Pick<MadeMoment, 'worker_queue' | 'remake'>): ActivityGroups {
  return patched(MOMENT_FILE_FOLLOWS) ? acts.following(made.worker_queue, made.remake ?? (() => Promise.resolve(undefined))) : acts.onWorker(made.worker_queue);
}

/**
 * The activities on the worker that validated `prepared`'s file; when that worker is lost, another
 * validates it again (`prepare`, without judging it again: the confirmation was given for what the
 * first judgement showed) and the steps go there with what it found. A moment made again
 * (onMomentWorker) is the same moment in another file of the same name, with its own checksum: the
 * soak (seed 2626, per host, pitr_restore × SIGKILL while the restore waited for confirmation) loaded it
 * against the first file's checksum, and the restore failed BackupCorrupted.
 */
export function followPrepared(acts: LongActivities, prepared: LocatedRestore, prepare: () => Promise<LocatedRestore>): ActivityGroups {
  return acts.following(prepared.worker_queue, async () => {
    const { about: _shown, ...again } = await prepare();
    Object.assign(prepared, again);
    return again.worker_queue;
  });
}

/** The file a moment was made into, the worker holding it, and where it came from. */
export interface MadeMoment {
  filename: string;
  worker_queue?: string;
  point_in_time: PointInTime;
  /** With source s3: makes the moment again on another worker; its own queue. Workflow code only, never in a result. */
  remake?: () => Promise<string | undefined>;
}

/**
 * Checks the moment (refusals change nothing: outside the window, malformed, wrong age key), then
 * recovers it in a scratch cluster on a worker and dumps the database out of it as
 * `<prefix>_pitr_<time>.sql.gz`; a file not verified while it was written is verified as any backup
 * is (when no scratch database can be made to verify it, it stays "dumped" and the restore says so).
 */
export async function makeMoment(settings: BackupSettings, acts: LongActivities, input: { to_time: string; backup_source: 'local' | 's3' }): Promise<MadeMoment> {
  patched(RESTORE_TO_MOMENT);
  const { workflowId } = workflowInfo();
  // With a BACKUP_DIR per host, what was copied down is on that worker's host: the moment is made there
  // (if that worker is lost, another copies S3 down and the steps go on there).
  const pulled = async (): Promise<ActivityGroups> => {
    const first = await acts.uploading.pullPhysicalBackupsFromS3({ to_time: input.to_time });
    return patched(MOMENT_ON_PULLING_WORKER) ? acts.following(first.worker_queue, async () => (await acts.uploading.pullPhysicalBackupsFromS3({ to_time: input.to_time })).worker_queue) : acts;
  };
  const on = input.backup_source === 's3' ? await pulled() : acts;
  const plan = await on.validating.planMomentRestore({ to_time: input.to_time, workflowId });
  const filename = backupFilename(settings.prefix, 'pitr', new Date(), settings.timezone, 'plain_gzip', settings.encrypted === true);
  const made = await on.restoring.materializeMoment({ plan, filename, workflowId });
  const remake =
    input.backup_source === 's3' && patched(MOMENT_REMADE_WHEN_LOST)
      ? async () => {
          const there = await pulled();
          const again = await there.restoring.materializeMoment({ plan: await there.validating.planMomentRestore({ to_time: input.to_time, workflowId }), filename, workflowId });
          if (again.status !== 'verified') await verifyMoment(onMomentWorker(acts, again), filename);
          return again.worker_queue;
        }
      : undefined;
  if (made.status !== 'verified') await verifyMoment(onMomentWorker(acts, { worker_queue: made.worker_queue, remake }), filename);
  return { filename, ...(made.worker_queue ? { worker_queue: made.worker_queue } : {}), point_in_time: made.point_in_time, ...(remake ? { remake } : {}) };
}

/** Verifies a moment's file not verified while it was written, as any backup is (when no scratch database can be made to verify it, it stays "dumped" and the restore says so). */
async function verifyMoment(on: ActivityGroups, filename: string): Promise<void> {
  await on.verifying.verifyBackup(filename).catch((err: unknown) => {
    if (errorInfo(err).type !== ErrorType.ScratchDatabaseUnavailable) throw err;
  });
}

/** What a result says of a moment once it is made: to_time, recovered_to, base_backup, and the file restored from. */
export function momentFields(made: MadeMoment): { restored_from: string; backup_source: 'local'; to_time: string; recovered_to: string | null; base_backup: string } {
  return { restored_from: made.filename, backup_source: 'local', ...made.point_in_time };
}

/** makeMoment for restoreDatabase, in phase recovering: a cancelRestore stops it (the moment's scratch cluster is removed), and the run ends cancelled. */
export async function recoverMoment(run: RestoreRun, settings: BackupSettings, acts: LongActivities, input: { to_time: string; backup_source: 'local' | 's3' }): Promise<{ made: MadeMoment } | { end: RestoreResult }> {
  run.state.phase = 'recovering';
  const scope = new CancellationScope();
  run.stopBeside = () => scope.cancel();
  const cancelled = () => run.finish('cancelled', { error: failure(ErrorType.RestoreCancelled, `cancelled by ${run.cancelled?.cancelled_by ?? 'unknown'} while moment ${input.to_time} was being recovered; its scratch cluster was removed; the database was not changed`) });
  try {
    const made = await scope.run(() => makeMoment(settings, acts, input));
    Object.assign(run.state, momentFields(made));
    // A cancel that came as the file was finished (the activity no longer listening): the file stays, as any backup does.
    if (run.cancelled !== null) return { end: cancelled() };
    return { made };
  } catch (err) {
    if (!isCancellation(err)) throw err;
    return { end: cancelled() };
  } finally {
    run.stopBeside = null;
  }
}
