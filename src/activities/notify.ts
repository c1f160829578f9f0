// Notifications: a JSON POST to each NOTIFY_WEBHOOK_URL when a run fails (or, with
// NOTIFY_ON=always, succeeds). The URLs are secrets (tokens in paths and queries): the worker reads
// them from its environment, and only their hosts ever appear in messages and logs.
import os from 'node:os';
import { Context } from '@temporalio/activity';
import type { Config } from '../config';
import { ErrorType, transient } from '../errors';

/** What the workflow tells: never a URL, never a secret. */
export interface NotifyEvent {
  /** schedule: a schedule paused by a failure or with runs missed (`fbb schedules list`); workflow_id is the schedule's ID. */
  kind: 'backup' | 'restore' | 'drill' | 'test' | 'schedule' | 'wal';
  /** failure covers a restore that ended rolled_back, cancelled or expired. */
  outcome: 'failure' | 'success';
  workflow_type: string;
  workflow_id: string;
  run_id: string;
  /** How the run ended, e.g. failed, rolled_back, success, passed. */
  status: string;
  backup_file: string | null;
  error: { type: string; message: string } | null;
  /** A line about what succeeded (success only). */
  summary?: string;
}

/** The JSON body each webhook gets; `text` is for chat webhooks (Slack, ntfy, Discord's /slack). */
export interface NotifyBody extends NotifyEvent {
  text: string;
  database: string;
  worker_host: string;
  next_step: string | null;
  sent_at: string;
  source: 'family-brain-backup';
}

/** What was sent: the hosts that took it, and why nothing was (not configured, or NOTIFY_ON). */
export interface NotifyResult {
  delivered: string[];
  skipped: string | null;
}

// What to do next, per error type; the message itself often says more.
const NEXT: Record<string, string> = {
  [ErrorType.DatabaseUnreachable]: 'check that the database server is up and the worker can log in (fbb doctor), then run it again',
  [ErrorType.DatabaseBusy]: 'another backup or restore holds the lock: wait for it (fbb status), then run it again',
  [ErrorType.BackupDirFull]: 'free space in BACKUP_DIR (or point it elsewhere), then run the backup again',
  [ErrorType.BackupDirNotWritable]: 'make BACKUP_DIR writable by the worker, then run the backup again',
  [ErrorType.BackupVerificationFailed]: 'the backup did not restore to what was dumped and was set aside: run fbb doctor and make a new backup',
  [ErrorType.UploadFailed]: 'check S3 credentials and reachability (fbb doctor); the local backup is kept and verified',
  [ErrorType.DrillFailed]: 'do not rely on this backup: make a new one (fbb backup --upload-to-s3) and run fbb drill',
  [ErrorType.BackupCorrupted]: 'this copy is damaged: make a new backup (fbb backup --upload-to-s3) and run fbb drill',
  [ErrorType.RollbackFailed]: 'check the database by hand now: the pre-restore backup and the databases kept aside are named in fbb status',
  [ErrorType.RestoreVerificationFailed]: 'the live database was put back as it was; pick another backup with fbb list',
  [ErrorType.SchedulePaused]: 'find why its last run failed (fbb history --type backup), fix it, then fbb schedules unpause <name>',
  [ErrorType.ScheduleMissedRuns]: 'make a backup now (fbb schedules trigger <name>), and keep the Temporal server and the worker up',
  [ErrorType.WalArchiveFailed]: 'run fbb wal status and fbb doctor; check the worker and the database server (the slot keeps the WAL until the archive resumes, up to max_slot_wal_keep_size)',
  [ErrorType.WalPrerequisiteMissing]: 'fix the database server\'s settings as fbb doctor says, then fbb wal start',
};

/** The next step for a failed run of `kind`. */
export function nextStep(event: Pick<NotifyEvent, 'kind' | 'outcome' | 'error' | 'workflow_id'>): string | null {
  if (event.outcome === 'success') return null;
  const known = event.error ? NEXT[event.error.type] : undefined;
  if (known === undefined && event.kind === 'schedule') return 'fbb schedules list shows every schedule and its problems';
  return known ?? `look at the run: fbb history --type ${event.kind === 'test' || event.kind === 'schedule' ? 'backup' : event.kind}, or the Web UI for ${event.workflow_id}; then fbb doctor`;
}

/** The body as sent. */
export function notificationBody(config: Config, event: NotifyEvent, now = new Date()): NotifyBody {
  const database = config.database.database;
  const next = nextStep(event);
  const what = event.kind === 'test' ? 'test notification' : event.kind === 'schedule' ? `schedule ${event.workflow_id} of ${database}` : `${event.kind === 'drill' ? 'restore drill' : event.kind === 'wal' ? 'WAL archive' : event.kind} of ${database}`;
  const text =
    event.kind === 'test'
      ? `fbb: test notification from ${os.hostname()} for database ${database}: webhooks work`
      : event.outcome === 'failure'
        ? [
            `fbb: ${what} ${event.status === 'failed' ? 'FAILED' : event.status.toUpperCase().replace(/_/g, ' ')}${event.backup_file ? ` (${event.backup_file})` : ''}`,
            event.error ? `${event.error.type}: ${event.error.message}` : null,
            next ? `Next: ${next}` : null,
            `Workflow: ${event.workflow_id}`,
          ]
            .filter((l) => l !== null)
            .join('\n')
        : `fbb: ${what} succeeded${event.backup_file ? ` (${event.backup_file})` : ''}${event.summary ? `: ${event.summary}` : ''}. Workflow: ${event.workflow_id}`;
  return { ...event, text, database, worker_host: os.hostname(), next_step: next, sent_at: now.toISOString(), source: 'family-brain-backup' };
}

/** A URL as it may be shown: its host only (the path and query often hold a token). */
export function webhookHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '(unparseable URL)';
  }
}

/**
 * POSTs the event to every configured webhook that has not taken it yet (an earlier attempt's
 * deliveries are in its heartbeat details, so a retry does not send twice). Any webhook that
 * failed fails the attempt with a retryable NotificationFailed naming hosts only.
 */
export async function sendNotification(config: Config, event: NotifyEvent, options: { force?: boolean; timeoutMs?: number } = {}): Promise<NotifyResult> {
  const urls = config.notify.webhookUrls;
  if (urls.length === 0) return { delivered: [], skipped: 'NOTIFY_WEBHOOK_URL is not set' };
  if (event.outcome === 'success' && config.notify.on !== 'always' && options.force !== true) return { delivered: [], skipped: 'NOTIFY_ON=failure' };
  const ctx = activityContext();
  const done = new Set<number>(((ctx?.info.heartbeatDetails as { delivered?: number[] } | undefined)?.delivered ?? []).filter((i) => Number.isInteger(i)));
  const body = JSON.stringify(notificationBody(config, event));
  const failures: string[] = [];
  for (const [i, url] of urls.entries()) {
    if (done.has(i)) continue;
    const host = webhookHost(url);
    try {
      const signals = [AbortSignal.timeout(options.timeoutMs ?? 10_000), ...(ctx ? [ctx.cancellationSignal] : [])];
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.any(signals), redirect: 'error' });
      await res.arrayBuffer().catch(() => undefined);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      done.add(i);
      ctx?.heartbeat({ delivered: [...done] });
    } catch (err) {
      // fetch's messages can quote the URL: only our own words and the host go further.
      const why = err instanceof Error && /^HTTP \d+$/.test(err.message) ? err.message : errorCode(err);
      failures.push(`${host} (${why})`);
    }
  }
  if (failures.length > 0) {
    throw transient(ErrorType.NotificationFailed, `the notification about ${event.workflow_id} was not taken by ${failures.join(', ')}; check the receiver (fbb doctor --notify-test sends a test)`);
  }
  return { delivered: urls.map(webhookHost), skipped: null };
}

/** A failure's short code (ECONNREFUSED, TimeoutError, ...), never its message. */
function errorCode(err: unknown): string {
  const e = err as { name?: string; code?: string; cause?: { code?: string; name?: string } };
  return e.cause?.code ?? e.code ?? (e.name === 'TimeoutError' || e.name === 'AbortError' ? 'no answer in time' : (e.cause?.name ?? e.name ?? 'error'));
}

function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

/** The notification activity: the workflow passes the event, the worker adds its webhooks. */
export function createNotifyActivities(config: Config) {
  return {
    async notify(event: NotifyEvent): Promise<NotifyResult> {
      return sendNotification(config, event);
    },
  };
}
