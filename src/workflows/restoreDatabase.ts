// The restoreDatabase workflow: the guide's steps, each a small function in ./restore/.
import { patched } from '@temporalio/workflow';
import type { TableCheck } from '../activities/restore/databases';
import { localTimestamp, restoreDatabaseNames } from '../backup/naming';
import { parseRestoreInput, type RestoreInput } from '../backup/restoreInput';
import { withDatabaseLock } from './lock';
import { restoreOutcome, withNotification, type NotifyContext } from './notify';
import { longActivities, quick } from './proxies';
import { awaitConfirmation, cancelledBeforeRestore, preRestoreBackup } from './restore/confirm';
import { restoreInPlace } from './restore/inPlace';
import { followPrepared, onMomentWorker, recoverMoment } from './restore/moment';
import { startRun, type RestoreResult } from './restore/state';
import { restoreBeside, swapIn } from './restore/swap';
import { afterUpdatesAnswered } from './restore/updates';

/** The patch under which the pre-restore backup is taken after the confirmation, not before it. */
export const PRE_RESTORE_AFTER_CONFIRMATION = 'pre-restore-backup-after-confirmation';

export { cancelRestore, confirmRestore, statusQuery, type RestorePhase, type RestoreResult } from './restore/state';
export { cancelRestoreUpdate, confirmRestoreUpdate, type CancelInput, type ConfirmInput, type UpdateAnswer } from './restore/updates';

/**
 * [to_time: the moment made into a backup file, ./restore/moment.ts] → validate → wait for confirmRestore → pre-restore backup → restore beside the live database and
 * swap it in (or, without the right to create databases, restore in place; or, when it does not
 * exist yet, rename it in) → verify the live database → roll back automatically if anything
 * after the change fails.
 */
export async function restoreDatabase(rawInput: RestoreInput | Record<string, unknown>): Promise<RestoreResult> {
  // A failed or rolled-back restore is notified (NOTIFY_WEBHOOK_URL); with NOTIFY_ON=always a success too.
  return afterUpdatesAnswered(withNotification('restore', (about) => restore(rawInput, about), restoreOutcome));
}

async function restore(rawInput: RestoreInput | Record<string, unknown>, about: NotifyContext): Promise<RestoreResult> {
  const run = startRun(rawInput);
  const input = parseRestoreInput(rawInput);
  run.state.backup_source = input.backup_source;
  if (input.to_time !== undefined) run.state.to_time = input.to_time;
  about.backup_file = input.backup_filename;
  const settings = await quick.backupSettings();
  run.database = settings.database;
  about.policy = settings.notify ?? { enabled: false, on_success: false };
  // The one place the activities are chosen; every step below gets them from here.
  const acts = longActivities(settings.activity_tuning);
  return withDatabaseLock('restore', async () => {
    // A moment (to_time) is made into a file first; the steps below take it like any file, on the worker holding it.
    let validating = acts.validating;
    if (input.to_time !== undefined) {
      const moment = await recoverMoment(run, settings, acts, { to_time: input.to_time, backup_source: input.backup_source });
      if ('end' in moment) return moment.end;
      Object.assign(input, { backup_filename: moment.made.filename, backup_source: 'local' });
      about.backup_file = moment.made.filename;
      validating = onMomentWorker(acts, moment.made).validating;
      run.state.phase = 'validating';
    }
    // The backup is judged against the live database; what the confirmation shows goes into `status`.
    const plausibility = { force: input.force === true, from_database: input.from_database ?? null, confirmed_in_advance: input.confirm_restore };
    const options = { allow_unverified: input.allow_unverified, ...(input.recreate_roles === false ? { recreate_roles: false } : {}) };
    const prepare = (judge: boolean) => validating.prepareRestore(input.backup_filename, input.backup_source, judge ? { ...options, plausibility } : options);
    const prepared = await prepare(true);
    if (prepared.about) run.state.backup = prepared.about;
    if (prepared.column_order_changed?.length) run.state.notes = [...(run.state.notes ?? []), columnOrderNote(prepared.column_order_changed)];
    // On a brand-new server (the database does not exist yet) there is nothing to back up: the restore creates it.
    const takePre = () => (input.create_pre_restore_backup && prepared.target_exists !== false ? preRestoreBackup(run, settings, acts) : Promise.resolve(null));
    // Runs started before this version took it before the confirmation wait (their histories replay so).
    const afterConfirmation = patched(PRE_RESTORE_AFTER_CONFIRMATION);
    let pre = afterConfirmation ? null : await takePre();
    const ended = await awaitConfirmation(run, input);
    if (ended) return ended;
    if (afterConfirmation) {
      // Right before the change, so that a rollback in place loses only what is written during the restore itself.
      pre = await takePre();
      const cancelled = cancelledBeforeRestore(run);
      if (cancelled) return cancelled;
    }

    const names = restoreDatabaseNames(settings.database, localTimestamp(new Date(), settings.timezone));
    // The file is restored on the worker that validated it; if that worker is lost, another validates it again (docs/deployment.md),
    // without judging it again: the confirmation was given for what the first judgement showed.
    const restoring = followPrepared(acts, prepared, () => prepare(false)).restoring;
    const restore = { run, acts: { ...acts, restoring }, prepared, names };
    const beside = await restoreBeside(restore);
    if ('end' in beside) return beside.end;
    // What the live database must hold afterwards: the manifest's counts, or (Windmill-era file) what the restore found.
    const expected = prepared.table_details ?? ('copy' in beside ? actualCounts(beside.copy.check) : null);
    return 'copy' in beside ? swapIn(restore, expected) : restoreInPlace(restore, pre, expected);
  }, settings);
}

/** What a user reading the result should know about tables whose columns come back in another order. */
function columnOrderNote(tables: string[]): string {
  return `${tables.join(', ')}: restored with the columns in another order (pg_dump recreates an inheritance child with its parents' columns first); the content is the same, and SELECT * lists the columns differently (docs/operations.md)`;
}

function actualCounts(check: TableCheck): Record<string, number> {
  return Object.fromEntries(Object.entries(check.tables).map(([t, c]) => [t, c.actual ?? 0]));
}
