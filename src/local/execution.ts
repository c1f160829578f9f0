import { WorkflowFailedError } from '@temporalio/client';
import { CancelledFailure, RetryState, type ProtoFailure } from '@temporalio/common';
import { msNumberToTs, optionalTsToMs } from '@temporalio/common/lib/time';
import { coresdk } from '@temporalio/proto';
import type { Workflow } from '@temporalio/worker/lib/workflow/interface';
import { ActivityRun, type ActivityAttempt, type ActivityScope } from './activityRunner';
import type { Clock } from './clock';
import { drainSinks, failureToError, fromPayload, sinkToLogger, toPayload, UnsupportedCommandError, WorkflowTaskFailedError, type SinkLogger } from './protocol';

type Job = coresdk.workflow_activation.WorkflowActivationJob.$Properties;
type Command = coresdk.workflow_commands.WorkflowCommand.$Properties;
type ActivityFn = (...args: unknown[]) => Promise<unknown>;

interface ExecutionDeps {
  workflow: Workflow;
  scope: ActivityScope;
  clock: Clock;
  activities: Record<string, ActivityFn>;
  log: SinkLogger;
  onClose: () => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: Error };

/**
 * One workflow run driven in-process: activations are serialised, scheduled activities run for
 * real, timers fire on the clock, and signals, queries and cancellation are delivered as jobs.
 */
export class LocalWorkflowExecution {
  /** Every activity attempt, in the order they finished. */
  readonly attempts: ActivityAttempt[] = [];
  private readonly activities = new Map<number, ActivityRun>();
  private readonly timers = new Map<number, { fireAt: number; handle?: NodeJS.Timeout }>();
  private tail: Promise<void> = Promise.resolve();
  private pendingOps = 0;
  private skipTime = false;
  private outcome: Outcome | undefined;
  private settleWaiters: (() => void)[] = [];
  private readonly done: Promise<Outcome>;
  private resolveDone!: (o: Outcome) => void;
  private historyLength = 1;
  private queryCounter = 0;
  private disposed = false;

  constructor(private readonly deps: ExecutionDeps) {
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  get workflowId(): string {
    return this.deps.scope.workflowId;
  }

  get runId(): string {
    return this.deps.scope.runId;
  }

  /** True once the workflow completed, failed or was cancelled. */
  get closed(): boolean {
    return this.outcome !== undefined;
  }

  /** Running activities with their latest heartbeat details, as `temporal workflow describe` shows them. */
  pendingActivities(): { activityType: string; heartbeat: unknown }[] {
    return [...this.activities.values()].map((run) => ({ activityType: run.activityType, heartbeat: run.lastHeartbeat }));
  }

  /** Delivers the start job; the workflow begins running in the background. */
  start(initialize: coresdk.workflow_activation.InitializeWorkflow.$Properties): Promise<void> {
    return this.enqueue([{ initializeWorkflow: initialize }]);
  }

  /** Waits for the workflow's result; on a virtual clock, lets time skip while the workflow is blocked. */
  async result(): Promise<unknown> {
    this.skipTime = true;
    this.maybeSkip();
    const outcome = await this.done;
    if (!outcome.ok) throw outcome.error;
    return outcome.value;
  }

  /** Resolves when nothing is running: the workflow waits on a timer or a signal, or has closed. */
  settled(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.settleWaiters.push(resolve));
  }

  /** Sends a signal, as `temporal workflow signal` would. */
  signal(name: string, args: unknown[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`workflow ${this.workflowId} has already closed; the signal "${name}" was not delivered`));
    return this.enqueue([{ signalWorkflow: { signalName: name, input: args.map(toPayload), identity: 'local-runner' } }]);
  }

  /** Requests cancellation, as `temporal workflow cancel` would. */
  cancel(reason = 'cancelled by the local runner'): Promise<void> {
    if (this.closed) return Promise.resolve();
    return this.enqueue([{ cancelWorkflow: { reason } }]);
  }

  /** Runs a query handler and returns its answer (also after the workflow has closed). */
  query(name: string, args: unknown[]): Promise<unknown> {
    const queryId = `q${++this.queryCounter}`;
    let answer: Outcome | undefined;
    const op = this.serial(async () => {
      const commands = await this.activate([{ queryWorkflow: { queryId, queryType: name, arguments: args.map(toPayload) } }], true);
      const response = commands.find((c) => c.respondToQuery?.queryId === queryId)?.respondToQuery;
      if (response?.succeeded) {
        answer = { ok: true, value: fromPayload(response.succeeded.response) };
      } else {
        answer = { ok: false, error: failureToError(response?.failed ?? { message: `query "${name}" got no answer` }) };
      }
    });
    return op.then(() => {
      if (answer === undefined || !answer.ok) throw answer?.error ?? new Error(`query "${name}" got no answer`);
      return answer.value;
    });
  }

  /** Cancels running activities and timers and releases the sandbox. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    for (const run of this.activities.values()) run.cancel();
    for (const timer of this.timers.values()) clearTimeout(timer.handle);
    this.timers.clear();
    await this.tail.catch(() => undefined);
    await this.deps.workflow.dispose();
  }

  private enqueue(jobs: Job[]): Promise<void> {
    return this.serial(async () => {
      if (this.closed) return;
      this.historyLength += jobs.length;
      const commands = await this.activate(jobs, false);
      this.handleCommands(commands);
    });
  }

  /** Chains `fn` after every earlier activation: a workflow is never activated twice at once. */
  private serial(fn: () => Promise<void>): Promise<void> {
    this.pendingOps++;
    const op = this.tail.then(fn);
    this.tail = op
      .catch((err: unknown) => this.close({ ok: false, error: err instanceof Error ? err : new Error(String(err)) }))
      .finally(() => {
        this.pendingOps--;
        this.afterOp();
      });
    return op;
  }

  private async activate(jobs: Job[], isQuery: boolean): Promise<Command[]> {
    if (this.disposed) throw new Error(`workflow ${this.workflowId} was disposed`);
    const activation = coresdk.workflow_activation.WorkflowActivation.fromObject({
      runId: this.runId,
      jobs,
      ...(isQuery ? {} : { timestamp: msNumberToTs(this.deps.clock.now()), historyLength: this.historyLength, isReplaying: false }),
    });
    const completion = await this.deps.workflow.activate(activation);
    await drainSinks(this.deps.workflow, this.deps.log);
    if (completion.failed) {
      throw new WorkflowTaskFailedError(
        `workflow task failed in ${this.deps.scope.workflowType} (${this.workflowId}): ${completion.failed.failure?.message ?? 'unknown error'}; ` +
          'a Temporal worker would retry this task forever, so fix the workflow code',
        { cause: completion.failed.failure ? failureToError(completion.failed.failure) : undefined },
      );
    }
    return completion.successful?.commands ?? [];
  }

  private handleCommands(commands: Command[]): void {
    for (const command of commands) {
      if (command.scheduleActivity) this.startActivity(command.scheduleActivity);
      else if (command.requestCancelActivity) this.cancelActivity(command.requestCancelActivity.seq ?? 0);
      else if (command.startTimer) this.startTimer(command.startTimer.seq ?? 0, optionalTsToMs(command.startTimer.startToFireTimeout) ?? 0);
      else if (command.cancelTimer) this.cancelTimer(command.cancelTimer.seq ?? 0);
      else if (command.completeWorkflowExecution) this.close({ ok: true, value: fromPayload(command.completeWorkflowExecution.result) });
      else if (command.failWorkflowExecution) this.close({ ok: false, error: this.workflowFailed(command.failWorkflowExecution.failure, RetryState.NON_RETRYABLE_FAILURE) });
      else if (command.cancelWorkflowExecution) this.close({ ok: false, error: this.workflowFailed({ message: 'Workflow execution cancelled', canceledFailureInfo: {} }, RetryState.CANCEL_REQUESTED) });
      else if (command.setPatchMarker || command.upsertWorkflowSearchAttributes || command.modifyWorkflowProperties) continue;
      else {
        const kind = Object.keys(command).find((k) => (command as Record<string, unknown>)[k] != null) ?? 'unknown';
        throw new UnsupportedCommandError(
          `workflow ${this.deps.scope.workflowType} issued a "${kind}" command, which the local runner does not support; ` +
            'run it on a Temporal worker (npm run worker) or extend src/local/execution.ts',
        );
      }
    }
  }

  private startActivity(command: coresdk.workflow_commands.ScheduleActivity.$Properties): void {
    const seq = command.seq ?? 0;
    const fn = this.deps.activities[command.activityType ?? ''];
    const run = new ActivityRun(command, fn, this.deps.scope, this.deps.clock, (a) => this.attempts.push(a), sinkToLogger(this.deps.log));
    this.activities.set(seq, run);
    void run.run().then((result) => {
      // A cancelled activity whose resolution the workflow already has must not resolve twice.
      if (this.activities.get(seq) !== run) return;
      this.activities.delete(seq);
      return this.enqueue([{ resolveActivity: { seq, result } }]);
    });
  }

  private cancelActivity(seq: number): void {
    const run = this.activities.get(seq);
    if (run === undefined) return;
    run.cancel();
    if (run.waitsForCancellation) return;
    // TRY_CANCEL (the default) and ABANDON resolve the workflow's side at once.
    this.activities.delete(seq);
    void this.enqueue([
      {
        resolveActivity: {
          seq,
          result: { cancelled: { failure: { message: 'Activity cancelled', canceledFailureInfo: {}, activityFailureInfo: { activityType: { name: run.activityType }, retryState: 'RETRY_STATE_CANCEL_REQUESTED' as never } } } },
        },
      },
    ]);
  }

  private startTimer(seq: number, ms: number): void {
    const fireAt = this.deps.clock.now() + ms;
    const timer: { fireAt: number; handle?: NodeJS.Timeout } = { fireAt };
    if (!this.deps.clock.virtual) timer.handle = setTimeout(() => this.fireTimer(seq), ms);
    this.timers.set(seq, timer);
  }

  private cancelTimer(seq: number): void {
    clearTimeout(this.timers.get(seq)?.handle);
    this.timers.delete(seq);
  }

  private fireTimer(seq: number): void {
    const timer = this.timers.get(seq);
    if (timer === undefined || this.closed) return;
    this.timers.delete(seq);
    if (this.deps.clock.virtual) this.deps.clock.advanceTo(timer.fireAt);
    void this.enqueue([{ fireTimer: { seq } }]);
  }

  private isIdle(): boolean {
    return this.closed || (this.pendingOps === 0 && this.activities.size === 0);
  }

  private afterOp(): void {
    if (!this.isIdle()) return;
    const waiters = this.settleWaiters.splice(0);
    waiters.forEach((w) => w());
    this.maybeSkip();
  }

  /** On a virtual clock, a blocked workflow whose result is awaited jumps to its next timer. */
  private maybeSkip(): void {
    if (!this.deps.clock.virtual || !this.skipTime || this.closed || !this.isIdle()) return;
    let next: [number, number] | undefined;
    for (const [seq, t] of this.timers) if (next === undefined || t.fireAt < next[1]) next = [seq, t.fireAt];
    if (next !== undefined) this.fireTimer(next[0]);
  }

  private close(outcome: Outcome): void {
    if (this.outcome !== undefined) return;
    this.outcome = outcome;
    for (const run of this.activities.values()) run.cancel();
    this.activities.clear();
    for (const timer of this.timers.values()) clearTimeout(timer.handle);
    this.timers.clear();
    this.resolveDone(outcome);
    this.deps.onClose();
  }

  private workflowFailed(failure: ProtoFailure | null | undefined, retryState: RetryState): Error {
    const cause = failure ? failureToError(failure) : undefined;
    const message = cause instanceof CancelledFailure ? 'Workflow execution cancelled' : 'Workflow execution failed';
    return new WorkflowFailedError(message, cause, retryState);
  }
}
