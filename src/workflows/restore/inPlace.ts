// Step 4 of a restore on a server where we may not create databases: replay the backup into the
// live database in one transaction, check it (step 5), and roll back from the pre-restore backup (step 6).
import { ApplicationFailure, isCancellation } from '@temporalio/workflow';
import { ErrorType } from '../../errors';
import { errorInfo } from '../pipeline';
import type { PreRestoreBackup } from './confirm';
import { rollBackInPlace } from './rollback';
import { failure, type Restore, type RestoreResult } from './state';

/** Restores in place and verifies; without a pre-restore backup to roll back to it refuses, changing nothing. */
export async function restoreInPlace(restore: Restore, pre: PreRestoreBackup | null, expected: Record<string, number> | null): Promise<RestoreResult> {
  const { run, acts, prepared, names } = restore;
  run.state.strategy = 'in_place';
  if (prepared.target_exists === false) {
    return run.finish('failed', {
      error: failure(
        ErrorType.CannotCreateDatabase,
        `database "${names.live}" does not exist on this server and the restore may not create it (no right to create databases); create it (CREATE DATABASE "${names.live}") or grant CREATEDB, and restore again; nothing was changed`,
      ),
    });
  }
  if (pre === null) {
    return run.finish('failed', {
      error: failure(
        ErrorType.CannotCreateDatabase,
        `${names.live} cannot be restored beside itself (no right to create databases) and an in-place restore needs a pre-restore backup to roll back to; run again with create_pre_restore_backup true`,
      ),
    });
  }
  try {
    await acts.restoring.restoreInPlace(prepared, 'restore');
  } catch (err) {
    // One transaction: a failed or cancelled in-place restore left the live database as it was.
    if (isCancellation(err)) return run.finish('cancelled', { error: failure(ErrorType.RestoreCancelled, 'cancelled during the in-place restore, whose transaction was rolled back; the database was not changed') });
    return run.finish('failed', { error: errorInfo(err) });
  }
  try {
    run.state.phase = 'verifying';
    run.state.verification = await acts.switching.verifyLiveDatabase(expected, prepared.extensions);
    if (!run.state.verification.ok) throw ApplicationFailure.create({ type: ErrorType.RestoreVerificationFailed, message: 'the live database does not hold what the backup holds after the in-place restore' });
    return run.finish('success');
  } catch (err) {
    return rollBackInPlace(restore, pre, err);
  }
}
