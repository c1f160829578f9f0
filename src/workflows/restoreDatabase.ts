// The restoreDatabase workflow: the guide's steps, each a small function in ./restore/.
import type { TableCheck } from '../activities/restore/databases';
import { localTimestamp, restoreDatabaseNames } from '../backup/naming';
import { parseRestoreInput, type RestoreInput } from '../backup/restoreInput';
import { withDatabaseLock } from './lock';
import { restoreOutcome, withNotification, type NotifyContext } from './notify';
import { longActivities, quick } from './proxies';
import { awaitConfirmation, preRestoreBackup } from './restore/confirm';
import { restoreInPlace } from './restore/inPlace';
import { startRun, type RestoreResult } from './restore/state';
import { restoreBeside, swapIn } from './restore/swap';

export { cancelRestore, confirmRestore, statusQuery, type RestorePhase, type RestoreResult } from './restore/state';
export { cancelRestoreUpdate, confirmRestoreUpdate, type CancelInput, type ConfirmInput, type UpdateAnswer } from './restore/updates';

/**
 * validate → pre-restore backup → wait for confirmRestore → restore beside the live database and
 * swap it in (or, without the right to create databases, restore in place; or, when it does not
 * exist yet, rename it in) → verify the live database → roll back automatically if anything
 * after the change fails.
 */
export async function restoreDatabase(rawInput: RestoreInput | Record<string, unknown>): Promise<RestoreResult> {
  // A failed or rolled-back restore is notified (NOTIFY_WEBHOOK_URL); with NOTIFY_ON=always a success too.
  return withNotification('restore', (about) => restore(rawInput, about), restoreOutcome);
}

async function restore(rawInput: RestoreInput | Record<string, unknown>, about: NotifyContext): Promise<RestoreResult> {
  const run = startRun(rawInput);
  const input = parseRestoreInput(rawInput);
  run.state.backup_source = input.backup_source;
  about.backup_file = input.backup_filename;
  const settings = await quick.backupSettings();
  run.database = settings.database;
  about.policy = settings.notify ?? { enabled: false, on_success: false };
  // The one place the activities are chosen; every step below gets them from here.
  const acts = longActivities(settings.activity_tuning);
  return withDatabaseLock('restore', async () => {
    const prepare = () => acts.validating.prepareRestore(input.backup_filename, input.backup_source, { allow_unverified: input.allow_unverified, ...(input.recreate_roles === false ? { recreate_roles: false } : {}) });
    const prepared = await prepare();
    // On a brand-new server (the database does not exist yet) there is nothing to back up: the restore creates it.
    const pre = input.create_pre_restore_backup && prepared.target_exists !== false ? await preRestoreBackup(run, settings, acts) : null;
    const ended = await awaitConfirmation(run, input);
    if (ended) return ended;

    const names = restoreDatabaseNames(settings.database, localTimestamp(new Date(), settings.timezone));
    // The file is restored on the worker that validated it; if that worker is lost, another validates it again (docs/deployment.md).
    const restoring = acts.following(prepared.worker_queue, async () => (await prepare()).worker_queue).restoring;
    const restore = { run, acts: { ...acts, restoring }, prepared, names };
    const beside = await restoreBeside(restore);
    if ('end' in beside) return beside.end;
    // What the live database must hold afterwards: the manifest's counts, or (Windmill-era file) what the restore found.
    const expected = prepared.table_details ?? ('copy' in beside ? actualCounts(beside.copy.check) : null);
    return 'copy' in beside ? swapIn(restore, expected) : restoreInPlace(restore, pre, expected);
  }, settings);
}

function actualCounts(check: TableCheck): Record<string, number> {
  return Object.fromEntries(Object.entries(check.tables).map(([t, c]) => [t, c.actual ?? 0]));
}
