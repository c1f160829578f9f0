import type { QueryDefinition, SignalDefinition, Workflow, WorkflowResultType } from '@temporalio/common';
import type { Client, WorkflowExecutionDescription } from '@temporalio/client';
import type { Config } from '../config';
import { openLocalRunner } from './localRunner';
import { connectTemporal } from './connection';
import { CliError, ExitCode } from './exitCodes';
import { describeOrUndefined, temporalRunner } from './temporalRunner';

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
  /**
   * Starts a run, or attaches to the run `workflowId` already names (running, or completed successfully)
   * when it was started with the same input. Another input under an explicit ID is refused (exit 2);
   * under a default ID (`explicitId: false`, made from the time) the run starts under the next free ID,
   * which `StartedWorkflow.workflowId` names.
   */
  start<W extends Workflow>(workflow: W, options: { args: Parameters<W>; workflowId: string; explicitId?: boolean }): Promise<StartedWorkflow<W>>;
  /** How many workers poll the configured task queue for workflows, as the server saw lately; undefined when unknown or --local. */
  workersPolling(): Promise<number | undefined>;
  close(): Promise<void>;
}

/** Opens the runner a command's workflows run on: Temporal, or with `local` a throwaway server and worker in this process (localRunner.ts). */
export async function openRunner(config: Config, options: { local: boolean; notice?: (line: string) => void; connect?: ConnectTemporal }): Promise<WorkflowRunner> {
  if (options.local) return openLocalRunner(config, options.notice ?? ((line: string) => process.stderr.write(`${line}\n`)));
  return temporalRunner(await (options.connect ?? connectTemporal)(config.temporal), config);
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

/** A workflow ID that names a run of another workflow type. */
export function otherType(workflowId: string, found: string, wanted: string): CliError {
  return new CliError(`workflow ID ${workflowId} belongs to a ${found} run, not ${wanted}; nothing was started; choose another --workflow-id`, ExitCode.badInput);
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
