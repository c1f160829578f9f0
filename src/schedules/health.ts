// What is wrong with a schedule, as `fbb schedules list` reports and notifies it. Pure: the server's
// description in, the problems out.
import { ErrorType } from '../errors';

/** One schedule as the server describes it: the parts that can go wrong. */
export interface ScheduleState {
  id: string;
  applied: boolean;
  paused: boolean;
  /** The note of the last pause or unpause (a person's reason, or the server's own when it paused the schedule). */
  note: string | null;
  /** ScheduleDescription.info.numActionsMissedCatchupWindow: runs dropped because they were due longer ago than the catch-up window. */
  missedCatchupWindow: number;
}

/** A problem worth a notification. */
export interface ScheduleProblem {
  schedule_id: string;
  type: typeof ErrorType.SchedulePaused | typeof ErrorType.ScheduleMissedRuns;
  message: string;
}

/** The Temporal server's note when it paused a schedule itself (policy pauseOnFailure: a run failed or timed out). */
const PAUSED_BY_SERVER = /^paused due to workflow/i;

/**
 * The problems: a schedule the server paused because a run failed (a pause by a person is shown
 * in the list, not reported), and runs missed beyond the catch-up window (the server or the
 * schedule was down longer than it). The missed count never goes down: it is reported until the
 * schedule is applied again (`fbb schedules delete` then `apply` resets it).
 */
export function scheduleProblems(states: readonly ScheduleState[]): ScheduleProblem[] {
  const problems: ScheduleProblem[] = [];
  for (const s of states) {
    if (!s.applied) continue;
    if (s.paused && PAUSED_BY_SERVER.test(s.note ?? '')) {
      problems.push({
        schedule_id: s.id,
        type: ErrorType.SchedulePaused,
        message: `schedule ${s.id} was paused by the Temporal server after a run failed ("${s.note}"); no scheduled run starts until it is unpaused: find and fix the failure (fbb history --type backup), then "fbb schedules unpause ${s.id}"`,
      });
    }
    if (s.missedCatchupWindow > 0) {
      const runs = s.missedCatchupWindow === 1 ? '1 run' : `${s.missedCatchupWindow} runs`;
      problems.push({
        schedule_id: s.id,
        type: ErrorType.ScheduleMissedRuns,
        message: `schedule ${s.id} missed ${runs}: each was due longer ago than its catch-up window (1 day) when the Temporal server could start it, so it never ran; make one now with "fbb schedules trigger ${s.id}" and keep the server up`,
      });
    }
  }
  return problems;
}
