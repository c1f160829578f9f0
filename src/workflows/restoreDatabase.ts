import {
  ApplicationFailure,
  CancellationScope,
  condition,
  defineQuery,
  isCancellation,
  defineSignal,
  setHandler,
} from '@temporalio/workflow';
import { msToNumber } from '@temporalio/common/lib/time';
import type { Duration } from '@temporalio/common';
import type { TableCheck } from '../activities/restore/databases';
import { asideDatabaseName, backupFilename, localTimestamp } from '../backup/naming';
import { parseRestoreInput, type RestoreInput } from '../backup/restoreInput';
import { withDatabaseLock } from './lock';
import { longActivities, quick } from './proxies';
import { errorInfo, runBackup } from './pipeline';

/** Phases, as the `status` query reports them. */
export type RestorePhase = 'validating' | 'pre_backup' | 'awaiting_confirmation' | 'restoring' | 'verifying' | 'swapping' | 'rolling_back' | 'done';

/** The result, and (so far) the answer of the `status` query. */
export interface RestoreResult {
  status: 'success' | 'rolled_back' | 'cancelled' | 'expired' | 'failed' | 'running';
  phase: RestorePhase;
  restored_from: string;
  backup_source: 'local' | 's3';
  pre_restore_backup: string | null;
  /** swap: restored beside the live database, then renamed in; in_place: replayed into it in one transaction. */
  strategy: 'swap' | 'in_place' | null;
  verification: TableCheck | null;
  rollback: { strategy: 'swap_back' | 'pre_restore_backup'; verification: TableCheck; failed_database: string | null } | null;
  /** The previous live database, renamed aside by a swap and kept. */
  aside_database: string | null;
  roles_created: string[];
  confirmed_by: string | null;
  /** When awaiting confirmation: the deadline (UTC). */
  confirm_by: string | null;
  error: { type: string; message: string } | null;
  duration_ms: number;
}

export const confirmRestore = defineSignal<[{ confirmed_by: string }]>('confirmRestore');
export const cancelRestore = defineSignal<[{ cancelled_by?: string; reason?: string }]>('cancelRestore');
export const statusQuery = defineQuery<RestoreResult>('status');

/**
 * validate → pre-restore backup → wait for confirmRestore → restore beside the live database and
 * verify → swap in → verify live → roll back automatically if anything after the swap fails.
 */
export async function restoreDatabase(rawInput: RestoreInput | Record<string, unknown>): Promise<RestoreResult> {
  const started = Date.now();
  let confirmedBy: string | null = null;
  let cancelled: { cancelled_by?: string; reason?: string } | null = null;
  const state: RestoreResult = {
    status: 'running',
    phase: 'validating',
    restored_from: typeof (rawInput as { backup_filename?: unknown })?.backup_filename === 'string' ? (rawInput as { backup_filename: string }).backup_filename : '',
    backup_source: 'local',
    pre_restore_backup: null,
    strategy: null,
    verification: null,
    rollback: null,
    aside_database: null,
    roles_created: [],
    confirmed_by: null,
    confirm_by: null,
    error: null,
    duration_ms: 0,
  };
  setHandler(statusQuery, () => ({ ...state, duration_ms: Date.now() - started }));
  setHandler(confirmRestore, ({ confirmed_by }) => {
    confirmedBy = confirmed_by || 'unknown';
  });
  setHandler(cancelRestore, (c) => {
    cancelled = c ?? {};
  });
  const finish = (status: RestoreResult['status'], extra: Partial<RestoreResult> = {}): RestoreResult => {
    Object.assign(state, extra, { status, phase: 'done' as const, duration_ms: Date.now() - started });
    return { ...state };
  };

  const input = parseRestoreInput(rawInput);
  state.backup_source = input.backup_source;
  const settings = await quick.backupSettings();
  const acts = longActivities(settings.activity_tuning);
  const { validating, restoring, switching, rollingBack } = acts;
  const live = settings.database;
  return withDatabaseLock('restore', async () => {
    const prepared = await validating.prepareRestore(input.backup_filename, input.backup_source, { allow_unverified: input.allow_unverified, ...(input.recreate_roles === false ? { recreate_roles: false } : {}) });

    let preRestore: { filename: string; table_details: Record<string, number> } | null = null;
    if (input.create_pre_restore_backup) {
      state.phase = 'pre_backup';
      const filename = backupFilename(settings.prefix, 'pre_restore', new Date(), settings.timezone);
      state.pre_restore_backup = filename;
      const pre = await runBackup({ filename, type: 'pre_restore', format: 'plain_gzip', upload: false, cleanup: false, started: Date.now() }, acts, () => undefined);
      preRestore = { filename: pre.filename, table_details: pre.table_details };
    }

    if (!input.confirm_restore) {
      state.phase = 'awaiting_confirmation';
      state.confirm_by = new Date(Date.now() + msToNumber(input.confirmation_timeout as Duration)).toISOString();
      const answered = await condition(() => confirmedBy !== null || cancelled !== null, input.confirmation_timeout as Duration);
      state.confirm_by = null;
      if (cancelled !== null) {
        const c: { cancelled_by?: string; reason?: string } = cancelled;
        return finish('cancelled', { error: { type: 'RestoreCancelled', message: `cancelled by ${c.cancelled_by ?? 'unknown'}${c.reason ? `: ${c.reason}` : ''}; the database was not changed` } });
      }
      if (!answered) {
        return finish('expired', { error: { type: 'RestoreExpired', message: `no confirmRestore signal within ${input.confirmation_timeout}; the database was not changed` } });
      }
      state.confirmed_by = confirmedBy;
    } else {
      state.confirmed_by = 'input: confirm_restore';
    }
    if (cancelled !== null) {
      const c: { cancelled_by?: string; reason?: string } = cancelled;
      return finish('cancelled', { error: { type: 'RestoreCancelled', message: `cancelled by ${c.cancelled_by ?? 'unknown'}${c.reason ? `: ${c.reason}` : ''} before the restore began; the database was not changed` } });
    }

    const stamp = localTimestamp(new Date(), settings.timezone);
    const names = { live, incoming: `${live}_restoring_${stamp}`, aside: asideDatabaseName(live, stamp), failed: `${live}_failed_restore_${stamp}` };

    state.phase = 'restoring';
    let restored: { check: TableCheck; roles_created: string[] } | null = null;
    try {
      restored = await restoring.restoreIntoNewDatabase(prepared, names.incoming);
      state.strategy = 'swap';
      state.roles_created = restored.roles_created;
    } catch (err) {
      if (isCancellation(err)) {
        // The activity dropped its copy when it stopped; dropping it here too covers an activity that finished first.
        await CancellationScope.nonCancellable(() => rollingBack.dropDatabase(names.incoming));
        return finish('cancelled', { error: { type: 'RestoreCancelled', message: `cancelled while restoring beside the live database; the half-made copy ${names.incoming} was dropped; the database was not changed` } });
      }
      const error = errorInfo(err);
      if (error.type !== 'CannotCreateDatabase') return finish('failed', { error });
      state.strategy = 'in_place';
    }
    // What the live database must hold afterwards: the manifest's counts, or (Windmill-era file) what the restore found.
    const expected = prepared.table_details ?? (restored ? actualCounts(restored.check) : null);

    if (state.strategy === 'swap') {
      let asideCounts: Record<string, number> | null = null;
      try {
        state.phase = 'swapping';
        asideCounts = (await switching.swapDatabases({ live, incoming: names.incoming, aside: names.aside })).aside_counts;
        state.aside_database = names.aside;
        state.phase = 'verifying';
        state.verification = await switching.verifyLiveDatabase(expected, prepared.extensions);
        if (!state.verification.ok) throw ApplicationFailure.create({ type: 'RestoreVerificationFailed', message: 'the live database does not hold what the backup holds after the swap' });
        return finish('success');
      } catch (err) {
        // The renames happen in one transaction: either the swap happened and is undone, or it did not and the copy is dropped.
        state.phase = 'rolling_back';
        // A cancellation must not stop the rollback: it is what puts the previous database back.
        const verification = await CancellationScope.nonCancellable(() => rollingBack.rollbackSwap(names, asideCounts));
        state.rollback = { strategy: 'swap_back', verification, failed_database: verification.swapped_back ? names.failed : null };
        state.aside_database = null;
        if (!verification.ok) throw rollbackFailed(err, verification);
        return finish('rolled_back', { error: cancelledOr(err, 'cancelled during the swap or the check after it; the previous database was put back') });
      }
    }

    if (preRestore === null) {
      return finish('failed', {
        error: {
          type: 'CannotCreateDatabase',
          message: `${live} cannot be restored beside itself (no right to create databases) and an in-place restore needs a pre-restore backup to roll back to; run again with create_pre_restore_backup true`,
        },
      });
    }
    try {
      await restoring.restoreInPlace(prepared, 'restore');
    } catch (err) {
      // One transaction: a failed or cancelled in-place restore left the live database as it was.
      if (isCancellation(err)) return finish('cancelled', { error: { type: 'RestoreCancelled', message: 'cancelled during the in-place restore, whose transaction was rolled back; the database was not changed' } });
      return finish('failed', { error: errorInfo(err) });
    }
    try {
      state.phase = 'verifying';
      state.verification = await switching.verifyLiveDatabase(expected, prepared.extensions);
      if (!state.verification.ok) throw ApplicationFailure.create({ type: 'RestoreVerificationFailed', message: 'the live database does not hold what the backup holds after the in-place restore' });
      return finish('success');
    } catch (err) {
      state.phase = 'rolling_back';
      const pre = preRestore;
      const verification = await CancellationScope.nonCancellable(async () => {
        const prepared = await rollingBack.prepareRestore(pre.filename, 'local');
        await rollingBack.restoreInPlace(prepared, 'rollback');
        return rollingBack.verifyLiveDatabase(pre.table_details, prepared.extensions);
      });
      state.rollback = { strategy: 'pre_restore_backup', verification, failed_database: null };
      if (!verification.ok) throw rollbackFailed(err, verification);
      return finish('rolled_back', { error: cancelledOr(err, 'cancelled during the check after the in-place restore; the pre-restore backup was put back') });
    }
  });
}

/** The error a rollback reports: RestoreCancelled with `message` for a cancellation, else what failed. */
function cancelledOr(err: unknown, message: string): { type: string; message: string } {
  return isCancellation(err) ? { type: 'RestoreCancelled', message } : errorInfo(err);
}

function actualCounts(check: TableCheck): Record<string, number> {
  return Object.fromEntries(Object.entries(check.tables).map(([t, c]) => [t, c.actual ?? 0]));
}

function rollbackFailed(original: unknown, verification: TableCheck): ApplicationFailure {
  return ApplicationFailure.create({
    type: 'RollbackFailed',
    nonRetryable: true,
    message: `the restore failed (${errorInfo(original).message}) and the rollback did not verify; check the database by hand: fbb list shows the pre-restore backup and the databases kept aside`,
    details: [verification],
  });
}
