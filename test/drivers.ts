// The workflow scenarios' engine: the real Temporal dev server, with a real Worker in this process
// (the bundle globalSetup built) per config, and the activities' attempts recorded per run.
import { Context } from '@temporalio/activity';
import type { WorkflowStartOptions } from '@temporalio/client';
import { CancelledFailure, type QueryDefinition, type SignalDefinition, type Workflow, type WorkflowResultType } from '@temporalio/common';
import { createActivities } from '../src/activities';
import type { Config } from '../src/config';
import { statusQuery, type RestoreResult } from '../src/workflows/restoreDatabase';
import { onTemporal, startTestWorker, testClient } from './temporal';

/** Which engine runs the workflows (one since the in-process runtime behind --local is gone). */
export type DriverName = 'temporal';

/** A started workflow run: the Temporal client's WorkflowHandle, plus test helpers. */
export interface RunHandle<W extends Workflow> {
  readonly workflowId: string;
  /** The workflow's return value; a failure arrives as WorkflowFailedError → ActivityFailure → ApplicationFailure. */
  result(): Promise<WorkflowResultType<W>>;
  signal<Args extends unknown[]>(def: SignalDefinition<Args>, ...args: Args): Promise<void>;
  query<R, Args extends unknown[]>(def: QueryDefinition<R, Args>, ...args: Args): Promise<R>;
  cancel(): Promise<void>;
  /** Resolves with the `status` answer once a restore waits for confirmRestore; throws if it ended or moved past it. */
  awaitingConfirmation(): Promise<RestoreResult>;
  /** Every activity attempt of this run that has finished, as `activityType:outcome`, in order. */
  attempts(): string[];
}

/** How to start a run. */
export interface StartOptions<W extends Workflow> {
  args: Parameters<W>;
  /** Unique across the whole test run: the dev server keeps every ID (use uniqueName). */
  workflowId: string;
}

/** Starts workflows whose activities work on one config. */
export interface Runner {
  start<W extends Workflow>(workflow: W, options: StartOptions<W>): Promise<RunHandle<W>>;
  execute<W extends Workflow>(workflow: W, options: StartOptions<W>): Promise<WorkflowResultType<W>>;
  /** Stops this runner's Worker (queries need it running, so stop after the last one). */
  stop(): Promise<void>;
}

/** One engine for the scenario suites. */
export interface Driver {
  readonly name: DriverName;
  /**
   * A runner (a Worker on its own task queue) with the activities for `config`, any
   * replaced by `overrides`. Without overrides, asking again for the same config object gives the same
   * runner until it is stopped (a Worker takes 1.5 s to create).
   */
  runner(config: Config, overrides?: Record<string, unknown>): Promise<Runner>;
  /** Stops every Worker not stopped yet (call it in afterEach or afterAll). */
  release(): Promise<void>;
}

type ActivityFn = (...args: unknown[]) => Promise<unknown>;
type Attempts = Map<string, string[]>;

/**
 * The project's activities for `config` with `overrides`, each recording its attempts by workflow ID.
 * Recorded in the activity itself: the server's history keeps only an activity's last attempt.
 */
function recordedActivities(config: Config, overrides: Record<string, unknown>, attempts: Attempts): Record<string, ActivityFn> {
  const all = { ...createActivities({ config }), ...overrides } as Record<string, ActivityFn>;
  return Object.fromEntries(
    Object.entries(all).map(([name, fn]) => [
      name,
      async (...args: unknown[]) => {
        const context = Context.current();
        const workflowId = context.info.workflowExecution?.workflowId ?? 'none';
        const note = (outcome: string) => attempts.set(workflowId, [...(attempts.get(workflowId) ?? []), `${name}:${outcome}`]);
        try {
          const result = await fn(...args);
          note('completed');
          return result;
        } catch (error) {
          note(error instanceof CancelledFailure || context.cancellationSignal.aborted ? 'cancelled' : 'failed');
          throw error;
        }
      },
    ]),
  );
}

/** Polls `status` until the restore waits for confirmation; on the server a query before the first workflow task may fail, so errors are retried. */
export async function pollAwaitingConfirmation(workflowId: string, query: () => Promise<RestoreResult>): Promise<RestoreResult> {
  const deadline = Date.now() + 90_000;
  let last: unknown;
  for (;;) {
    try {
      const status = await query();
      if (status.phase === 'awaiting_confirmation') return status;
      if (status.status !== 'running' || ['restoring', 'verifying', 'swapping', 'rolling_back', 'done'].includes(status.phase)) {
        throw new Error(`restore ${workflowId} never waited for confirmation: it is ${status.status} in phase ${status.phase} (${JSON.stringify(status.error)})`);
      }
      last = status;
    } catch (error) {
      if (error instanceof Error && error.message.startsWith(`restore ${workflowId} never`)) throw error;
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`restore ${workflowId} did not reach awaiting_confirmation within 90 s; last answer: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Makes a runner; `stop` releases it. */
type MakeRunner = (config: Config, overrides: Record<string, unknown>) => Promise<Runner>;

/** A driver over `make`: runners without overrides are shared per config object; release stops every runner still up. */
function driver(name: DriverName, make: MakeRunner): Driver {
  const up = new Set<Runner>();
  const shared = new Map<Config, Promise<Runner>>();
  const track = (config: Config, overrides: Record<string, unknown>, share: boolean): Promise<Runner> =>
    make(config, overrides).then((runner) => {
      up.add(runner);
      const stop = () => {
        up.delete(runner);
        if (share) shared.delete(config);
        return runner.stop();
      };
      return { ...runner, stop };
    });
  return {
    name,
    runner(config, overrides = {}) {
      if (Object.keys(overrides).length > 0) return track(config, overrides, false);
      let runner = shared.get(config);
      if (runner === undefined) {
        runner = track(config, overrides, true);
        shared.set(config, runner);
      }
      return runner;
    },
    async release() {
      shared.clear();
      await Promise.all([...up].map((runner) => (up.delete(runner), runner.stop())));
    },
  };
}

/** The real Temporal dev server: a real Worker per runner, on its own task queue; runs started through the real client. */
export function temporalDriver(): Driver {
  return driver('temporal', async (config, overrides) => {
    const attempts: Attempts = new Map();
    const onServer = onTemporal(config);
    const worker = await startTestWorker(onServer, recordedActivities(onServer, overrides, attempts));
    const client = await testClient();
    const start = async <W extends Workflow>(workflow: W, options: StartOptions<W>): Promise<RunHandle<W>> => {
      // The client types `args` through a conditional type that a generic W cannot resolve.
      const handle = await client.workflow.start(workflow, { taskQueue: worker.taskQueue, workflowId: options.workflowId, args: options.args } as unknown as WorkflowStartOptions<W>);
      return {
        workflowId: handle.workflowId,
        result: () => handle.result(),
        signal: (def, ...args) => handle.signal(def, ...args),
        query: (def, ...args) => handle.query(def, ...args),
        cancel: async () => {
          await handle.cancel();
        },
        awaitingConfirmation: () => pollAwaitingConfirmation(handle.workflowId, () => handle.query(statusQuery)),
        attempts: () => [...(attempts.get(handle.workflowId) ?? [])],
      };
    };
    return { start, execute: async (workflow, options) => (await start(workflow, options)).result(), stop: () => worker.stop() };
  });
}
