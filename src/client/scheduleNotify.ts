// `fbb schedules list` tells the webhooks about a schedule's problems (src/schedules/health.ts),
// with the notification the workflows send (src/activities/notify.ts), from where fbb runs.
import { sendNotification, type NotifyEvent } from '../activities/notify';
import type { Config } from '../config';
import type { ScheduleProblem } from '../schedules/health';

/** The event for one problem: kind "schedule", the schedule's ID where a run's workflow ID would be. */
export function scheduleEvent(problem: ScheduleProblem): NotifyEvent {
  return {
    kind: 'schedule',
    outcome: 'failure',
    workflow_type: 'schedule',
    workflow_id: problem.schedule_id,
    run_id: '',
    status: problem.type === 'SchedulePaused' ? 'paused' : 'missed_runs',
    backup_file: null,
    error: { type: problem.type, message: problem.message },
  };
}

/** Notifies each problem (nothing without NOTIFY_WEBHOOK_URL); returns a line per notification not delivered, naming hosts only. */
export async function notifySchedules(config: Config, problems: readonly ScheduleProblem[]): Promise<string[]> {
  const undelivered: string[] = [];
  for (const problem of problems) {
    await sendNotification(config, scheduleEvent(problem)).catch((err: unknown) => undelivered.push(`notification not delivered: ${err instanceof Error ? err.message : String(err)}`));
  }
  return undelivered;
}
