import { NativeConnection, Worker, type Logger, type LogMetadata, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from './activities';
import { ConfigError, loadConfig, redactConfig, type Config } from './config';
import { SettingUnusableError } from './observability/errors';
import { startHealthServer } from './observability/health';
import { createLogger } from './observability/logger';
import { installRuntime } from './observability/runtime';
import { defaultWorkflowsPath, findPrebuiltBundle } from './workflowBundle';
import { describeTemporalAuth, TemporalTlsFileError, temporalConnectionSettings, withoutApiKey } from './temporalConnection';

/** After the grace time running activities are cancelled; this much later a worker that still has not stopped gives up. */
const FORCE_AFTER_GRACE_MS = 30_000;

/**
 * Runs a worker that serves every workflow and activity until SIGINT or SIGTERM. On a signal it
 * stops polling, lets running activities finish for WORKER_SHUTDOWN_GRACE_SECONDS, then cancels
 * them (a dump kills pg_dump and deletes its partial file) and exits.
 */
export async function runWorker(config: Config, logger: Logger): Promise<void> {
  const runtime = installRuntime(config, logger);
  let worker: Worker | undefined;
  // Up before the connection, answering 503 STARTING, so a slow start is "unhealthy", not "refused".
  const health =
    config.worker.healthAddress === undefined
      ? undefined
      : await startHealthServer({ address: config.worker.healthAddress, taskQueue: config.temporal.taskQueue, state: () => worker?.getState() ?? 'STARTING' });
  try {
    const { connection, namespace } = await connectWorker(config.temporal);
    try {
      worker = await Worker.create(workerOptions(config, connection, namespace));
      runtime.logger.info(...startupLog(config, health?.port));
      await worker.run();
    } finally {
      await connection.close();
    }
  } finally {
    await health?.close();
  }
}

/** What every production worker serves (`npm run worker`, `fbb up`, the demo): all workflows and activities on the task queue. */
export function workerOptions(config: Config, connection: NativeConnection, namespace: string): WorkerOptions {
  const prebuilt = findPrebuiltBundle();
  return {
    connection,
    namespace,
    taskQueue: config.temporal.taskQueue,
    // The bundle `npm run build` made, else webpack at start.
    ...(prebuilt ? { workflowBundle: { codePath: prebuilt } } : { workflowsPath: defaultWorkflowsPath() }),
    activities: createActivities({ config }),
    shutdownGraceTime: config.worker.shutdownGraceMs,
    shutdownForceTime: config.worker.shutdownGraceMs + FORCE_AFTER_GRACE_MS,
  };
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
export function startupLog(config: Config, healthPort?: number): [string, LogMetadata] {
  return [
    'worker starting',
    {
      taskQueue: config.temporal.taskQueue,
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
