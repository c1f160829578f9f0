// A production Worker running inside another program (`fbb up`, `npm run demo`): the project's
// activities and workflows on the configured task queue, stopped on demand rather than by signals.
import { Worker } from '@temporalio/worker';
import { createActivities } from './activities';
import type { Config } from './config';
import { defaultWorkflowsPath, findPrebuiltBundle } from './runner';
import { connectWorker } from './worker';

/** After the grace time running activities are cancelled; this much later a worker that still has not stopped gives up. */
const FORCE_AFTER_GRACE_MS = 30_000;

/** A running in-process worker. */
export interface LocalWorker {
  worker: Worker;
  /** Settles when the worker has stopped: after stop(), or on its own when it fails. */
  done: Promise<void>;
  /** Stops polling, lets running activities finish (WORKER_SHUTDOWN_GRACE_SECONDS), waits, closes the connection. */
  stop(): Promise<void>;
}

/**
 * Connects and starts a Worker like `npm run worker` does (the prebuilt bundle when there is one,
 * else webpack at start). The process-wide Runtime must be installed by the caller, without
 * shutdown signals: the caller decides when to stop, and in which order with its servers.
 */
export async function startLocalWorker(config: Config): Promise<LocalWorker> {
  const { connection, namespace } = await connectWorker(config.temporal);
  let worker: Worker;
  try {
    const prebuilt = findPrebuiltBundle();
    worker = await Worker.create({
      connection,
      namespace,
      taskQueue: config.temporal.taskQueue,
      ...(prebuilt ? { workflowBundle: { codePath: prebuilt } } : { workflowsPath: defaultWorkflowsPath() }),
      activities: createActivities({ config }),
      shutdownGraceTime: config.worker.shutdownGraceMs,
      shutdownForceTime: config.worker.shutdownGraceMs + FORCE_AFTER_GRACE_MS,
    });
  } catch (err) {
    await connection.close();
    throw err;
  }
  const done = worker.run().finally(() => connection.close());
  let stopping: Promise<void> | undefined;
  return {
    worker,
    done,
    stop() {
      stopping ??= (async () => {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await done.catch(() => undefined);
      })();
      return stopping;
    },
  };
}
