// Every activity proxy the workflows use, with its timeouts and retry policy, in one place.
import { ActivityCancellationType, type ActivityOptions } from '@temporalio/common';
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';

/**
 * A worker's overrides of the activity timeouts (ACTIVITY_HEARTBEAT_TIMEOUT_SECONDS,
 * ACTIVITY_RETRY_INTERVAL_SECONDS): how soon a dead worker's activity is noticed and retried
 * elsewhere. Unset (and in histories from before they existed) means the values below.
 */
export interface ActivityTuning {
  heartbeat_timeout_seconds?: number | null;
  retry_interval_seconds?: number | null;
}

/** Settings, locks and records: short, no heartbeats; also what reads the tuning, so it cannot be tuned. */
export const quick = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
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

/** Listing the catalogue. */
export const catalog = proxyActivities<Activities>({
  startToCloseTimeout: '5 minutes',
  retry: { maximumAttempts: 3, initialInterval: '2 seconds' },
});

/** The long-running activities' policies, with a worker's tuning applied. */
export function longActivities(tuning: ActivityTuning = {}) {
  const tuned = (options: ActivityOptions): ActivityOptions => ({
    ...options,
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
    /** Putting the old database back is the last line of defence: try hard. */
    rollingBack: proxy({
      startToCloseTimeout: '6 hours',
      heartbeatTimeout: '2 minutes',
      retry: { maximumAttempts: 10, initialInterval: '5 seconds', maximumInterval: '2 minutes' },
    }),
  };
}

/** The long-running activity proxies, as longActivities returns them. */
export type LongActivities = ReturnType<typeof longActivities>;
