// The continuous WAL archive of one database server: runs the archiving activity session after
// session (pg_receivewal + archiver on a worker, restarted by its retry policy after a crash),
// notifies when archiving stops, and continues as new before its history grows large. Stopped by
// the stopWalArchive signal (`fbb wal stop`), which cancels the running session cleanly.
import { ActivityCancellationType } from '@temporalio/common';
import { CancellationScope, condition, continueAsNew, defineQuery, defineSignal, isCancellation, log, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { NotifyEvent } from '../activities/notify';
import type { WalSettings } from '../activities/wal';
import type { WalHeartbeat } from '../activities/wal/session';
import { ErrorType } from '../errors';
import { errorInfo } from './pipeline';
import { notifying, quick } from './proxies';

/** What starts (or continues) the archive; nothing secret: the worker reads its settings. */
export interface ArchiveWalInput {
  /** How long one pg_receivewal session runs before it is restarted (default 6 hours). */
  session_seconds?: number;
  /** Sessions per run before it continues as new (default 200: each session is a handful of events). */
  sessions_per_run?: number;
  /** Carried over continue-as-new. */
  carried?: { started_at: string; last: WalHeartbeat | null; sessions_total: number };
}

/** The archive's state as the workflow knows it (the running session's progress is in its heartbeat). */
export interface WalWorkflowStatus {
  state: 'starting' | 'archiving' | 'retrying' | 'stopping' | 'stopped';
  settings: WalSettings | null;
  started_at: string;
  /** Sessions finished, over every run of this workflow ID. */
  sessions_total: number;
  /** What the last finished session reported. */
  last: WalHeartbeat | null;
  /** The failure that ended the last attempt, while the archive is retrying. */
  last_error: { type: string; message: string; at: string } | null;
  stop_requested: boolean;
}

/** How the archive ended: only ever stopped on request. */
export interface ArchiveWalResult {
  state: 'stopped';
  slot: string | null;
  slot_dropped: boolean;
  last: WalHeartbeat | null;
}

/** `fbb wal stop`: stop after the running session archived what pg_receivewal flushed; with drop_slot, drop the slot too. */
export const stopWalArchive = defineSignal<[{ drop_slot?: boolean }?]>('stopWalArchive');
/** `fbb wal status`. */
export const walStatusQuery = defineQuery<WalWorkflowStatus>('walStatus');

const SESSIONS_PER_RUN = 200;
const DEFAULT_SESSION_SECONDS = 6 * 3600;

/** The WAL archive workflow; see the file's comment. */
export async function archiveWal(input: ArchiveWalInput = {}): Promise<ArchiveWalResult> {
  const status: WalWorkflowStatus = {
    state: 'starting',
    settings: null,
    started_at: input.carried?.started_at ?? new Date().toISOString(),
    sessions_total: input.carried?.sessions_total ?? 0,
    last: input.carried?.last ?? null,
    last_error: null,
    stop_requested: false,
  };
  let dropSlot = false;
  let session: CancellationScope | undefined;
  setHandler(walStatusQuery, () => status);
  setHandler(stopWalArchive, (options) => {
    status.stop_requested = true;
    dropSlot ||= options?.drop_slot === true;
    session?.cancel();
  });

  const settings = await quick.walSettings();
  status.settings = settings;
  const sessionSeconds = input.session_seconds ?? DEFAULT_SESSION_SECONDS;
  const tuning = settings.activity_tuning;
  const archiving = proxyActivities<Activities>({
    startToCloseTimeout: (sessionSeconds + 600) * 1000,
    heartbeatTimeout: (tuning.heartbeat_timeout_seconds ?? 30) * 1000,
    retry: { initialInterval: (tuning.retry_interval_seconds ?? 5) * 1000, backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 10 },
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  });
  let notified = false;
  let sessions = 0;
  while (!status.stop_requested) {
    if (sessions >= (input.sessions_per_run ?? SESSIONS_PER_RUN) || workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof archiveWal>({ ...input, carried: { started_at: status.started_at, last: status.last, sessions_total: status.sessions_total } });
    }
    status.state = 'archiving';
    session = new CancellationScope();
    try {
      const result = await session.run(() => archiving.archiveWalSession({ session_seconds: sessionSeconds }));
      status.last = result;
      status.last_error = null;
      notified = false;
      if (result.ended === 'stopped') break;
    } catch (err) {
      if (isCancellation(err) && status.stop_requested) break;
      status.state = 'retrying';
      status.last_error = { ...errorInfo(err), at: new Date().toISOString() };
      if (!notified && settings.notify.enabled) await notifyStopped(status.last_error);
      notified = true;
      // Once its retries are spent, the session starts again a minute later, until stopped.
      await condition(() => status.stop_requested, '1 minute');
    } finally {
      session = undefined;
    }
    sessions++;
    status.sessions_total++;
  }
  status.state = 'stopping';
  const dropped = dropSlot ? (await quick.dropWalSlot()).dropped : false;
  status.state = 'stopped';
  return { state: 'stopped', slot: settings.slot, slot_dropped: dropped, last: status.last };
}

/** Tells the webhooks that archiving stopped (once per outage); a notification that fails is logged and dropped. */
async function notifyStopped(error: { type: string; message: string }): Promise<void> {
  const info = workflowInfo();
  const event: NotifyEvent = {
    kind: 'wal',
    outcome: 'failure',
    workflow_type: info.workflowType,
    workflow_id: info.workflowId,
    run_id: info.runId,
    status: 'stopped',
    backup_file: null,
    error: { type: error.type === ErrorType.WalPrerequisiteMissing ? error.type : ErrorType.WalArchiveFailed, message: `WAL archiving stopped and is retried every minute: ${error.message}` },
  };
  await CancellationScope.nonCancellable(() => notifying.notify(event)).catch((err: unknown) => {
    log.warn('notification not delivered', { error: errorInfo(err).message });
  });
}
