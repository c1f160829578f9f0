// The human steps as Workflow Updates: confirmRestore and cancelRestore, checked by a validator
// before the workflow hears them, answered with the phase they moved the restore to. They share
// their names with the signals (Temporal keeps signal and update handlers apart), which stay for the
// Web UI and scripts; full, tenant and table restores all install them from here.
import { allHandlersFinished, ApplicationFailure, CancellationScope, condition, defineUpdate, setHandler, workflowInfo } from '@temporalio/workflow';
import { ErrorType } from '../../errors';

/** confirmRestore's input; `database`, when given, must be the database being restored. */
export interface ConfirmInput {
  confirmed_by?: string;
  database?: string;
}

/** cancelRestore's input; `database`, when given, must be the database being restored. */
export interface CancelInput {
  cancelled_by?: string;
  reason?: string;
  database?: string;
}

/** What an accepted Update answers: the phase the restore moved to, and its status there. */
export interface UpdateAnswer {
  phase: string;
  status: string;
}

export const confirmRestoreUpdate = defineUpdate<UpdateAnswer, [ConfirmInput | undefined]>('confirmRestore');
export const cancelRestoreUpdate = defineUpdate<UpdateAnswer, [CancelInput | undefined]>('cancelRestore');

/** What the Updates read and do in a restore run (full, tenant or table). */
export interface HumanSteps {
  phase(): string;
  status(): string;
  /** The database being restored; null until the worker's settings are read. */
  database(): string | null;
  confirmedBy(): string | null;
  /** Why a cancel comes too late now (the swap or the transaction has begun), or null. */
  tooLateToCancel(): string | null;
  confirm(by: string): void;
  cancel(c: { cancelled_by?: string; reason?: string }): void;
}

/**
 * The run's result once every Update handler has answered: a cancel answers when the run is done,
 * and a run that returned in the same workflow task (a cancel during the recovery of a moment) would
 * otherwise fail the Update with "Workflow completed before the Update completed".
 */
export async function afterUpdatesAnswered<T>(result: Promise<T>): Promise<T> {
  const value = await result;
  // Not cancellable: a cancelled run (rolled back, say) still returns its result.
  await CancellationScope.nonCancellable(() => condition(allHandlersFinished));
  return value;
}

/** Phases before a restore waits for its confirmation. */
const BEFORE_WAITING = new Set(['validating', 'recovering', 'loading_backup', 'planning', 'pre_backup']);

/** Installs both Updates on the run `steps` describes. */
export function setUpdateHandlers(steps: HumanSteps): void {
  const answer = (): UpdateAnswer => ({ phase: steps.phase(), status: steps.status() });
  setHandler(
    confirmRestoreUpdate,
    async (input) => {
      steps.confirm(input?.confirmed_by || 'unknown');
      await condition(() => steps.phase() !== 'awaiting_confirmation');
      return answer();
    },
    {
      validator: (input) => {
        checkDatabase('confirmRestore', steps, input?.database);
        const phase = steps.phase();
        if (phase === 'awaiting_confirmation') return;
        const by = steps.confirmedBy();
        const detail = phase === 'done' ? `it has ended (status ${steps.status()})` : BEFORE_WAITING.has(phase) ? `it is not waiting for confirmation yet (phase ${phase})` : `it is no longer waiting for confirmation (phase ${phase}${by ? `, confirmed by ${by}` : ''})`;
        const next = BEFORE_WAITING.has(phase) ? `confirm once "fbb status ${id()}" shows it awaiting confirmation` : `"fbb status ${id()}" shows how it goes on`;
        throw rejected(`confirmRestore rejected: restore ${id()}: ${detail}; the confirmation was not applied; ${next}`);
      },
    },
  );
  setHandler(
    cancelRestoreUpdate,
    async (input) => {
      steps.cancel({ ...(input?.cancelled_by ? { cancelled_by: input.cancelled_by } : {}), ...(input?.reason ? { reason: input.reason } : {}) });
      await condition(() => steps.phase() === 'done');
      return answer();
    },
    {
      validator: (input) => {
        checkDatabase('cancelRestore', steps, input?.database);
        const late = steps.phase() === 'done' ? `it has ended (status ${steps.status()})` : steps.tooLateToCancel();
        if (late === null) return;
        throw rejected(`cancelRestore rejected: restore ${id()} can no longer be cancelled: ${late}; the cancel was not applied; "fbb status ${id()}" shows how it ends`);
      },
    },
  );
}

/** A `database` that is not the one being restored is refused, naming the right one. */
function checkDatabase(update: string, steps: HumanSteps, wanted: string | undefined): void {
  const actual = steps.database();
  if (wanted === undefined || actual === null || wanted === actual) return;
  throw rejected(
    `${update} rejected: restore ${id()} restores database "${actual}", not "${wanted}"; the ${update === 'confirmRestore' ? 'confirmation' : 'cancel'} was not applied; ` +
      `check the workflow ID ("fbb history --type restore" lists restores), or send database "${actual}"`,
  );
}

function id(): string {
  return workflowInfo().workflowId;
}

function rejected(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: ErrorType.RestoreUpdateRejected, message, nonRetryable: true });
}
