// Tells the webhooks how a run ended: a failed backup, restore (a rollback included) or drill, and
// with NOTIFY_ON=always a success. Only the event travels; the worker adds its webhook URLs.
import { CancellationScope, isCancellation, log, workflowInfo } from '@temporalio/workflow';
import type { NotifyEvent } from '../activities/notify';
import { ErrorType } from '../errors';
import type { RestoreResult } from './restoreDatabase';
import { errorInfo } from './pipeline';
import { notifying } from './proxies';

/** The runs that notify. */
export type NotifyKind = 'backup' | 'restore' | 'drill';

/** Whether the worker has webhooks and wants successes too; no URL, only these two facts. */
export interface NotifyPolicy {
  enabled: boolean;
  on_success: boolean;
}

/** What the run has learnt that the notification names; the run fills it in as it goes. */
export interface NotifyContext {
  backup_file: string | null;
  /** From the worker's settings once read; until then a failure (not refused input) is sent and the worker decides. */
  policy?: NotifyPolicy;
}

/** How a run that returned (rather than threw) ended: a restore can return rolled_back. */
export interface Outcome {
  outcome: 'failure' | 'success' | 'none';
  status: string;
  error?: { type: string; message: string } | null;
  summary?: string;
}

/**
 * Runs `run`, then notifies: on a thrown failure (not on a cancellation: someone asked for it), and
 * on what `judge` calls a failure or a success. A notification that cannot be delivered after its
 * retries is logged and dropped: it never changes how the run ends.
 */
export async function withNotification<T>(kind: NotifyKind, run: (about: NotifyContext) => Promise<T>, judge: (result: T) => Outcome): Promise<T> {
  const about: NotifyContext = { backup_file: null };
  let result: T;
  try {
    result = await run(about);
  } catch (err) {
    if (!isCancellation(err) && about.policy?.enabled !== false && !refusedInput(about, err)) {
      await send(kind, about, { outcome: 'failure', status: 'failed', error: errorInfo(err) });
    }
    throw err;
  }
  const outcome = judge(result);
  if (outcome.outcome === 'failure' ? about.policy?.enabled !== false : outcome.outcome === 'success' && about.policy?.on_success === true) {
    await send(kind, about, outcome);
  }
  return result;
}

/** Input refused before the worker's settings were read: whoever started the run gets the error at once, and nothing ran. */
function refusedInput(about: NotifyContext, err: unknown): boolean {
  return about.policy === undefined && INPUT_ERRORS.has(errorInfo(err).type);
}

const INPUT_ERRORS = new Set<string>([ErrorType.InvalidBackupInput, ErrorType.InvalidRestoreInput, ErrorType.InvalidBackupName]);

async function send(kind: NotifyKind, about: NotifyContext, outcome: Outcome): Promise<void> {
  const info = workflowInfo();
  const event: NotifyEvent = {
    kind,
    outcome: outcome.outcome === 'success' ? 'success' : 'failure',
    workflow_type: info.workflowType,
    workflow_id: info.workflowId,
    run_id: info.runId,
    status: outcome.status,
    backup_file: about.backup_file,
    error: outcome.error ?? null,
    ...(outcome.summary ? { summary: outcome.summary } : {}),
  };
  // Sent even when the run is being cancelled while it fails: the failure still happened.
  await CancellationScope.nonCancellable(() => notifying.notify(event)).catch((err: unknown) => {
    log.warn('notification not delivered; the run ends as it would have', { error: errorInfo(err).message });
  });
}

/** How a restore ended, for withNotification: rolled back or failed is a failure; cancelled and expired changed nothing and are not notified. */
export function restoreOutcome(r: Pick<RestoreResult, 'status' | 'error' | 'restored_from'>): Outcome {
  if (r.status === 'success') return { outcome: 'success', status: 'success', summary: `restored from ${r.restored_from}` };
  if (r.status === 'rolled_back' || r.status === 'failed') return { outcome: 'failure', status: r.status, error: r.error };
  return { outcome: 'none', status: r.status };
}
