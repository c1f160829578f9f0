// The WorkflowRunner on a Temporal server: workflows start on the configured task queue and run on its workers.
import {
  defaultPayloadConverter,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  type Workflow,
} from '@temporalio/common';
import type { Client, WorkflowExecutionDescription, WorkflowHandle, WorkflowStartOptions } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
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

/** The server's description of the run `handle` names, or undefined when it has none. */
export async function describeOrUndefined(handle: WorkflowHandle<Workflow>): Promise<WorkflowExecutionDescription | undefined> {
  try {
    return await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}
