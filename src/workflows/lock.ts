// One backup or restore per database at a time, as the workflows take it: a lock workflow on the
// Temporal server (workers that share no directory), or the file lock in BACKUP_DIR (--local).
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  defineQuery,
  defineSignal,
  ParentClosePolicy,
  patched,
  setHandler,
  sleep,
  startChild,
  WorkflowIdReusePolicy,
  workflowInfo,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { BackupSettings, TemporalLockHolder } from '../activities/backup';
import { quick } from './proxies';
import { ErrorType } from '../errors';

/** Ends a databaseLock workflow: its holder is done. */
export const releaseDatabaseLock = defineSignal('releaseDatabaseLock');
/** Who holds a databaseLock workflow. */
export const lockHolderQuery = defineQuery<TemporalLockHolder>('holder');

/**
 * The lock workflow's ID for `database` on `server` ("<host>:<port>"): one running workflow per ID is
 * what the server guarantees. Without a server, the ID earlier versions used (the name alone: two
 * servers with a database of the same name shared it).
 */
export const lockWorkflowId = (database: string, server?: string) => (server === undefined ? `fbb-lock-${database}` : `fbb-lock-${database}@${server}`);

/** The patch under which the lock is keyed on the server as well as the database's name. */
export const LOCK_KEYED_ON_SERVER = 'lock-keyed-on-server';

/** How long a run waits for the server to end a lock whose holder has closed (parent close policy TERMINATE). */
const CLOSED_HOLDER_WAIT_ROUNDS = 15;

/**
 * The Temporal-native lock of one database: a child workflow of its holder, with the fixed ID
 * fbb-lock-<database>@<host>:<port>. It runs until its holder signals releaseDatabaseLock; if the holder is
 * terminated or times out, the server terminates it (ParentClosePolicy TERMINATE).
 */
export async function databaseLock(holder: TemporalLockHolder): Promise<void> {
  let released = false;
  setHandler(lockHolderQuery, () => holder);
  setHandler(releaseDatabaseLock, () => {
    released = true;
  });
  await condition(() => released);
}

/**
 * Runs `fn` holding the database's lock, and releases it however `fn` ends (a cancellation
 * included). The one place the workflows take the lock. `settings.lock` (from the worker) picks
 * the kind; without settings, or in histories from before it existed, the file lock.
 */
export async function withDatabaseLock<T>(kind: 'backup' | 'restore', fn: () => Promise<T>, settings?: Pick<BackupSettings, 'database' | 'lock' | 'server'>): Promise<T> {
  if (settings?.lock === 'temporal') return withTemporalLock(kind, settings, fn);
  const { workflowId } = workflowInfo();
  await quick.acquireBackupLock({ workflow_id: workflowId, kind });
  try {
    return await fn();
  } finally {
    await CancellationScope.nonCancellable(() => quick.releaseBackupLock(workflowId));
  }
}

/** withDatabaseLock with the lock workflow; then the leftovers of dead runs are cleaned as the file lock's taker does. */
async function withTemporalLock<T>(kind: 'backup' | 'restore', settings: Pick<BackupSettings, 'database' | 'server'>, fn: () => Promise<T>): Promise<T> {
  const { workflowId, runId } = workflowInfo();
  const { database, server } = settings;
  const holder: TemporalLockHolder = { workflow_id: workflowId, run_id: runId, kind, since: new Date().toISOString() };
  // Runs started before this version held (and replay) the lock keyed on the name alone.
  const keyed = server !== undefined && patched(LOCK_KEYED_ON_SERVER);
  // Started outside the run's cancellation scope: cancelling the run must not end the lock while
  // its activities still stop their children; the finally below releases it.
  const lock = await CancellationScope.nonCancellable(() => takeLock(lockWorkflowId(database, keyed ? server : undefined), database, holder));
  try {
    // While workers of both versions run, a run of the older one holds the name-only lock.
    if (keyed) await refuseOlderHolder(database);
    await quick.cleanBeforeRun(holder);
    return await fn();
  } finally {
    await CancellationScope.nonCancellable(async () => {
      // Waiting for the lock to end means the next run, started right after this one, finds it free.
      await lock.signal(releaseDatabaseLock).catch(() => undefined);
      await lock.result().catch(() => undefined);
    });
  }
}

/** DatabaseBusy when a run of an older version holds the lock keyed on the database's name alone. */
async function refuseOlderHolder(database: string): Promise<void> {
  const id = lockWorkflowId(database);
  const older = await quick.describeDatabaseLock(id);
  if (!older.holder_running) return;
  throw busy(database, id, older);
}

/** Starts the lock workflow `id`; a running one whose holder runs means DatabaseBusy, naming the holder. */
async function takeLock(id: string, database: string, holder: TemporalLockHolder): Promise<ChildWorkflowHandle<typeof databaseLock>> {
  for (let round = 0; ; round++) {
    try {
      return await startChild(databaseLock, {
        workflowId: id,
        args: [holder],
        memo: { holder },
        parentClosePolicy: ParentClosePolicy.TERMINATE,
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      const current = await quick.describeDatabaseLock(id);
      if (current.holder_running || round >= CLOSED_HOLDER_WAIT_ROUNDS) throw busy(database, id, current);
      // The holder has closed and the server is ending its lock (or it just did): try again shortly.
      await sleep('1 second');
    }
  }
}

/** The DatabaseBusy failure naming the run that holds lock `id`. */
function busy(database: string, id: string, current: { holder: TemporalLockHolder | null; holder_running: boolean }): ApplicationFailure {
  const other = current.holder;
  const who = other ? `workflow ${other.workflow_id}, run ${other.run_id}, since ${other.since}` : `lock workflow ${id}`;
  return ApplicationFailure.create({
    type: ErrorType.DatabaseBusy,
    nonRetryable: true,
    message:
      `a ${other?.kind ?? 'backup or restore'} of database "${database}" is already running (${who}); wait for it to finish` +
      `${other ? ` (fbb status ${other.workflow_id})` : ''}` +
      (current.holder_running ? '' : `; its holder has ended but the lock did not: end it with "temporal workflow terminate --workflow-id ${id}"`),
  });
}
