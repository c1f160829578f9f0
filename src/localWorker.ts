// A production Worker running inside another program (`fbb up`, `npm run demo`): the project's
// activities and workflows on the configured task queue, stopped on demand rather than by signals.
import { Worker } from '@temporalio/worker';
import type { Config } from './config';
import { stopLocalServers } from './activities/verifyServer/server';
import { connectWorker, runBoth, workerOptions } from './worker';

/** A running in-process worker. */
export interface LocalWorker {
  worker: Worker;
  /** Settles when the worker has stopped: after stop(), or on its own when it fails. */
  done: Promise<void>;
  /** Stops polling (both queues: the shared one and the worker's own), lets running activities finish (WORKER_SHUTDOWN_GRACE_SECONDS), waits, closes the connection. */
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
  let own: Worker;
  try {
    const options = workerOptions(config, connection, namespace);
    own = await Worker.create(options.own);
    worker = await Worker.create(options.shared);
  } catch (err) {
    await connection.close();
    throw err;
  }
  // The verification servers this worker started stop with it (unless another process uses them).
  const done = runBoth(worker, own)
    .finally(() => connection.close())
    .finally(() => stopLocalServers());
  let stopping: Promise<void> | undefined;
  return {
    worker,
    done,
    stop() {
      stopping ??= (async () => {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        if (own.getState() === 'RUNNING') own.shutdown();
        await done.catch(() => undefined);
      })();
      return stopping;
    },
  };
}
