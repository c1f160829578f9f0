import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { NativeConnection, Worker, type Logger, type LogMetadata, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from './activities';
import { ConfigError, loadConfig, redactConfig, type Config } from './config';
import { SettingUnusableError } from './observability/errors';
import { startHealthServer } from './observability/health';
import { createLogger } from './observability/logger';
import { installRuntime } from './observability/runtime';
import { stopTracing, tracingFor } from './observability/tracing';
import { workerTracing } from './observability/tracingInterceptors';
import { bundleWorkflows, findPrebuiltBundle } from './workflowBundle';
import { ensureCurrentVersion, type VersionRouting } from './currentVersion';
import { deploymentOptions, versionName, workerVersionFor, type SetCurrent, type WorkerVersion } from './workerVersion';
import { describeTemporalAuth, TemporalTlsFileError, temporalConnectionSettings, withoutApiKey } from './temporalConnection';
import { stopLocalServers } from './activities/verifyServer/server';

/** After the grace time running activities are cancelled; this much later a worker that still has not stopped gives up. */
const FORCE_AFTER_GRACE_MS = 30_000;

/**
 * Runs a worker that serves every workflow and activity until SIGINT or SIGTERM. On a signal it
 * stops polling, lets running activities finish for WORKER_SHUTDOWN_GRACE_SECONDS, then cancels
 * them (a dump kills pg_dump and deletes its partial file) and exits.
 */
export async function runWorker(config: Config, logger: Logger): Promise<void> {
  const runtime = installRuntime(config, logger);
  // The runtime's SIGINT/SIGTERM handler removes itself when it starts the graceful shutdown; execa's
  // child cleanup (signal-exit), installed with the first pg_dump or psql, then sees no other
  // listener and re-raises the signal: the worker died at once, mid-activity. This listener keeps the
  // graceful shutdown in charge; a worker that does not stop is ended by shutdownForceTime.
  const stayForShutdown = () => undefined;
  process.on('SIGINT', stayForShutdown).on('SIGTERM', stayForShutdown);
  let worker: Worker | undefined;
  // Up before the connection, answering 503 STARTING, so a slow start is "unhealthy", not "refused".
  const health =
    config.worker.healthAddress === undefined
      ? undefined
      : await startHealthServer({ address: config.worker.healthAddress, taskQueue: config.temporal.taskQueue, state: () => worker?.getState() ?? 'STARTING' });
  try {
    const { connection, namespace } = await connectWorker(config.temporal);
    try {
      const options = await workerOptions(config, connection, namespace);
      const own = await Worker.create(options.own);
      worker = await Worker.create(options.shared);
      runtime.logger.info(...startupLog(config, health?.port, options.own.taskQueue, options.version));
      const running = runBoth(worker, own);
      // A failed routing has stopped the workers: wait for them before the connection closes.
      await routeToVersion({ connection, namespace, options, shared: worker, log: runtime.logger }).catch(async (err: unknown) => {
        await running.catch(() => undefined);
        throw err;
      });
      await running;
    } finally {
      await connection.close();
    }
  } finally {
    await health?.close();
    // The last spans (OTEL_EXPORTER_OTLP_ENDPOINT) go out before the process ends.
    await stopTracing();
    // The verification servers this worker started stop with it (unless another process uses them).
    await stopLocalServers();
  }
}

/** A worker process's own task queue, which only it polls: `<TEMPORAL_TASK_QUEUE>@<host>-<pid>-<random>`. */
export function ownTaskQueue(config: Config): string {
  return `${config.temporal.taskQueue}@${os.hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/** The workers of one production worker process, and the deployment version the shared-queue one polls as (undefined: unversioned). */
export interface ProductionWorkerOptions {
  shared: WorkerOptions;
  own: WorkerOptions & { taskQueue: string };
  version: WorkerVersion | undefined;
}

/**
 * What every production worker serves (`npm run worker`, `fbb up`, the demo): all workflows and
 * activities on the shared task queue (`shared`), as a version of the worker deployment, and the
 * same activities on the process's own queue (`own`), where a run sends the steps that read a
 * backup file this worker made or fetched. The own queue stays unversioned: a queue joins a version
 * for good (at most 100 per version), and every process start makes a new one; the server hands its
 * tasks to the one process that polls it. Runs take the Temporal-native database lock.
 * `setCurrent` is the policy when WORKER_SET_CURRENT is unset.
 */
export async function workerOptions(config: Config, connection: NativeConnection, namespace: string, setCurrent: SetCurrent = 'if_none'): Promise<ProductionWorkerOptions> {
  const prebuilt = findPrebuiltBundle();
  // The bundle `npm run build` made, else webpack now; its hash is the default build ID.
  const workflowBundle = prebuilt ? { code: await fs.promises.readFile(prebuilt, 'utf8') } : { code: (await bundleWorkflows()).code };
  const version = workerVersionFor(config, workflowBundle.code, setCurrent);
  const workerQueue = ownTaskQueue(config);
  const activities = createActivities({ config, workerQueue, lock: 'temporal' });
  // Tracing (OTEL_EXPORTER_OTLP_ENDPOINT): activity spans, and the sink the workflows' spans leave by.
  const tracing = workerTracing(tracingFor(config), { database: config.database.database });
  const common = {
    connection,
    namespace,
    activities,
    ...tracing,
    shutdownGraceTime: config.worker.shutdownGraceMs,
    shutdownForceTime: config.worker.shutdownGraceMs + FORCE_AFTER_GRACE_MS,
    // A cancel (fbb restore cancel, a lost lock) reaches a running activity only in the answer to a heartbeat, which the
    // SDK sends at most every 80% of the heartbeat timeout capped by this (default 60 s): cancels land within seconds.
    maxHeartbeatThrottleInterval: '5 seconds',
  };
  return {
    shared: { ...common, taskQueue: config.temporal.taskQueue, workflowBundle, ...deploymentOptions(version) },
    own: { ...common, taskQueue: workerQueue },
    version,
  };
}

/**
 * Once the shared-queue worker polls, settles whether its version is current (ensureCurrentVersion)
 * and logs what it found: a version that stays out of the way logs, at warn, the command that rolls
 * it out. A version that should have become current and could not stops the worker with the reason.
 */
export async function routeToVersion(options: { connection: NativeConnection; namespace: string; options: ProductionWorkerOptions; shared: Worker; log: Logger }): Promise<VersionRouting | undefined> {
  const { version } = options.options;
  if (version === undefined) return undefined;
  try {
    const routing = await ensureCurrentVersion({ service: options.connection.workflowService, namespace: options.namespace, worker: version, identity: options.shared.options.identity });
    if (routing.outcome === 'not_current') options.log.warn(routing.message, { version: versionName(version.version) });
    else options.log.info(routing.message, { version: versionName(version.version) });
    return routing;
  } catch (err) {
    options.log.error((err as Error).message, { version: versionName(version.version) });
    if (options.shared.getState() === 'RUNNING') options.shared.shutdown();
    throw err;
  }
}

/** Runs the shared-queue worker and the own-queue worker until both stop; either stopping (a signal, a fatal error) stops the other. */
export async function runBoth(shared: Worker, own: Worker): Promise<void> {
  const stopOther = (other: Worker) => () => {
    if (other.getState() === 'RUNNING') other.shutdown();
  };
  const results = await Promise.allSettled([shared.run().finally(stopOther(own)), own.run().finally(stopOther(shared))]);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** The worker's connection and namespace, from the settings the CLI uses; its error names the address and auth, never the API key. */
export async function connectWorker(temporal: Config['temporal']): Promise<{ connection: NativeConnection; namespace: string }> {
  const settings = await temporalConnectionSettings(temporal);
  try {
    return { connection: await NativeConnection.connect(settings.connection), namespace: settings.namespace };
  } catch (err) {
    throw new Error(
      `cannot connect to Temporal at ${temporal.address} (${describeTemporalAuth(temporal)}): ${withoutApiKey((err as Error).message, temporal)}; ` +
        'is Temporal running? Start it (docker compose up -d, or temporal server start-dev) or set TEMPORAL_ADDRESS',
      { cause: err },
    );
  }
}

/** The "worker starting" line: what this worker serves and its settings, secrets redacted. */
export function startupLog(config: Config, healthPort?: number, workerQueue?: string, version?: WorkerVersion): [string, LogMetadata] {
  return [
    'worker starting',
    {
      taskQueue: config.temporal.taskQueue,
      ...(workerQueue === undefined ? {} : { workerQueue }),
      ...(version === undefined ? {} : { version: versionName(version.version), setCurrent: version.setCurrent }),
      namespace: config.temporal.namespace,
      temporal: `${config.temporal.address} (${describeTemporalAuth(config.temporal)})`,
      shutdownGraceSeconds: config.worker.shutdownGraceMs / 1000,
      ...(config.worker.metricsAddress === undefined ? {} : { metrics: `http://${config.worker.metricsAddress}/metrics` }),
      ...(healthPort === undefined ? {} : { health: `port ${healthPort} GET /healthz` }),
      config: redactConfig(config),
    },
  ];
}

if (require.main === module) {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    process.stderr.write(`worker: ${err instanceof ConfigError ? err.message : String(err)}\n`);
    process.exit(2);
  }
  const logger = createLogger({ format: config.worker.logFormat, level: config.logLevel });
  runWorker(config, logger).catch((err: unknown) => {
    // A TLS file or a port in use is a setting to fix (2); anything else is a failure to run (1).
    const message = withoutApiKey(err instanceof Error ? err.message : String(err), config.temporal);
    logger.error(`worker failed: ${message}`, { error: err instanceof Error ? err.name : typeof err });
    // Exit now: a runtime that never made a connection would keep the process alive.
    process.exit(err instanceof TemporalTlsFileError || err instanceof SettingUnusableError ? 2 : 1);
  });
}
