// Step 6 of a restore: putting the previous database back when anything after the change failed.
// A cancellation must not stop a rollback: it is what puts the previous database back.
import { ApplicationFailure, CancellationScope, isCancellation, patched } from '@temporalio/workflow';
import type { TableCheck } from '../../activities/restore/databases';
import { ErrorType } from '../../errors';
import { errorInfo } from '../pipeline';
import type { PreRestoreBackup } from './confirm';
import { failure, type Restore, type RestoreError, type RestoreResult } from './state';

/** The patch under which a rollback in place runs on the worker that holds the pre-restore backup. */
export const ROLLBACK_ON_FILE_WORKER = 'rollback-on-file-worker';

/**
 * After a failed or cancelled swap or check: the swapped-in copy is renamed to `failed` and the
 * database set aside renamed back (or, if the swap never happened, the copy is dropped); then the
 * live database is checked against the counts it had at the swap. A database the restore created
 * (strategy create) is renamed to `failed`: there was none before.
 */
export async function rollBackSwap({ run, acts, names }: Restore, asideCounts: Record<string, number> | null, cause: unknown): Promise<RestoreResult> {
  run.state.phase = 'rolling_back';
  const created = run.state.strategy === 'create';
  const verification = await CancellationScope.nonCancellable(() => acts.rollingBack.rollbackSwap(created ? { ...names, aside: null } : names, asideCounts));
  const returnedTo = verification.swapped_back
    ? created
      ? `no database: ${names.live} did not exist before the restore; the restored one was renamed ${names.failed}`
      : `the database as it was at the swap, set aside as ${names.aside} and renamed back; nothing written before the swap is lost`
    : `the database as it was: the swap never happened, and the restored copy ${names.incoming} was dropped`;
  run.state.rollback = { strategy: created ? 'renamed_away' : 'swap_back', verification, failed_database: verification.swapped_back ? names.failed : null, returned_to: returnedTo };
  run.state.aside_database = null;
  if (!verification.ok) throw rollbackFailed(cause, verification);
  if (!verification.swapped_back && isCancellation(cause)) {
    // Nothing was swapped: the live database was never changed, and the result says so.
    return run.finish('cancelled', { error: failure(ErrorType.RestoreCancelled, `cancelled before the swap took place; the restored copy ${names.incoming} was dropped; the database was not changed`) });
  }
  return run.finish('rolled_back', { error: cancelledOr(cause, 'cancelled during the swap or the check after it; the previous database was put back') });
}

/**
 * After a failed or cancelled check of an in-place restore: the pre-restore backup is restored in
 * place and checked, on the worker whose BACKUP_DIR holds it (another worker with the file, if
 * that one is lost).
 */
export async function rollBackInPlace({ run, acts }: Restore, pre: PreRestoreBackup, cause: unknown): Promise<RestoreResult> {
  run.state.phase = 'rolling_back';
  const { rollingBack } = acts;
  const options = pre.restore_verified ? {} : { allow_unverified: true };
  const verification = await CancellationScope.nonCancellable(async () => {
    // A pre-restore backup that could only be checksum-checked is still the one to go back to.
    const prepareAnywhere = () => (pre.restore_verified ? rollingBack.prepareRestore(pre.filename, 'local') : rollingBack.prepareRestore(pre.filename, 'local', options));
    // Histories from before this version sent these steps to any worker.
    if (!patched(ROLLBACK_ON_FILE_WORKER)) {
      const prepared = await prepareAnywhere();
      await rollingBack.restoreInPlace(prepared, 'rollback');
      return rollingBack.verifyLiveDatabase(pre.table_details, prepared.extensions);
    }
    const onFile = acts.following(pre.worker_queue, async () => (await prepareAnywhere()).worker_queue).rollingBack;
    const prepared = await onFile.prepareRestore(pre.filename, 'local', options);
    await acts.following(prepared.worker_queue, async () => (await prepareAnywhere()).worker_queue).rollingBack.restoreInPlace(prepared, 'rollback');
    return rollingBack.verifyLiveDatabase(pre.table_details, prepared.extensions);
  });
  const when = pre.taken_at ? `, dumped from ${pre.taken_at}` : '';
  run.state.rollback = {
    strategy: 'pre_restore_backup',
    verification,
    failed_database: null,
    returned_to: `the pre-restore backup ${pre.filename}${when}: the database as it was when that dump began; anything written after it (during the restore) is not in it`,
  };
  if (!verification.ok) throw rollbackFailed(cause, verification);
  return run.finish('rolled_back', { error: cancelledOr(cause, 'cancelled during the check after the in-place restore; the pre-restore backup was put back') });
}

/** The error a rollback reports: RestoreCancelled with `message` for a cancellation, else what failed. */
function cancelledOr(err: unknown, message: string): RestoreError {
  return isCancellation(err) ? failure(ErrorType.RestoreCancelled, message) : errorInfo(err);
}

/** The workflow fails (nothing left to try) when the rollback did not verify either. */
function rollbackFailed(original: unknown, verification: TableCheck): ApplicationFailure {
  return ApplicationFailure.create({
    type: ErrorType.RollbackFailed,
    nonRetryable: true,
    message: `the restore failed (${errorInfo(original).message}) and the rollback did not verify; check the database by hand: fbb list shows the pre-restore backup and the databases kept aside`,
    details: [verification],
  });
}
