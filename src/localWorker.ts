// A production Worker running inside another program (`fbb up`, `npm run demo`): the project's
// activities and workflows on the configured task queue, stopped on demand rather than by signals.
import { Runtime, Worker } from '@temporalio/worker';
import type { Config } from './config';
import { stopLocalServers } from './activities/verifyServer/server';
import type { VersionRouting } from './currentVersion';
import { versionName, type WorkerVersion } from './workerVersion';
import { connectWorker, routeToVersion, runBoth, workerOptions } from './worker';

/** A running in-process worker. */
export interface LocalWorker {
  worker: Worker;
  /** Its worker deployment version, and what was done about the deployment's current version (both undefined: WORKER_VERSIONING=false). */
  version: WorkerVersion | undefined;
  routing: VersionRouting | undefined;
  /** Settles when the worker has stopped: after stop(), or on its own when it fails. */
  done: Promise<void>;
  /** Stops polling (both queues: the shared one and the worker's own), lets running activities finish (WORKER_SHUTDOWN_GRACE_SECONDS), waits, closes the connection. */
  stop(): Promise<void>;
}

/**
 * Connects and starts a Worker like `npm run worker` does (the prebuilt bundle when there is one,
 * else webpack at start). It is the only worker of its server, so its version is made the
 * deployment's current one (unless WORKER_SET_CURRENT says otherwise): a new build takes the new runs.
 * The process-wide Runtime must be installed by the caller, without shutdown signals: the caller
 * decides when to stop, and in which order with its servers.
 */
export async function startLocalWorker(config: Config): Promise<LocalWorker> {
  const { connection, namespace } = await connectWorker(config.temporal);
  let worker: Worker;
  let own: Worker;
  let options: Awaited<ReturnType<typeof workerOptions>>;
  try {
    options = await workerOptions(config, connection, namespace, 'always');
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
  const stop = () =>
    (stopping ??= (async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      if (own.getState() === 'RUNNING') own.shutdown();
      await done.catch(() => undefined);
    })());
  let routing: VersionRouting | undefined;
  try {
    routing = await routeToVersion({ connection, namespace, options, shared: worker, log: Runtime.instance().logger });
  } catch (err) {
    await stop();
    throw err;
  }
  return { worker, version: options.version, routing, done, stop };
}

/** "family-brain-backup.<build ID> (current)", or "unversioned": the worker's version for a start-up summary. */
export function describeVersion(local: Pick<LocalWorker, 'version' | 'routing'>): string {
  if (local.version === undefined) return 'unversioned (WORKER_VERSIONING=false)';
  const state = { current: 'current', made_current: 'made current', not_current: 'not current: see the log line' }[local.routing?.outcome ?? 'not_current'];
  return `${versionName(local.version.version)} (${state})`;
}
