// Step 6 of a restore: putting the previous database back when anything after the change failed.
// A cancellation must not stop a rollback: it is what puts the previous database back.
import { ApplicationFailure, CancellationScope, isCancellation } from '@temporalio/workflow';
import type { TableCheck } from '../../activities/restore/databases';
import { ErrorType } from '../../errors';
import { errorInfo } from '../pipeline';
import type { PreRestoreBackup } from './confirm';
import { failure, type Restore, type RestoreError, type RestoreResult } from './state';

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
  run.state.rollback = { strategy: created ? 'renamed_away' : 'swap_back', verification, failed_database: verification.swapped_back ? names.failed : null };
  run.state.aside_database = null;
  if (!verification.ok) throw rollbackFailed(cause, verification);
  return run.finish('rolled_back', { error: cancelledOr(cause, 'cancelled during the swap or the check after it; the previous database was put back') });
}

/** After a failed or cancelled check of an in-place restore: the pre-restore backup is restored in place and checked. */
export async function rollBackInPlace({ run, acts }: Restore, pre: PreRestoreBackup, cause: unknown): Promise<RestoreResult> {
  run.state.phase = 'rolling_back';
  const { rollingBack } = acts;
  const verification = await CancellationScope.nonCancellable(async () => {
    // A pre-restore backup that could only be checksum-checked is still the one to go back to.
    const prepared = await (pre.restore_verified ? rollingBack.prepareRestore(pre.filename, 'local') : rollingBack.prepareRestore(pre.filename, 'local', { allow_unverified: true }));
    await rollingBack.restoreInPlace(prepared, 'rollback');
    return rollingBack.verifyLiveDatabase(pre.table_details, prepared.extensions);
  });
  run.state.rollback = { strategy: 'pre_restore_backup', verification, failed_database: null };
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
