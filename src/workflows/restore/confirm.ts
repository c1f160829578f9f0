// Steps 2 and 3 of a restore: waiting for a person to confirm, then the pre-restore backup.
import { condition } from '@temporalio/workflow';
import type { Duration } from '@temporalio/common';
import type { BackupSettings } from '../../activities/backup';
import { durationMs } from '../../backup/duration';
import type { RestoreInput } from '../../backup/restoreInput';
import { ErrorType } from '../../errors';
import type { LongActivities } from '../proxies';
import { takePreRestoreBackup, type PreRestoreBackup } from './preRestore';
import { failure, type RestoreResult, type RestoreRun } from './state';

export type { PreRestoreBackup } from './preRestore';

/** Takes the pre-restore backup for a run: its name is in `status` from the start, a note in its notes. */
export async function preRestoreBackup(run: RestoreRun, settings: BackupSettings, acts: LongActivities): Promise<PreRestoreBackup> {
  run.state.phase = 'pre_backup';
  const pre = await takePreRestoreBackup(settings, acts, {
    named: (filename) => (run.state.pre_restore_backup = filename),
    note: (text) => (run.state.notes = [...(run.state.notes ?? []), text]),
  });
  run.state.pre_restore_backup_at = pre.taken_at ?? null;
  return pre;
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

/** A cancelRestore that arrived with or after the confirmation (or during the pre-restore backup) still stops the restore before it begins. */
export function cancelledBeforeRestore(run: RestoreRun): RestoreResult | null {
  if (run.cancelled === null) return null;
  return run.finish('cancelled', { error: failure(ErrorType.RestoreCancelled, `${cancelledBy(run.cancelled)} before the restore began; the database was not changed`) });
}

function cancelledBy(c: { cancelled_by?: string; reason?: string }): string {
  return `cancelled by ${c.cancelled_by ?? 'unknown'}${c.reason ? `: ${c.reason}` : ''}`;
}
