import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import {
  defaultPayloadConverter,
  TypedSearchAttributes,
  WorkflowExecutionAlreadyStartedError,
  type QueryDefinition,
  type SignalDefinition,
  type Workflow,
  type WorkflowResultType,
} from '@temporalio/common';
import { msToTs } from '@temporalio/common/lib/time';
import type { WorkflowCreator } from '@temporalio/worker/lib/workflow/interface';
import { VMWorkflowCreator } from '@temporalio/worker/lib/workflow/vm';
import { parseWorkflowCode } from '@temporalio/worker/lib/worker';
import Long from 'long';
import { bundleWorkflows, defaultWorkflowsPath, findPrebuiltBundle } from '../workflowBundle';
import { realClock, virtualClock, type Clock } from './clock';
import { LocalWorkflowExecution } from './execution';
import type { SinkLogger } from './protocol';

/** How to build a local runtime. */
export interface LocalRuntimeOptions {
  /** Activity implementations by name, as registered with a Worker. */
  activities: object;
  /** Workflow entry point; defaults to the project's src/workflows (or dist/src/workflows). */
  workflowsPath?: string;
  /** 'virtual' (tests: timers skip ahead while the workflow is blocked) or 'real' (CLI --local). */
  clock?: 'virtual' | 'real';
  taskQueue?: string;
  namespace?: string;
  /** Receives workflow.log lines; default discards them. */
  log?: SinkLogger;
}

/** How to start one workflow run. */
export interface LocalStartOptions<W extends Workflow> {
  args: Parameters<W>;
  workflowId: string;
}

/** A handle shaped like the Temporal client's WorkflowHandle, for a run in this process. */
export class LocalWorkflowHandle<W extends Workflow> {
  constructor(readonly execution: LocalWorkflowExecution) {}

  get workflowId(): string {
    return this.execution.workflowId;
  }

  /** The workflow's return value; throws WorkflowFailedError as the Temporal client does. */
  result(): Promise<WorkflowResultType<W>> {
    return this.execution.result() as Promise<WorkflowResultType<W>>;
  }

  signal<Args extends unknown[]>(def: SignalDefinition<Args> | string, ...args: Args): Promise<void> {
    return this.execution.signal(typeof def === 'string' ? def : def.name, args);
  }

  query<R, Args extends unknown[]>(def: QueryDefinition<R, Args> | string, ...args: Args): Promise<R> {
    return this.execution.query(typeof def === 'string' ? def : def.name, args) as Promise<R>;
  }

  cancel(): Promise<void> {
    return this.execution.cancel();
  }

  /** Running activities and their latest heartbeat details. */
  pendingActivities(): { activityType: string; heartbeat: unknown }[] {
    return this.execution.pendingActivities();
  }

  /** Resolves once the workflow is blocked (on a signal or timer) with no activity running, or has closed. */
  settled(): Promise<void> {
    return this.execution.settled();
  }
}

/**
 * Runs the project's real workflow code in Temporal's workflow sandbox, without a server.
 * Used by the tests and by the CLI's --local mode; a run here is not durable: if this
 * process dies, the run is gone.
 */
export class LocalRuntime {
  private readonly running = new Map<string, LocalWorkflowExecution>();
  private readonly all = new Set<LocalWorkflowExecution>();

  private constructor(
    private readonly creator: WorkflowCreator,
    private readonly options: LocalRuntimeOptions,
    readonly clock: Clock,
  ) {}

  /** Bundles the workflows (once per process) and prepares the sandbox. */
  static async create(options: LocalRuntimeOptions): Promise<LocalRuntime> {
    const prebuilt = options.workflowsPath === undefined ? findPrebuiltBundle() : undefined;
    const parsed = prebuilt
      ? parseWorkflowCode(await fs.readFile(prebuilt, 'utf8'), prebuilt)
      : parseWorkflowCode((await bundleWorkflows(options.workflowsPath ?? defaultWorkflowsPath())).code);
    const names = new Set(Object.keys(options.activities));
    const creator = await VMWorkflowCreator.create(parsed, 5_000, names);
    return new LocalRuntime(creator, options, options.clock === 'real' ? realClock() : virtualClock());
  }

  /** Starts a workflow by function or name; refuses a workflow ID that is already running. */
  async start<W extends Workflow>(workflow: W | string, options: LocalStartOptions<W>): Promise<LocalWorkflowHandle<W>> {
    const workflowType = typeof workflow === 'string' ? workflow : workflow.name;
    if (this.running.has(options.workflowId)) {
      throw new WorkflowExecutionAlreadyStartedError(
        `workflow ${options.workflowId} is already running in this process`,
        options.workflowId,
        workflowType,
      );
    }
    const runId = randomUUID();
    const taskQueue = this.options.taskQueue ?? 'local';
    const namespace = this.options.namespace ?? 'default';
    const now = this.clock.now();
    const seed = Long.fromNumber(Math.floor(Math.random() * Number.MAX_SAFE_INTEGER));
    const workflowInstance = await this.creator.createWorkflow({
      info: {
        workflowId: options.workflowId,
        runId,
        workflowType,
        searchAttributes: {},
        typedSearchAttributes: new TypedSearchAttributes(),
        taskQueue,
        namespace,
        firstExecutionRunId: runId,
        originalExecutionRunId: runId,
        startTime: new Date(now),
        runStartTime: new Date(now),
        taskTimeoutMs: 10_000,
        attempt: 1,
        historyLength: 1,
        historySize: 0,
        continueAsNewSuggested: false,
        suggestedContinueAsNewReasons: undefined,
        targetWorkerDeploymentVersionChanged: false,
        currentBuildId: '',
        currentDeploymentVersion: undefined,
        unsafe: { isReplaying: false, isReplayingHistoryEvents: false, now: () => this.clock.now() },
        priority: undefined,
      } as never,
      randomnessSeed: seed.toBytes(),
      now,
      showStackTraceSources: false,
    });
    const execution = new LocalWorkflowExecution({
      workflow: workflowInstance,
      scope: { workflowId: options.workflowId, runId, workflowType, taskQueue, namespace },
      clock: this.clock,
      activities: this.options.activities as Record<string, (...args: unknown[]) => Promise<unknown>>,
      log: this.options.log ?? (() => undefined),
      onClose: () => this.running.delete(options.workflowId),
    });
    this.running.set(options.workflowId, execution);
    this.all.add(execution);
    void execution.start({
      workflowId: options.workflowId,
      workflowType,
      arguments: options.args.map((a) => defaultPayloadConverter.toPayload(a)),
      randomnessSeed: seed,
      firstExecutionRunId: runId,
      attempt: 1,
      startTime: msToTs(now),
      workflowTaskTimeout: msToTs(10_000),
    });
    return new LocalWorkflowHandle<W>(execution);
  }

  /** Starts a workflow and waits for its result. */
  async execute<W extends Workflow>(workflow: W | string, options: LocalStartOptions<W>): Promise<WorkflowResultType<W>> {
    const handle = await this.start(workflow, options);
    return handle.result();
  }

  /** Cancels what is still running and releases every sandbox. */
  async shutdown(): Promise<void> {
    await Promise.all([...this.all].map((e) => e.dispose()));
    this.all.clear();
    this.running.clear();
    await this.creator.destroy();
  }
}
