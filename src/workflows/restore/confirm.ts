// Steps 2 and 3 of a restore: the pre-restore backup, then waiting for a person to confirm.
import { condition } from '@temporalio/workflow';
import type { Duration } from '@temporalio/common';
import type { BackupSettings } from '../../activities/backup';
import { durationMs } from '../../backup/duration';
import { backupFilename } from '../../backup/naming';
import type { RestoreInput } from '../../backup/restoreInput';
import { ErrorType } from '../../errors';
import { errorInfo, runBackup } from '../pipeline';
import type { LongActivities } from '../proxies';
import { failure, type RestoreResult, type RestoreRun } from './state';

/** The pre-restore backup a rollback in place goes back to: its file and the counts it holds. */
export interface PreRestoreBackup {
  filename: string;
  table_details: Record<string, number>;
  /** false: only its checksum was checked (no scratch database could be made to restore it into). */
  restore_verified: boolean;
}

/** Backs up the live database through the backup pipeline (type pre_restore, verified); its name is in `status` from the start. */
export async function preRestoreBackup(run: RestoreRun, settings: BackupSettings, acts: LongActivities): Promise<PreRestoreBackup> {
  run.state.phase = 'pre_backup';
  const filename = backupFilename(settings.prefix, 'pre_restore', new Date(), settings.timezone, 'plain_gzip', settings.encrypted === true);
  run.state.pre_restore_backup = filename;
  try {
    const pre = await runBackup({ filename, type: 'pre_restore', format: 'plain_gzip', upload: false, cleanup: false, started: Date.now() }, acts, () => undefined);
    return { filename: pre.filename, table_details: pre.table_details, restore_verified: true };
  } catch (err) {
    if (errorInfo(err).type !== ErrorType.ScratchDatabaseUnavailable) throw err;
    // The role may not create databases (managed PostgreSQL), so the pre-restore backup cannot be
    // restored into a scratch database to prove it. The restore still goes on, with the backup
    // written and its SHA-256 checked, and says so: refusing would make every restore impossible
    // on such servers, and the backup is needed only if the live check after an in-place restore
    // fails (the restore itself is one transaction: a failed one changes nothing). The user is told
    // the rollback would come from a file that was not restore-verified.
    const checked = await acts.validating.checkBackupFile(filename);
    run.state.notes = [
      ...(run.state.notes ?? []),
      `pre-restore backup ${filename} is not restore-verified (no CREATEDB: no scratch database to restore it into); it was written and its SHA-256 checked`,
    ];
    return { filename, table_details: checked.table_details, restore_verified: false };
  }
}

/**
 * Waits for confirmRestore until the input's deadline (not at all with confirm_restore true).
 * Returns the result to end with when the restore was cancelled or expired, else null: go on.
 */
export async function awaitConfirmation(run: RestoreRun, input: RestoreInput): Promise<RestoreResult | null> {
  if (input.confirm_restore) {
    run.state.confirmed_by = 'input: confirm_restore';
    return cancelledBeforeRestore(run);
  }
  run.state.phase = 'awaiting_confirmation';
  run.state.confirm_by = new Date(Date.now() + (durationMs(input.confirmation_timeout) ?? 0)).toISOString();
  const answered = await condition(() => run.confirmedBy !== null || run.cancelled !== null, input.confirmation_timeout as Duration);
  run.state.confirm_by = null;
  if (run.cancelled !== null) return run.finish('cancelled', { error: failure(ErrorType.RestoreCancelled, `${cancelledBy(run.cancelled)}; the database was not changed`) });
  if (!answered) return run.finish('expired', { error: failure(ErrorType.RestoreExpired, `no confirmRestore signal within ${input.confirmation_timeout}; the database was not changed`) });
  run.state.confirmed_by = run.confirmedBy;
  return cancelledBeforeRestore(run);
}

/** A cancelRestore that arrived with or after the confirmation still stops the restore before it begins. */
function cancelledBeforeRestore(run: RestoreRun): RestoreResult | null {
  if (run.cancelled === null) return null;
  return run.finish('cancelled', { error: failure(ErrorType.RestoreCancelled, `${cancelledBy(run.cancelled)} before the restore began; the database was not changed`) });
}

function cancelledBy(c: { cancelled_by?: string; reason?: string }): string {
  return `cancelled by ${c.cancelled_by ?? 'unknown'}${c.reason ? `: ${c.reason}` : ''}`;
}
