// restoreTenant: one tenant's rows back to a backup's moment, every other tenant's left as they are.
import { CancellationScope, condition, defineQuery, isCancellation, patched, setHandler } from '@temporalio/workflow';
import type { Duration } from '@temporalio/common';
import { durationMs } from '../backup/duration';
import type { PartialTarget } from '../partial/activities';
import type { Applied } from '../partial/apply';
import { parseTenantRestoreInput, type TableRestoreInput, type TenantRestoreInput } from '../partial/input';
import { conflictMessage, conflictType } from '../partial/messages';
import type { PartialPlan } from '../partial/plan';
import type { CreatedRole } from '../backup/createdRoles';
import { localTimestamp } from '../backup/naming';
import type { BackupAbout } from '../backup/plausibility';
import { withDatabaseLock } from './lock';
import { errorInfo } from './pipeline';
import { longActivities, quick } from './proxies';
import { cancelRestore, confirmRestore } from './restoreDatabase';
import { followPrepared, makeMoment, momentFields, onMomentWorker } from './restore/moment';
import { takePreRestoreBackup } from './restore/preRestore';
import { afterUpdatesAnswered, setUpdateHandlers } from './restore/updates';
import { ErrorType } from '../errors';

/** Phases, as the `status` query reports them. */
export type PartialPhase = 'validating' | 'recovering' | 'loading_backup' | 'planning' | 'pre_backup' | 'awaiting_confirmation' | 'applying' | 'done';

/** The result of restoreTenant and restoreTable, and the answer of their `status` query. */
export interface PartialRestoreResult {
  /** planned: a dry run (nothing changed); refused: the plan has conflicts (nothing changed). */
  status: 'success' | 'planned' | 'refused' | 'cancelled' | 'expired' | 'failed' | 'running';
  phase: PartialPhase;
  kind: 'tenant' | 'table';
  /** The tenant id, or the table. */
  target: string;
  restored_from: string;
  backup_source: 'local' | 's3';
  /** The backup, loaded beside the live database for the restore (dropped at the end). */
  scratch_database: string | null;
  plan: PartialPlan | null;
  pre_restore_backup: string | null;
  /** When the pre-restore backup's dump began (UTC); it is taken after the confirmation, right before the change. */
  pre_restore_backup_at?: string | null;
  /** Roles created to load the backup (none unless the input's recreate_roles asked for them). */
  roles_created?: CreatedRole[];
  /** What the user should know that the fields above do not say (e.g. a pre-restore backup that could not be restore-verified). */
  notes?: string[];
  confirmed_by: string | null;
  confirm_by: string | null;
  applied: Applied | null;
  /** Table restore with `as`: the table made beside the live one. */
  beside: { table: string; rows: number } | null;
  /** The backup as the confirmation shows it: its source database, time, size, the live database, and any doubts (warnings). */
  backup?: BackupAbout;
  error: { type: string; message: string } | null;
  duration_ms: number;
  /** A restore to a moment (input to_time): the moment asked for (UTC, or "latest"); restored_from is the file it was made into. */
  to_time?: string;
  /** With to_time, once recovered: the commit time of the last transaction replayed (UTC; null: none after the base backup). */
  recovered_to?: string | null;
  /** With to_time, once recovered: the base backup the moment was recovered from. */
  base_backup?: string;
}

/** The patch under which a partial restore's pre-restore backup is taken after the confirmation. */
export const PARTIAL_PRE_RESTORE_AFTER_CONFIRMATION = 'partial-pre-restore-backup-after-confirmation';

/** The patch under which a partial restore's copy of the backup is loaded where VERIFY_TARGET puts scratch databases. */
export const PARTIAL_SCRATCH_ON_VERIFY_SERVER = 'partial-scratch-on-verify-server';

/** The `status` query (the same name as restoreDatabase's, so `fbb status` and the Web UI read both). */
export const partialStatusQuery = defineQuery<PartialRestoreResult>('status');

/**
 * validate → load the backup into a scratch database beside the live one → plan (per table:
 * delete, insert, update; conflicts) → [dry run: stop] → refuse on conflicts → wait for
 * confirmRestore → pre-restore backup → apply in one transaction on the live database, verified before it
 * commits (the tenant's rows equal the backup's; every other tenant's hashes unchanged) → drop the scratch copy.
 */
export async function restoreTenant(rawInput: TenantRestoreInput | Record<string, unknown>): Promise<PartialRestoreResult> {
  const target = String((rawInput as { tenant_id?: unknown })?.tenant_id ?? '');
  return afterUpdatesAnswered(runPartialRestore('tenant', target, rawInput, () => {
    const input = parseTenantRestoreInput(rawInput);
    return { input, target: { tenant_id: input.tenant_id, tenant_column: input.tenant_column, tenant_table: input.tenant_table } };
  }));
}

/** The steps both partial restores share; `parse` validates the input (it throws a named failure). */
export async function runPartialRestore(
  kind: 'tenant' | 'table',
  label: string,
  rawInput: unknown,
  parse: () => { input: TenantRestoreInput | TableRestoreInput; target: Omit<PartialTarget, 'scratch_database'> },
): Promise<PartialRestoreResult> {
  const started = Date.now();
  let confirmedBy: string | null = null;
  let cancelled: { cancelled_by?: string; reason?: string } | null = null;
  const state: PartialRestoreResult = {
    status: 'running',
    phase: 'validating',
    kind,
    target: label,
    restored_from: String((rawInput as { backup_filename?: unknown })?.backup_filename ?? ''),
    backup_source: 'local',
    scratch_database: null,
    plan: null,
    pre_restore_backup: null,
    confirmed_by: null,
    confirm_by: null,
    applied: null,
    beside: null,
    error: null,
    duration_ms: 0,
  };
  setHandler(partialStatusQuery, () => ({ ...state, duration_ms: Date.now() - started }));
  setHandler(confirmRestore, ({ confirmed_by }) => {
    confirmedBy = confirmed_by || 'unknown';
  });
  setHandler(cancelRestore, (c) => {
    cancelled = c ?? {};
  });
  let database: string | null = null;
  setUpdateHandlers({
    phase: () => state.phase,
    status: () => state.status,
    database: () => database,
    confirmedBy: () => state.confirmed_by,
    // Applying is one transaction, checked before it commits: it is not stopped half-way.
    tooLateToCancel: () => (state.phase === 'applying' ? 'its transaction has begun (phase applying); it is checked before it commits and rolled back if the check fails' : null),
    confirm: (by) => (confirmedBy = by),
    cancel: (c) => (cancelled = c),
  });
  const finish = (status: PartialRestoreResult['status'], extra: Partial<PartialRestoreResult> = {}): PartialRestoreResult => {
    Object.assign(state, extra, { status, phase: 'done' as const, duration_ms: Date.now() - started });
    return { ...state };
  };
  const cancelledError = (when: string) => {
    const c: { cancelled_by?: string; reason?: string } = cancelled ?? {};
    return { type: ErrorType.RestoreCancelled, message: `cancelled by ${c.cancelled_by ?? 'unknown'}${c.reason ? `: ${c.reason}` : ''} ${when}; the database was not changed` };
  };

  const { input, target } = parse();
  state.backup_source = input.backup_source;
  if (input.to_time !== undefined) state.to_time = input.to_time;
  const settings = await quick.backupSettings();
  database = settings.database;
  const acts = longActivities(settings.activity_tuning);
  const { restoring, switching, rollingBack } = acts;
  let { validating } = acts;
  return withDatabaseLock('restore', async () => {
    // A moment (to_time) is made into a file first (./restore/moment.ts); the steps below take it like any file, on the worker holding it.
    if (input.to_time !== undefined) {
      state.phase = 'recovering';
      const made = await makeMoment(settings, acts, { to_time: input.to_time, backup_source: input.backup_source });
      Object.assign(state, momentFields(made));
      Object.assign(input, { backup_filename: made.filename, backup_source: 'local' });
      validating = onMomentWorker(acts, made).validating;
      state.phase = 'validating';
      if (cancelled !== null) return finish('cancelled', { error: cancelledError(`while moment ${input.to_time} was being recovered`) });
    }
    // Nobody sees a confirmation of a dry run or of a table loaded beside the live one, but neither changes live rows.
    const changesLive = !input.dry_run && (input as TableRestoreInput).as == null;
    const plausibility = { force: input.force === true, from_database: input.from_database ?? null, confirmed_in_advance: input.confirm_restore && changesLive };
    const tenant = target.tenant_id === undefined ? {} : { tenant: { id: target.tenant_id, table: target.tenant_table ?? null } };
    // A partial restore creates no roles unless the input asks (recreate_roles true: as recorded; false: NOLOGIN).
    const roles = input.create_roles === 'none' ? { create_roles: false } : input.create_roles === 'nologin' ? { recreate_roles: false } : {};
    const prepare = (judge: boolean) => validating.prepareRestore(input.backup_filename, input.backup_source, { allow_unverified: input.allow_unverified, ...roles, ...tenant, ...(judge ? { plausibility } : {}) });
    const prepared = await prepare(true);
    if (prepared.about) state.backup = prepared.about;
    // The file is loaded on the worker that validated it; if that worker is lost, another validates it again (docs/deployment.md), without judging it again.
    const fileWorker = followPrepared(acts, prepared, () => prepare(false));
    const loading = fileWorker.restoring;
    const scratch = `${settings.database}_partial_${localTimestamp(new Date(), settings.timezone)}`.slice(0, 63);
    state.scratch_database = scratch;
    let where: PartialTarget = { ...target, scratch_database: scratch };
    // The copy goes where VERIFY_TARGET puts scratch databases; runs started before this version loaded it beside the live database.
    const onScratchServer = patched(PARTIAL_SCRATCH_ON_VERIFY_SERVER);
    // The steps that read the copy: on the worker whose own server holds it, when it is there.
    let reading = { switching, restoring, housekeeping: acts.housekeeping };
    let loadedAt: 'verify' | 'source' | undefined;
    try {
      state.phase = 'loading_backup';
      const loaded = await loading.restoreIntoNewDatabase(prepared, scratch, ...(onScratchServer ? [{ scratch: true }] : []));
      loadedAt = 'scratch_server' in loaded ? loaded.scratch_server : 'source';
      if ('scratch_server' in loaded && loaded.scratch_server === 'verify') {
        where = { ...where, scratch_server: 'verify' };
        reading = acts.onWorker((loaded as { worker_queue?: string }).worker_queue);
      }
      state.roles_created = loaded.roles ?? [];
      const as = (input as TableRestoreInput).as ?? null;
      if (kind === 'table' && as !== null) {
        if (input.dry_run) return finish('planned');
        state.phase = 'applying';
        state.beside = await reading.restoring.restoreTableBeside({ ...where, table: (input as TableRestoreInput).table, as });
        return finish('success');
      }
      state.phase = 'planning';
      const plan = await reading.switching.planPartialRestore(where);
      state.plan = plan;
      if (input.dry_run) return finish('planned');
      if (plan.conflicts.length > 0) return finish('refused', { error: { type: conflictType(plan), message: conflictMessage(plan) } });

      const takePre = async () => {
        if (!input.create_pre_restore_backup) return;
        state.phase = 'pre_backup';
        const pre = await takePreRestoreBackup(settings, acts, {
          named: (filename) => (state.pre_restore_backup = filename),
          note: (text) => (state.notes = [...(state.notes ?? []), text]),
        });
        state.pre_restore_backup_at = pre.taken_at ?? null;
      };
      // Runs started before this version took it before the confirmation wait (their histories replay so).
      const afterConfirmation = patched(PARTIAL_PRE_RESTORE_AFTER_CONFIRMATION);
      if (!afterConfirmation) await takePre();
      if (!input.confirm_restore) {
        state.phase = 'awaiting_confirmation';
        state.confirm_by = new Date(Date.now() + (durationMs(input.confirmation_timeout) ?? 0)).toISOString();
        const answered = await condition(() => confirmedBy !== null || cancelled !== null, input.confirmation_timeout as Duration);
        state.confirm_by = null;
        if (cancelled !== null) return finish('cancelled', { error: cancelledError('while the plan awaited confirmation') });
        if (!answered) return finish('expired', { error: { type: ErrorType.RestoreExpired, message: `no confirmRestore signal within ${input.confirmation_timeout}; the database was not changed` } });
        state.confirmed_by = confirmedBy;
      } else {
        state.confirmed_by = 'input: confirm_restore';
      }
      if (cancelled !== null) return finish('cancelled', { error: cancelledError('before the restore began') });
      if (afterConfirmation) {
        // Right before the change: it holds every write made while the plan awaited confirmation.
        await takePre();
        if (cancelled !== null) return finish('cancelled', { error: cancelledError('before the restore began') });
      }

      state.phase = 'applying';
      try {
        const done = await reading.restoring.applyPartialRestore(where);
        return finish('success', { plan: done.plan, applied: done.applied });
      } catch (err) {
        if (isCancellation(err)) return finish('cancelled', { error: { type: ErrorType.RestoreCancelled, message: 'cancelled while applying; its transaction was rolled back; the database was not changed' } });
        const error = errorInfo(err);
        return finish(error.type === ErrorType.TenantRestoreConflict || error.type === ErrorType.TableRestoreConflict ? 'refused' : 'failed', { error });
      }
    } catch (err) {
      if (isCancellation(err)) return finish('cancelled', { error: { type: ErrorType.RestoreCancelled, message: `cancelled in phase ${state.phase}; the database was not changed` } });
      return finish('failed', { error: errorInfo(err) });
    } finally {
      await CancellationScope.nonCancellable(async () => {
        // On the scratch server the copy is nobody's data: dropped with a few attempts; a worker lost meanwhile leaves it there, and the outcome stands.
        if (loadedAt === 'verify') return reading.housekeeping.dropDatabase(scratch, { scratch_server: 'verify' }).catch(() => undefined);
        await rollingBack.dropDatabase(scratch);
        // A load that did not report (a worker lost part-way) may have left its copy on the scratch server: dropped there too, best effort.
        if (onScratchServer && loadedAt === undefined) await fileWorker.housekeeping.dropDatabase(scratch, { scratch_server: 'verify' }).catch(() => undefined);
      });
    }
  }, settings);
}
