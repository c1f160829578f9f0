// Every activity proxy the workflows use, with its timeouts and retry policy, in one place.
import { ActivityCancellationType, TimeoutType, type ActivityOptions } from '@temporalio/common';
import { ActivityFailure, ApplicationFailure, log, proxyActivities, TimeoutFailure } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { ErrorType } from '../errors';

/**
 * A worker's overrides of the activity timeouts (ACTIVITY_HEARTBEAT_TIMEOUT_SECONDS,
 * ACTIVITY_RETRY_INTERVAL_SECONDS): how soon a dead worker's activity is noticed and retried
 * elsewhere. Unset (and in histories from before they existed) means the values below.
 */
export interface ActivityTuning {
  heartbeat_timeout_seconds?: number | null;
  retry_interval_seconds?: number | null;
  /** WORKER_LOST_AFTER_SECONDS: how long an activity sent to one worker's own queue waits for that worker to start it. */
  worker_lost_seconds?: number | null;
}

/** Unless tuned: a worker that has not started an activity sent to it within this time is taken for lost. */
export const WORKER_LOST_AFTER_MS = 60_000;

/** How many times a run moves to another worker after losing the one with its file, before it fails with WorkerLost. */
export const MAX_WORKER_MOVES = 3;

/**
 * Settings, locks and records: short (what may take seconds, the sweep of leftovers, heartbeats); also
 * what reads the tuning, so it cannot be tuned. The heartbeat timeout retries an attempt whose worker
 * died within 15 s: with the start-to-close limit alone, a restore whose worker was SIGKILLed while it
 * recorded the pre-restore backup waited 2 minutes (the soak, seed 2525, cycle 119: 136.7 s).
 */
export const quick = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '15 seconds',
  retry: { maximumAttempts: 3, initialInterval: '2 seconds', backoffCoefficient: 2 },
});

/** Doctor's checks report problems as data; a retry only helps with the unexpected (a crash mid-check). */
export const checks = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 2, initialInterval: '1 second' },
});

/**
 * Notifications: a few quick attempts with backoff and a bounded total (about a minute and a half),
 * so a receiver that is down delays the end of a failed run briefly and never fails it: the
 * workflow catches this activity's last failure (workflows/notify.ts).
 */
export const notifying = proxyActivities<Activities>({
  startToCloseTimeout: '20 seconds',
  scheduleToCloseTimeout: '90 seconds',
  retry: { maximumAttempts: 4, initialInterval: '1 second', backoffCoefficient: 3, maximumInterval: '20 seconds' },
});

/**
 * Listing the catalogue (a large S3 bucket takes a while): the activities heartbeat, so that a worker
 * killed while it lists is retried on another in seconds, not after the 5 minutes (soak seed 1313: a
 * drill waited 300 s for its pick after its worker was SIGKILLed).
 */
export const catalog = proxyActivities<Activities>({
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { maximumAttempts: 3, initialInterval: '2 seconds' },
});

/**
 * The long-running activities' policies, with a worker's tuning applied. With `workerQueue` (a
 * worker's own task queue, which only that worker polls) they run on that worker, and an attempt
 * that worker does not start within WORKER_LOST_AFTER_SECONDS fails with a SCHEDULE_TO_START timeout.
 */
function activityGroups(tuning: ActivityTuning, workerQueue?: string) {
  const tuned = (options: ActivityOptions): ActivityOptions => ({
    ...options,
    ...(workerQueue ? { taskQueue: workerQueue, scheduleToStartTimeout: tuning.worker_lost_seconds ? tuning.worker_lost_seconds * 1000 : WORKER_LOST_AFTER_MS } : {}),
    ...(tuning.heartbeat_timeout_seconds ? { heartbeatTimeout: tuning.heartbeat_timeout_seconds * 1000 } : {}),
    retry: { ...options.retry, ...(tuning.retry_interval_seconds ? { initialInterval: tuning.retry_interval_seconds * 1000 } : {}) },
  });
  const proxy = (options: ActivityOptions) => proxyActivities<Activities>(tuned(options));
  // A cancelled run waits until the activity has stopped its child (pg_dump, psql) and removed its
  // files: otherwise, on a server, the run closes and releases the lock while pg_dump still writes,
  // or a rollback starts while a swap is still renaming.
  const waits = { cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED };
  return {
    /** Dry-run planning, pruning, retracting an upload. */
    housekeeping: proxy({
      startToCloseTimeout: '15 minutes',
      heartbeatTimeout: '2 minutes',
      retry: { maximumAttempts: 3, initialInterval: '10 seconds', backoffCoefficient: 2 },
    }),
    dumping: proxy({
      ...waits,
      startToCloseTimeout: '6 hours',
      heartbeatTimeout: '1 minute',
      retry: { maximumAttempts: 3, initialInterval: '30 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes' },
    }),
    verifying: proxy({
      ...waits,
      startToCloseTimeout: '6 hours',
      heartbeatTimeout: '1 minute',
      retry: { maximumAttempts: 2, initialInterval: '30 seconds' },
    }),
    uploading: proxy({
      ...waits,
      startToCloseTimeout: '6 hours',
      heartbeatTimeout: '2 minutes',
      retry: { maximumAttempts: 5, initialInterval: '10 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes' },
    }),
    /** A restore's checks of the backup (an S3 one is fetched first). */
    validating: proxy({
      startToCloseTimeout: '2 hours',
      heartbeatTimeout: '2 minutes',
      retry: { maximumAttempts: 3, initialInterval: '10 seconds' },
    }),
    restoring: proxy({
      ...waits,
      startToCloseTimeout: '6 hours',
      heartbeatTimeout: '2 minutes',
      retry: { maximumAttempts: 2, initialInterval: '30 seconds' },
    }),
    /** The swap and the check of the live database. */
    switching: proxy({
      ...waits,
      startToCloseTimeout: '1 hour',
      heartbeatTimeout: '2 minutes',
      retry: { maximumAttempts: 3, initialInterval: '5 seconds' },
    }),
    /**
     * Putting the old database back is the last line of defence: it retries (every 5 minutes at
     * most) for a day, through a database server that is down or restarting, until it succeeds or
     * meets a failure that retrying cannot fix.
     */
    rollingBack: proxy({
      startToCloseTimeout: '6 hours',
      scheduleToCloseTimeout: '24 hours',
      heartbeatTimeout: '2 minutes',
      retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes' },
    }),
  };
}

/** The long-running activity proxies by policy. */
export type ActivityGroups = ReturnType<typeof activityGroups>;

/** The long-running activities (on any worker), and the same bound to one worker. */
export interface LongActivities extends ActivityGroups {
  /** The activities sent to the worker whose own queue is `workerQueue`; undefined (no such queue: --local, older workers) means any worker. */
  onWorker(workerQueue: string | undefined): ActivityGroups;
  /**
   * The activities sent to `workerQueue`'s worker; when that worker is lost (it does not start an
   * attempt in time, or stops heartbeating until the retries are spent), `relocate` finds another
   * worker with the file (its own queue) and the call runs there; after MAX_WORKER_MOVES, WorkerLost.
   */
  following(workerQueue: string | undefined, relocate: () => Promise<string | undefined>): ActivityGroups;
}

/** The long-running activities' policies, with a worker's tuning applied. */
export function longActivities(tuning: ActivityTuning = {}): LongActivities {
  return {
    ...activityGroups(tuning),
    onWorker: (workerQueue) => activityGroups(tuning, workerQueue),
    following: (workerQueue, relocate) => follow(tuning, workerQueue, relocate),
  };
}

/** True when `err` says the worker an activity was sent to is gone: not started in time, or silent until its retries ran out. */
export function workerLost(err: unknown): boolean {
  return (
    err instanceof ActivityFailure &&
    err.cause instanceof TimeoutFailure &&
    (err.cause.timeoutType === TimeoutType.SCHEDULE_TO_START || err.cause.timeoutType === TimeoutType.HEARTBEAT)
  );
}

/** The WorkerLost failure: the run gave up moving between workers. */
export function workerLostFailure(what: string, workerQueue: string | undefined, cause: unknown): ApplicationFailure {
  return ApplicationFailure.create({
    type: ErrorType.WorkerLost,
    nonRetryable: true,
    message:
      `${what}: the worker holding its file (queue ${workerQueue ?? 'unknown'}) was lost, and the run moved to another worker ${MAX_WORKER_MOVES} times without finishing; ` +
      'check that the workers are running and healthy (fbb doctor, their logs), then start the run again',
    cause: cause instanceof Error ? cause : undefined,
  });
}

/** activityGroups bound to a worker that can be replaced (see LongActivities.following). */
function follow(tuning: ActivityTuning, first: string | undefined, relocate: () => Promise<string | undefined>): ActivityGroups {
  let workerQueue = first;
  let moves = 0;
  const call = async (group: string, name: string, args: unknown[]): Promise<unknown> => {
    for (;;) {
      const groups = activityGroups(tuning, workerQueue) as unknown as Record<string, Record<string, (...a: unknown[]) => Promise<unknown>>>;
      try {
        return await groups[group]![name]!(...args);
      } catch (err) {
        if (workerQueue === undefined || !workerLost(err)) throw err;
        if (++moves > MAX_WORKER_MOVES) throw workerLostFailure(`${name} did not finish`, workerQueue, err);
        log.warn('the worker holding the file was lost; moving to another worker', { activity: name, workerQueue, move: moves });
        workerQueue = await relocate();
      }
    }
  };
  const groups = activityGroups(tuning);
  return Object.fromEntries(
    Object.keys(groups).map((group) => [group, new Proxy({}, { get: (_target, name) => (...args: unknown[]) => call(group, String(name), args) })]),
  ) as ActivityGroups;
}
