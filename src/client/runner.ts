import {
  defaultPayloadConverter,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  type QueryDefinition,
  type SignalDefinition,
  type Workflow,
  type WorkflowResultType,
} from '@temporalio/common';
import type { Client, WorkflowExecutionDescription, WorkflowHandle, WorkflowStartOptions } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { createActivities } from '../activities';
import type { Config } from '../config';
import { LocalRuntime } from '../local';
import { connectTemporal } from './connection';
import { CliError, ExitCode } from './exitCodes';
import { WORKFLOW_TYPES } from './history/entry';
import { findLocalRun, type PreviousRun } from '../local/history';

/** Opens the CLI's Temporal client (src/client/connection.ts unless a caller passes its own). */
export type ConnectTemporal = (temporal: Config['temporal']) => Promise<Client>;

/** A run that already had the workflow ID a command asked for: it was attached to instead of starting another. */
export interface ExistingRun {
  state: 'running' | 'completed';
  /** UTC, ISO 8601: when it started (running) or finished (completed). */
  since: string;
}

/** A started workflow, whether it runs on a Temporal worker or in this process. */
export interface StartedWorkflow<W extends Workflow> {
  workflowId: string;
  /** Set when no new run was started because one with this workflow ID was running or had completed. */
  existing: ExistingRun | null;
  result(): Promise<WorkflowResultType<W>>;
  query<R, A extends unknown[]>(def: QueryDefinition<R, A>, ...args: A): Promise<R>;
  signal<A extends unknown[]>(def: SignalDefinition<A>, ...args: A): Promise<void>;
  /** Running activities with their latest heartbeat details (progress of long steps). */
  pendingActivities(): Promise<{ activityType: string; heartbeat: unknown }[]>;
}

/** Starts workflows for CLI commands: on Temporal, or with --local in this process. */
export interface WorkflowRunner {
  readonly local: boolean;
  /** Starts a run, or attaches to the run `workflowId` already names (running, or completed successfully). */
  start<W extends Workflow>(workflow: W, options: { args: Parameters<W>; workflowId: string }): Promise<StartedWorkflow<W>>;
  /** How many workers poll the configured task queue for workflows, as the server saw lately; undefined when unknown or --local. */
  workersPolling(): Promise<number | undefined>;
  close(): Promise<void>;
}

/** Notice printed before every --local run. */
export const LOCAL_NOTICE =
  'fbb: --local: running in this process without a Temporal server. This run is not durable: if this process stops, the run is lost and nothing resumes it.';

/**
 * Start options that make a workflow ID an idempotency key: a start while a run with the ID is
 * open attaches to it (USE_EXISTING); after it completed successfully the start is refused and the
 * CLI reads that run's result; after it failed, was cancelled, terminated or timed out, a new run starts.
 * The server attaches to an open run whatever its workflow type, so `start` describes the ID first
 * and refuses one that names a run of another type (test/cli-temporal.test.ts shows both on the dev server).
 */
export const IDEMPOTENT_START = { workflowIdConflictPolicy: 'USE_EXISTING', workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY' } as const;

/** Opens a runner; with `local`, the project's workflows run in Temporal's sandbox in this process. */
export async function openRunner(config: Config, options: { local: boolean; notice?: (line: string) => void; connect?: ConnectTemporal }): Promise<WorkflowRunner> {
  if (options.local) {
    (options.notice ?? ((line: string) => process.stderr.write(`${line}\n`)))(LOCAL_NOTICE);
    const runtime = await LocalRuntime.create({ activities: createActivities({ config, local: true }), clock: 'real', taskQueue: config.temporal.taskQueue });
    return {
      local: true,
      async start(workflow, { args, workflowId }) {
        const previous = await previousLocalRun(config, workflow.name, workflowId);
        if (previous) return previous as StartedWorkflow<typeof workflow>;
        const handle = await runtime.start(workflow, { args, workflowId });
        return {
          workflowId,
          existing: null,
          result: () => handle.result(),
          query: (def, ...a) => handle.query(def, ...a),
          signal: (def, ...a) => handle.signal(def, ...a),
          pendingActivities: async () => handle.pendingActivities(),
        };
      },
      workersPolling: async () => undefined,
      close: () => runtime.shutdown(),
    };
  }
  const client = await (options.connect ?? connectTemporal)(config.temporal);
  return {
    local: false,
    async start(workflow, { args, workflowId }) {
      const found = await describeOrUndefined(client.workflow.getHandle(workflowId));
      const state = found?.status.name === 'RUNNING' ? 'running' : found?.status.name === 'COMPLETED' ? 'completed' : undefined;
      if (found && state) {
        if (found.type !== workflow.name) throw otherType(workflowId, found.type, workflow.name);
        const since = (state === 'completed' ? (found.closeTime ?? found.startTime) : found.startTime).toISOString();
        return wrap(client.workflow.getHandle(workflowId, state === 'completed' ? found.runId : undefined), { state, since });
      }
      try {
        const options = { args, workflowId, taskQueue: config.temporal.taskQueue, ...IDEMPOTENT_START };
        return wrap(await client.workflow.start(workflow, options as unknown as WorkflowStartOptions<typeof workflow>), null);
      } catch (err) {
        // Another client's run with this ID completed between the look and the start.
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        return wrap(client.workflow.getHandle(workflowId), { state: 'completed', since: new Date().toISOString() });
      }
    },
    workersPolling: () => workersPolling(client, config.temporal.taskQueue),
    close: () => client.connection.close(),
  };
}

/**
 * Workers that polled `taskQueue` for workflow tasks lately (the server remembers a poller for a few
 * minutes after it stopped, so 0 is certain and more than 0 is likely); undefined when the server does not say.
 */
export async function workersPolling(client: Client, taskQueue: string): Promise<number | undefined> {
  try {
    const { pollers } = await client.workflowService.describeTaskQueue({
      namespace: client.options.namespace,
      taskQueue: { name: taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    });
    return pollers?.length ?? 0;
  } catch {
    return undefined;
  }
}

/**
 * True when no worker polls the runner's task queue. A worker's first poll reaches the server a moment
 * after it starts, so an answer of 0 is asked again for a few seconds before it counts.
 */
export async function noWorkerPolling(runner: Pick<WorkflowRunner, 'workersPolling'>, graceMs = 5_000): Promise<boolean> {
  const deadline = Date.now() + graceMs;
  for (;;) {
    if ((await runner.workersPolling()) !== 0) return false;
    if (Date.now() >= deadline) return true;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** What the CLI says when no worker polls the task queue. */
export function noWorkerMessage(config: Config): string {
  return (
    `no worker is polling task queue "${config.temporal.taskQueue}" on Temporal at ${config.temporal.address} (namespace ${config.temporal.namespace}); ` +
    'start one with "npm run worker" (with the same TEMPORAL_TASK_QUEUE), or add --local to run in this process'
  );
}

function wrap<W extends Workflow>(handle: WorkflowHandle<W>, existing: ExistingRun | null): StartedWorkflow<W> {
  return {
    workflowId: handle.workflowId,
    existing,
    result: () => handle.result(),
    query: (def, ...a) => handle.query(def, ...a),
    signal: (def, ...a) => handle.signal(def, ...a),
    pendingActivities: async () => {
      const { raw } = await handle.describe();
      return (raw.pendingActivities ?? []).map((a) => ({
        activityType: a.activityType?.name ?? '',
        heartbeat: a.heartbeatDetails?.payloads?.[0] ? defaultPayloadConverter.fromPayload(a.heartbeatDetails.payloads[0]) : undefined,
      }));
    },
  };
}

/**
 * Under --local, what the records here say about `workflowId` (a backup or restore only): a finished
 * backup's result stands in for a new run; a run still going in another process, or a restore that
 * already ran, is refused. Unreadable records start the run as asked: its own checks report the problem.
 */
async function previousLocalRun(config: Config, workflowType: string, workflowId: string): Promise<StartedWorkflow<Workflow> | undefined> {
  if (workflowType !== WORKFLOW_TYPES.backup && workflowType !== WORKFLOW_TYPES.restore) return undefined;
  const previous: PreviousRun | undefined = await findLocalRun(config, workflowId).catch(() => undefined);
  if (previous === undefined) return undefined;
  const type = WORKFLOW_TYPES[previous.kind];
  if (type !== workflowType) throw otherType(workflowId, type, workflowType);
  if (previous.state === 'running') {
    throw new CliError(
      `${previous.kind} ${workflowId} is already running in another process (since ${previous.since}); nothing was started; wait for it to finish, then run this again for its result, or see "fbb history --local"`,
      ExitCode.failed,
    );
  }
  if (previous.kind === 'restore') {
    throw new CliError(
      `restore ${workflowId} already ran here (its pre-restore backup ${previous.pre_restore_backup} was made at ${previous.since}), and a restore's outcome is not recorded, so it is not run again; nothing was started; ` +
        'see "fbb history --local --type restore", and to restore again use another --workflow-id',
      ExitCode.badInput,
    );
  }
  const result = previous.result;
  const finished = async (): Promise<never> => {
    throw new Error(`${workflowId} has finished`);
  };
  return { workflowId, existing: { state: 'completed', since: previous.since }, result: async () => result, query: finished, signal: finished, pendingActivities: async () => [] };
}

function otherType(workflowId: string, found: string, wanted: string): CliError {
  return new CliError(`workflow ID ${workflowId} belongs to a ${found} run, not ${wanted}; nothing was started; choose another --workflow-id`, ExitCode.badInput);
}

async function describeOrUndefined(handle: WorkflowHandle<Workflow>): Promise<WorkflowExecutionDescription | undefined> {
  try {
    return await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

/** Waits for a result, but tells the user when no worker seems to be serving the task queue. */
export async function resultWithin<T>(result: Promise<T>, ms: number, taskQueue: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new CliError(
            `no result after ${Math.round(ms / 1000)} s: is a worker polling task queue "${taskQueue}"? Start one with "npm run worker", or add --local`,
            ExitCode.cannotConnect,
          ),
        ),
      ms,
    );
  });
  try {
    return await Promise.race([result, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `fn` with a Temporal client and closes it afterwards. */
export async function withTemporal<T>(config: Config, connect: ConnectTemporal | undefined, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = await (connect ?? connectTemporal)(config.temporal);
  try {
    return await fn(client);
  } finally {
    await client.connection.close();
  }
}

/** Describes a run on Temporal; an unknown ID is bad input with a pointer to `fbb history`. */
export async function describeExisting(client: Client, config: Config, workflowId: string): Promise<WorkflowExecutionDescription> {
  const found = await describeOrUndefined(client.workflow.getHandle(workflowId));
  if (found === undefined) {
    throw new CliError(`no workflow ${workflowId} on Temporal at ${config.temporal.address} (namespace ${config.temporal.namespace}); "fbb history" lists recent runs with their IDs`, ExitCode.badInput);
  }
  return found;
}

/** Why a command cannot reach a --local run from another process. */
export function notReachableLocally(workflowId: string, what: string): CliError {
  return new CliError(
    `a --local run lives only inside the process that started it, so ${workflowId} cannot be reached from here; ${what}`,
    ExitCode.badInput,
  );
}
