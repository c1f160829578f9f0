// Step 4 of a restore on a server where we may create databases: restore beside the live
// database, check the copy, swap it in, check the live database (step 5), roll back (step 6).
import { ApplicationFailure, CancellationScope, isCancellation, patched } from '@temporalio/workflow';
import type { TableCheck } from '../../activities/restore/databases';
import type { CreatedRole } from '../../backup/createdRoles';
import { ErrorType } from '../../errors';
import { errorInfo } from '../pipeline';
import { rollBackSwap } from './rollback';
import { failure, type Restore, type RestoreResult } from './state';

/** How the restore beside the live database went: a verified copy, no right to create one, or the result to end with. */
export type Beside = { copy: { check: TableCheck; roles_created: string[]; roles?: CreatedRole[] } } | { cannotCreate: true } | { end: RestoreResult };

/** Restores the backup into `names.incoming` and checks it against the manifest; the live database is not touched. */
export async function restoreBeside({ run, acts, prepared, names }: Restore): Promise<Beside> {
  run.state.phase = 'restoring';
  // A cancelRestore Update stops this step (the live database is not touched yet); no command changes with the scope.
  const scope = new CancellationScope();
  run.stopBeside = () => scope.cancel();
  try {
    const copy = await scope.run(() => acts.restoring.restoreIntoNewDatabase(prepared, names.incoming));
    run.state.strategy = prepared.target_exists === false ? 'create' : 'swap';
    run.state.roles_created = copy.roles_created;
    if (copy.roles) run.state.roles_created_detail = copy.roles;
    return { copy };
  } catch (err) {
    if (isCancellation(err)) {
      // The activity dropped its copy when it stopped; dropping it here too covers an activity that finished first.
      await CancellationScope.nonCancellable(() => acts.rollingBack.dropDatabase(names.incoming));
      return { end: run.finish('cancelled', { error: failure(ErrorType.RestoreCancelled, `cancelled while restoring beside the live database; the half-made copy ${names.incoming} was dropped; the database was not changed`) }) };
    }
    const error = errorInfo(err);
    if (error.type !== ErrorType.CannotCreateDatabase) return { end: run.finish('failed', { error }) };
    return { cannotCreate: true };
  } finally {
    run.stopBeside = null;
  }
}

/** The patch under which the check after a swap is the copy's identity rather than exact counts the application's writes change. */
export const VERIFY_LIVE_BY_IDENTITY = 'verify-live-by-identity';

/**
 * Renames the live database aside and the verified copy in (one transaction; with strategy
 * create, only the copy), then checks the live database holds `expected`; any failure or
 * cancellation from here on is rolled back.
 */
export async function swapIn(restore: Restore, expected: Record<string, number> | null): Promise<RestoreResult> {
  const { run, acts, prepared, names } = restore;
  const { switching } = acts;
  let asideCounts: Record<string, number> | null = null;
  try {
    run.state.phase = 'swapping';
    const aside = run.state.strategy === 'create' ? null : names.aside;
    const swapped = await switching.swapDatabases({ live: names.live, incoming: names.incoming, aside });
    asideCounts = swapped.aside_counts;
    run.state.aside_database = aside;
    run.state.phase = 'verifying';
    // The copy's rows were checked beside; the application writes as soon as it is live, so the live check is that it is that copy (runs from before check counts).
    const byIdentity = patched(VERIFY_LIVE_BY_IDENTITY) && typeof swapped.live_oid === 'number';
    run.state.verification = byIdentity ? await switching.verifyLiveDatabase(expected, prepared.extensions, { restored_oid: swapped.live_oid! }) : await switching.verifyLiveDatabase(expected, prepared.extensions);
    if (!run.state.verification.ok) throw ApplicationFailure.create({ type: ErrorType.RestoreVerificationFailed, message: 'the live database does not hold what the backup holds after the swap' });
    return run.finish('success');
  } catch (err) {
    // The renames happen in one transaction: either the swap happened and is undone, or it did not and the copy is dropped.
    return rollBackSwap(restore, asideCounts, err);
  }
}
