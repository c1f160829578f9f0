// The WorkflowRunner on a Temporal server: workflows start on the configured task queue and run on its workers.
import {
  defaultPayloadConverter,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  type Workflow,
} from '@temporalio/common';
import type { Client, WorkflowExecutionDescription, WorkflowHandle, WorkflowHandleWithFirstExecutionRunId, WorkflowStartOptions } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { isDeepStrictEqual } from 'node:util';
import { CliError, ExitCode } from './exitCodes';
import type { Config } from '../config';
import { otherType, type ExistingRun, type StartedWorkflow, type WorkflowRunner } from './runner';

/**
 * Start options that make a workflow ID an idempotency key: a start while a run with the ID is
 * open attaches to it (USE_EXISTING); after it completed successfully the start is refused and the
 * CLI reads that run's result; after it failed, was cancelled, terminated or timed out, a new run starts.
 * The server attaches to an open run whatever its workflow type, so `start` describes the ID first
 * and refuses one that names a run of another type (test/cli-temporal.test.ts shows both on the dev server).
 */
export const IDEMPOTENT_START = { workflowIdConflictPolicy: 'USE_EXISTING', workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY' } as const;

/** The runner for a Temporal client; closing it closes the client's connection. */
export function temporalRunner(client: Client, config: Config): WorkflowRunner {
  return {
    local: false,
    async start(workflow, { args, workflowId: asked, explicitId = true }) {
      let workflowId = asked;
      for (let looks = 0; ; looks++) {
        if (looks === 50) throw new Error(`could not start ${workflow.name} under ${asked} or a following ID: each look found another run`);
        const found = await describeOrUndefined(client.workflow.getHandle(workflowId));
        const state = found?.status.name === 'RUNNING' ? 'running' : found?.status.name === 'COMPLETED' ? 'completed' : undefined;
        if (found && state) {
          if (found.type !== workflow.name) throw otherType(workflowId, found.type, workflow.name);
          const differences = [...queueDifference(found.taskQueue, config), ...inputDifferences(await startInput(client, found.workflowId, found.runId), args)];
          if (differences.length === 0) {
            const since = (state === 'completed' ? (found.closeTime ?? found.startTime) : found.startTime).toISOString();
            return wrap(client.workflow.getHandle(workflowId, state === 'completed' ? found.runId : undefined), { state, since });
          }
          // A default ID names the second it was made in: another command's run in that second is not this one.
          if (explicitId) throw otherInput(workflowId, differences);
          workflowId = nextDefaultId(workflowId);
          continue;
        }
        let handle: WorkflowHandleWithFirstExecutionRunId<typeof workflow>;
        try {
          handle = await client.workflow.start(workflow, { args, workflowId, taskQueue: config.temporal.taskQueue, ...IDEMPOTENT_START } as unknown as WorkflowStartOptions<typeof workflow>);
        } catch (err) {
          // Another client's run with this ID completed between the look and the start: look again.
          if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
          continue;
        }
        // USE_EXISTING attaches to a run another client started between the look and the start: look again if its input differs.
        const attached = await describeOrUndefined(client.workflow.getHandle(workflowId, handle.firstExecutionRunId));
        if (queueDifference(attached?.taskQueue ?? config.temporal.taskQueue, config).length === 0 && inputDifferences(await startInput(client, workflowId, handle.firstExecutionRunId), args).length === 0) return wrap(handle, null);
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
async function workersPolling(client: Client, taskQueue: string): Promise<number | undefined> {
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
 * A run under the ID on another task queue is another installation's (IDs name the database and the
 * second, and installations may share a namespace): it is not this command's run, whatever its input.
 */
function queueDifference(theirs: string, config: Config): string[] {
  return theirs === config.temporal.taskQueue ? [] : [`task queue: ${JSON.stringify(theirs)} there, ${JSON.stringify(config.temporal.taskQueue)} here`];
}

/** `backup-x-20261124T020000Z` -> `...-2`, `...-2` -> `...-3`: the next free-looking default ID after a clash. */
export function nextDefaultId(id: string): string {
  const numbered = /^(.*Z)-(\d+)$/.exec(id);
  return numbered ? `${numbered[1]}-${Number(numbered[2]) + 1}` : `${id}-2`;
}

/** The arguments the run `runId` of `workflowId` was started with, decoded (the first event of its history). */
async function startInput(client: Client, workflowId: string, runId: string): Promise<unknown[]> {
  const { history } = await client.workflowService.getWorkflowExecutionHistory({
    namespace: client.options.namespace,
    execution: { workflowId, runId },
    maximumPageSize: 1,
  });
  const payloads = history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads ?? [];
  return payloads.map((p) => client.options.loadedDataConverter.payloadConverter.fromPayload(p));
}

/** `key: theirs there, ours here` for every top-level input field that differs (as JSON sees them); [] when the inputs are the same. */
export function inputDifferences(theirs: unknown[], ours: unknown[]): string[] {
  const plain = (v: unknown): unknown => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));
  const a = (plain(theirs[0]) ?? {}) as Record<string, unknown>;
  const b = (plain(ours[0]) ?? {}) as Record<string, unknown>;
  if (theirs.length > 1 || ours.length > 1 || typeof a !== 'object' || typeof b !== 'object') {
    return isDeepStrictEqual(plain(theirs), plain(ours)) ? [] : [`input ${JSON.stringify(plain(theirs))} there, ${JSON.stringify(plain(ours))} here`];
  }
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return keys.filter((k) => !isDeepStrictEqual(a[k], b[k])).map((k) => `${k}: ${JSON.stringify(a[k]) ?? 'unset'} there, ${JSON.stringify(b[k]) ?? 'unset'} here`);
}

/** A start under an explicit ID whose run was started with other input: attaching would follow someone else's run. */
function otherInput(workflowId: string, differences: string[]): CliError {
  return new CliError(
    `workflow ID ${workflowId} names a run started with other input (${differences.join('; ')}); nothing was started; ` +
      'choose another --workflow-id, or repeat that run\'s command exactly to follow it',
    ExitCode.badInput,
  );
}

/** The server's description of the run `handle` names, or undefined when it has none. */
export async function describeOrUndefined(handle: WorkflowHandle<Workflow>): Promise<WorkflowExecutionDescription | undefined> {
  try {
    return await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}
