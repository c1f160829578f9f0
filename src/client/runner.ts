import { defaultPayloadConverter, type QueryDefinition, type SignalDefinition, type Workflow, type WorkflowResultType } from '@temporalio/common';
import type { WorkflowStartOptions } from '@temporalio/client';
import { createActivities } from '../activities';
import type { Config } from '../config';
import { LocalRuntime } from '../runner';
import { connectTemporal } from './connection';
import { CliError, ExitCode } from './exitCodes';

/** A started workflow, whether it runs on a Temporal worker or in this process. */
export interface StartedWorkflow<W extends Workflow> {
  workflowId: string;
  result(): Promise<WorkflowResultType<W>>;
  query<R, A extends unknown[]>(def: QueryDefinition<R, A>, ...args: A): Promise<R>;
  signal<A extends unknown[]>(def: SignalDefinition<A>, ...args: A): Promise<void>;
  /** Running activities with their latest heartbeat details (progress of long steps). */
  pendingActivities(): Promise<{ activityType: string; heartbeat: unknown }[]>;
}

/** Starts workflows for CLI commands: on Temporal, or with --local in this process. */
export interface WorkflowRunner {
  readonly local: boolean;
  start<W extends Workflow>(workflow: W, options: { args: Parameters<W>; workflowId: string }): Promise<StartedWorkflow<W>>;
  close(): Promise<void>;
}

/** Notice printed before every --local run. */
export const LOCAL_NOTICE =
  'fbb: --local: running in this process without a Temporal server. This run is not durable: if this process stops, the run is lost and nothing resumes it.';

/** Opens a runner; with `local`, the project's workflows run in Temporal's sandbox in this process. */
export async function openRunner(config: Config, options: { local: boolean; notice?: (line: string) => void }): Promise<WorkflowRunner> {
  if (options.local) {
    (options.notice ?? ((line: string) => process.stderr.write(`${line}\n`)))(LOCAL_NOTICE);
    const runtime = await LocalRuntime.create({ activities: createActivities({ config }), clock: 'real', taskQueue: config.temporal.taskQueue });
    return {
      local: true,
      async start(workflow, { args, workflowId }) {
        const handle = await runtime.start(workflow, { args, workflowId });
        return {
          workflowId,
          result: () => handle.result(),
          query: (def, ...a) => handle.query(def, ...a),
          signal: (def, ...a) => handle.signal(def, ...a),
          pendingActivities: async () => handle.pendingActivities(),
        };
      },
      close: () => runtime.shutdown(),
    };
  }
  const client = await connectTemporal(config.temporal);
  return {
    local: false,
    async start(workflow, { args, workflowId }) {
      const handle = await client.workflow.start(workflow, { args, workflowId, taskQueue: config.temporal.taskQueue } as unknown as WorkflowStartOptions<typeof workflow>);
      return {
        workflowId,
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
    },
    close: () => client.connection.close(),
  };
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

/** Sends a signal to a workflow on Temporal; local runs cannot be reached from another process. */
export async function signalExisting<A extends unknown[]>(config: Config, local: boolean, workflowId: string, def: SignalDefinition<A>, ...args: A): Promise<void> {
  if (local) throw notReachableLocally(workflowId);
  const client = await connectTemporal(config.temporal);
  try {
    await client.workflow.getHandle(workflowId).signal(def, ...args);
  } finally {
    await client.connection.close();
  }
}

/** Describes a workflow on Temporal and runs `pick`'s query on it. */
export async function queryExisting(config: Config, workflowId: string, pick: (workflowType: string) => string | undefined): Promise<{ workflowType: string; status: string; answer: unknown }> {
  const client = await connectTemporal(config.temporal);
  try {
    const handle = client.workflow.getHandle(workflowId);
    const description = await handle.describe();
    const query = pick(description.type);
    const answer = query ? await handle.query(query) : undefined;
    return { workflowType: description.type, status: description.status.name, answer };
  } finally {
    await client.connection.close();
  }
}

function notReachableLocally(workflowId: string): CliError {
  return new CliError(
    `a --local run lives only inside the process that started it, so ${workflowId} cannot be reached from here; confirm or cancel at that process's prompt, or run without --local on a Temporal worker`,
    ExitCode.badInput,
  );
}
