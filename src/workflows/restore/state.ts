// What a restore reports while it runs and when it ends: the `status` query's answer, the signals and Updates it hears.
import { defineQuery, defineSignal, setHandler } from '@temporalio/workflow';
import type { TableCheck } from '../../activities/restore/databases';
import type { CreatedRole } from '../../backup/createdRoles';
import type { PreparedRestore } from '../../activities/restore/prepare';
import type { BackupAbout } from '../../backup/plausibility';
import type { RestoreDatabaseNames } from '../../backup/naming';
import type { ErrorType } from '../../errors';
import type { LongActivities } from '../proxies';
import { setUpdateHandlers } from './updates';

/** Phases, as the `status` query reports them. */
export type RestorePhase = 'validating' | 'recovering' | 'pre_backup' | 'awaiting_confirmation' | 'restoring' | 'verifying' | 'swapping' | 'rolling_back' | 'done';

/** A failure as the result reports it: its type and message. */
export interface RestoreError {
  type: string;
  message: string;
}

/** The result, and (so far) the answer of the `status` query. */
export interface RestoreResult {
  status: 'success' | 'rolled_back' | 'cancelled' | 'expired' | 'failed' | 'running';
  phase: RestorePhase;
  restored_from: string;
  backup_source: 'local' | 's3';
  pre_restore_backup: string | null;
  /** When the pre-restore backup's dump began (UTC): it holds the database as it was then. Taken after the confirmation, right before the change. */
  pre_restore_backup_at?: string | null;
  /**
   * swap: restored beside the live database, then renamed in; in_place: replayed into it in one
   * transaction; create: the database did not exist (a new server), so it was restored under
   * another name and renamed in, with nothing set aside and no pre-restore backup.
   */
  strategy: 'swap' | 'in_place' | 'create' | null;
  verification: TableCheck | null;
  /**
   * swap_back: the database set aside was renamed back; pre_restore_backup: restored in place;
   * renamed_away: the created database got the failed name. `returned_to` says, in words, what the
   * live database holds afterwards (and so which writes it lacks).
   */
  rollback: { strategy: 'swap_back' | 'pre_restore_backup' | 'renamed_away'; verification: TableCheck; failed_database: string | null; returned_to?: string } | null;
  /** The previous live database, renamed aside by a swap and kept. */
  aside_database: string | null;
  roles_created: string[];
  /** The same roles with what each may do (LOGIN, password); absent in runs from before it was reported. */
  roles_created_detail?: CreatedRole[];
  confirmed_by: string | null;
  /** Who sent cancelRestore, once the run has heard it (the CLI reads it back: a signal that arrives too late is not read). */
  cancel_requested_by?: string | null;
  /** When awaiting confirmation: the deadline (UTC). */
  confirm_by: string | null;
  error: RestoreError | null;
  duration_ms: number;
  /** The backup as the confirmation shows it: its source database, time, size, the live database it replaces, and any doubts (warnings). */
  backup?: BackupAbout;
  /** What the user should know that the fields above do not say (e.g. a pre-restore backup that could not be restore-verified). */
  notes?: string[];
  /** A restore to a moment (input to_time): the moment asked for (UTC, or "latest"); restored_from is the file it was made into. */
  to_time?: string;
  /** With to_time, once recovered: the commit time of the last transaction replayed (UTC; null: none after the base backup). */
  recovered_to?: string | null;
  /** With to_time, once recovered: the base backup the moment was recovered from. */
  base_backup?: string;
}

export const confirmRestore = defineSignal<[{ confirmed_by: string }]>('confirmRestore');
export const cancelRestore = defineSignal<[{ cancelled_by?: string; reason?: string }]>('cancelRestore');
export const statusQuery = defineQuery<RestoreResult>('status');

/** One restore run: its state (what `status` answers), the signals heard so far, and how it ends. */
export interface RestoreRun {
  state: RestoreResult;
  confirmedBy: string | null;
  cancelled: { cancelled_by?: string; reason?: string } | null;
  /** The database being restored, once the worker's settings are read (the Updates check a `database` against it). */
  database: string | null;
  /** While the moment is recovered or the backup restored beside the live database: stops that (a cancelRestore Update then). */
  stopBeside: (() => void) | null;
  /** Ends the run with `status`: phase done, the duration, and `extra` (an error, a rollback). */
  finish(status: RestoreResult['status'], extra?: Partial<RestoreResult>): RestoreResult;
}

/** What the steps after confirmation share: the run, the activities, the validated backup, the databases' names. */
export interface Restore {
  run: RestoreRun;
  acts: LongActivities;
  prepared: PreparedRestore;
  names: RestoreDatabaseNames;
}

/** Starts tracking a run: the `status` query, both signals and both Updates are answered from here on. */
export function startRun(rawInput: unknown): RestoreRun {
  const started = Date.now();
  const filename = (rawInput as { backup_filename?: unknown } | null)?.backup_filename;
  const run: RestoreRun = {
    state: {
      status: 'running',
      phase: 'validating',
      restored_from: typeof filename === 'string' ? filename : '',
      backup_source: 'local',
      pre_restore_backup: null,
      strategy: null,
      verification: null,
      rollback: null,
      aside_database: null,
      roles_created: [],
      confirmed_by: null,
      cancel_requested_by: null,
      confirm_by: null,
      error: null,
      duration_ms: 0,
    },
    confirmedBy: null,
    cancelled: null,
    database: null,
    stopBeside: null,
    finish(status, extra = {}) {
      Object.assign(run.state, extra, { status, phase: 'done' as const, duration_ms: Date.now() - started });
      return { ...run.state };
    },
  };
  setHandler(statusQuery, () => ({ ...run.state, duration_ms: Date.now() - started }));
  setHandler(confirmRestore, ({ confirmed_by }) => {
    run.confirmedBy = confirmed_by || 'unknown';
  });
  setHandler(cancelRestore, (c) => {
    run.cancelled = c ?? {};
    run.state.cancel_requested_by = c?.cancelled_by || 'unknown';
  });
  setUpdateHandlers({
    phase: () => run.state.phase,
    status: () => run.state.status,
    database: () => run.database,
    confirmedBy: () => run.state.confirmed_by,
    tooLateToCancel: () => tooLateToCancel(run),
    confirm: (by) => (run.confirmedBy = by),
    cancel: (c) => {
      run.cancelled = c;
      run.state.cancel_requested_by = c.cancelled_by || 'unknown';
      run.stopBeside?.();
    },
  });
  return run;
}

/** Why a cancelRestore comes too late: the swap or the in-place transaction has begun (null: it does not). */
function tooLateToCancel({ state, stopBeside }: RestoreRun): string | null {
  switch (state.phase) {
    case 'swapping':
    case 'verifying':
      return state.strategy === 'in_place'
        ? `the in-place restore has committed and is being checked (phase ${state.phase}); if the check fails it restores the pre-restore backup by itself`
        : `the swap has begun (phase ${state.phase}); if the live database does not check out it puts the previous one back by itself`;
    case 'rolling_back':
      return 'it is putting the previous database back (phase rolling_back)';
    case 'restoring':
      return stopBeside !== null ? null : 'the in-place restore\'s transaction has begun (phase restoring); if it fails it is rolled back and the database stays as it was';
    default:
      return null;
  }
}

/** A result's error of a named type. */
export function failure(type: ErrorType, message: string): RestoreError {
  return { type, message };
}
