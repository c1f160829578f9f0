import {
  ApplicationFailure,
  defaultFailureConverter,
  defaultPayloadConverter,
  RetryState,
  encodeRetryState,
  type Logger,
  type ProtoFailure,
  type Payload,
} from '@temporalio/common';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import { coresdk } from '@temporalio/proto';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { Clock } from './clock';

type ActivityFn = (...args: unknown[]) => Promise<unknown>;
type Resolution = coresdk.activity_result.ActivityResolution.$Properties;
type ScheduleActivity = coresdk.workflow_commands.ScheduleActivity.$Properties;

/** One attempt of one activity, as the tests and the CLI's progress line see it. */
export interface ActivityAttempt {
  activityType: string;
  activityId: string;
  attempt: number;
  outcome: 'completed' | 'failed' | 'cancelled' | 'timed_out';
  error?: string;
}

/** What the runner knows about the workflow an activity belongs to. */
export interface ActivityScope {
  workflowId: string;
  runId: string;
  workflowType: string;
  taskQueue: string;
  namespace: string;
}

/** Safety net for the virtual clock: unlimited retries would otherwise spin without sleeping. */
const UNLIMITED_ATTEMPTS_CAP = 50;

/**
 * Runs one scheduled activity to its resolution in this process, the way the Temporal server and
 * an activity worker would together: attempts, backoff, non-retryable types, start-to-close and
 * heartbeat timeouts, and cancellation passed on to the activity through its Context.
 */
export class ActivityRun {
  private env: MockActivityEnvironment | undefined;
  private cancelRequested = false;
  lastHeartbeat: unknown;

  constructor(
    private readonly command: ScheduleActivity,
    private readonly fn: ActivityFn | undefined,
    private readonly scope: ActivityScope,
    private readonly clock: Clock,
    private readonly onAttempt: (attempt: ActivityAttempt) => void,
    private readonly logger: Logger,
  ) {}

  get activityType(): string {
    return this.command.activityType ?? '';
  }

  /** True when the workflow asked to learn of the cancellation only once the activity has stopped. */
  get waitsForCancellation(): boolean {
    return this.command.cancellationType === coresdk.workflow_commands.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED;
  }

  /** Asks the running attempt to stop (its cancellationSignal fires) and stops further attempts. */
  cancel(): void {
    this.cancelRequested = true;
    this.env?.cancel('CANCELLED');
  }

  /** Runs attempts until success, a non-retryable failure, exhausted attempts, or cancellation. */
  async run(): Promise<Resolution> {
    const policy = this.command.retryPolicy ?? {};
    const maxAttempts = policy.maximumAttempts || UNLIMITED_ATTEMPTS_CAP;
    const initialMs = optionalTsToMs(policy.initialInterval) ?? 1000;
    const coefficient = policy.backoffCoefficient || 2;
    const maxIntervalMs = optionalTsToMs(policy.maximumInterval) ?? initialMs * 100;
    const nonRetryable = new Set(policy.nonRetryableErrorTypes ?? []);
    const scheduleToCloseMs = optionalTsToMs(this.command.scheduleToCloseTimeout);
    const deadline = scheduleToCloseMs === undefined ? undefined : this.clock.now() + scheduleToCloseMs;

    for (let attempt = 1; ; attempt++) {
      const outcome = await this.attempt(attempt);
      if ('completed' in outcome) return { completed: { result: outcome.completed } };
      if ('cancelled' in outcome) return { cancelled: { failure: this.wrap(outcome.cancelled, RetryState.CANCEL_REQUESTED) } };

      const failure = outcome.failed;
      const info = failure.applicationFailureInfo;
      if (info && (info.nonRetryable || nonRetryable.has(info.type ?? ''))) {
        return { failed: { failure: this.wrap(failure, RetryState.NON_RETRYABLE_FAILURE) } };
      }
      if (attempt >= maxAttempts) {
        return { failed: { failure: this.wrap(failure, RetryState.MAXIMUM_ATTEMPTS_REACHED) } };
      }
      const backoffMs = Math.min(initialMs * coefficient ** (attempt - 1), maxIntervalMs);
      if (deadline !== undefined && this.clock.now() + backoffMs >= deadline) {
        return { failed: { failure: this.wrap(failure, RetryState.TIMEOUT) } };
      }
      await this.clock.sleep(backoffMs);
      if (this.cancelRequested) {
        return { cancelled: { failure: this.wrap({ message: 'Activity cancelled', canceledFailureInfo: {} }, RetryState.CANCEL_REQUESTED) } };
      }
    }
  }

  private async attempt(attempt: number): Promise<{ completed: Payload } | { failed: ProtoFailure } | { cancelled: ProtoFailure }> {
    const type = this.activityType;
    const activityId = this.command.activityId ?? String(this.command.seq);
    const record = (outcome: ActivityAttempt['outcome'], error?: string) =>
      this.onAttempt({ activityType: type, activityId, attempt, outcome, ...(error === undefined ? {} : { error }) });

    if (this.fn === undefined) {
      const failure = ApplicationFailure.create({
        type: 'ActivityNotRegistered',
        message: `activity "${type}" is not registered with the local runner; registered activities are listed in src/activities/index.ts`,
        nonRetryable: true,
      });
      record('failed', failure.message);
      return { failed: defaultFailureConverter.errorToFailure(failure, defaultPayloadConverter) };
    }
    if (this.cancelRequested) {
      record('cancelled');
      return { cancelled: { message: 'Activity cancelled', canceledFailureInfo: {} } };
    }

    const startToCloseMs = optionalTsToMs(this.command.startToCloseTimeout);
    const heartbeatMs = optionalTsToMs(this.command.heartbeatTimeout);
    const env = new MockActivityEnvironment({
      activityType: type,
      activityId,
      attempt,
      taskQueue: this.command.taskQueue ?? this.scope.taskQueue,
      workflowType: this.scope.workflowType,
      workflowNamespace: this.scope.namespace,
      workflowExecution: { workflowId: this.scope.workflowId, runId: this.scope.runId },
      heartbeatDetails: this.lastHeartbeat,
      ...(heartbeatMs === undefined ? {} : { heartbeatTimeoutMs: heartbeatMs }),
      ...(startToCloseMs === undefined ? {} : { startToCloseTimeoutMs: startToCloseMs }),
    }, { logger: this.logger });
    this.env = env;

    let timedOut: 'START_TO_CLOSE' | 'HEARTBEAT' | undefined;
    let lastBeat = Date.now();
    env.on('heartbeat', (details: unknown) => {
      lastBeat = Date.now();
      this.lastHeartbeat = details;
    });
    // Timeouts run on the wall clock: the activity really runs, whatever the workflow clock says.
    const timers: NodeJS.Timeout[] = [];
    if (startToCloseMs !== undefined) {
      timers.push(setTimeout(() => ((timedOut = 'START_TO_CLOSE'), env.cancel('TIMED_OUT')), startToCloseMs));
    }
    if (heartbeatMs !== undefined) {
      const check = setInterval(() => {
        if (Date.now() - lastBeat > heartbeatMs) {
          timedOut = 'HEARTBEAT';
          env.cancel('TIMED_OUT');
        }
      }, Math.max(10, Math.min(heartbeatMs / 4, 1000)));
      timers.push(check);
    }

    try {
      const args = this.command.arguments ?? [];
      const decoded = args.map((p) => defaultPayloadConverter.fromPayload(p));
      const result = await env.run(this.fn, ...decoded);
      record('completed');
      return { completed: defaultPayloadConverter.toPayload(result) };
    } catch (err) {
      if (timedOut !== undefined) {
        record('timed_out', `${timedOut} timeout`);
        return { failed: { message: `activity ${timedOut} timeout`, timeoutFailureInfo: { timeoutType: `TIMEOUT_TYPE_${timedOut}` as never } } };
      }
      if (this.cancelRequested) {
        record('cancelled');
        return { cancelled: defaultFailureConverter.errorToFailure(err, defaultPayloadConverter) };
      }
      record('failed', err instanceof Error ? `${err.name}: ${err.message}` : String(err));
      return { failed: defaultFailureConverter.errorToFailure(err, defaultPayloadConverter) };
    } finally {
      timers.forEach((t) => clearTimeout(t));
      this.env = undefined;
    }
  }

  /** The server wraps an activity's own failure in an ActivityFailure; workflows see that shape. */
  private wrap(cause: ProtoFailure, retryState: RetryState): ProtoFailure {
    return {
      message: 'Activity task failed',
      cause,
      activityFailureInfo: {
        activityType: { name: this.activityType },
        activityId: this.command.activityId ?? null,
        identity: 'local-runner',
        retryState: encodeRetryState(retryState) ?? null,
      },
    };
  }
}
