import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from './activities';
import { ConfigError, loadConfig, redactConfig, type Config } from './config';
import { defaultWorkflowsPath, findPrebuiltBundle } from './runner';

/** Seconds a running activity gets to finish after SIGINT/SIGTERM before it is cancelled. */
const SHUTDOWN_GRACE = '30 seconds';

/** Runs a worker that serves every workflow and activity until SIGINT or SIGTERM. */
export async function runWorker(config: Config): Promise<void> {
  // The runtime turns SIGINT/SIGTERM into a graceful worker shutdown (stop polling, drain, then exit).
  Runtime.install({ logger: new DefaultLogger(config.logLevel.toUpperCase() as 'INFO'), shutdownSignals: ['SIGINT', 'SIGTERM'] });
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  const prebuilt = findPrebuiltBundle();
  try {
    const worker = await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: config.temporal.taskQueue,
      // The bundle `npm run build` made, else webpack at start.
      ...(prebuilt ? { workflowBundle: { codePath: prebuilt } } : { workflowsPath: defaultWorkflowsPath() }),
      activities: createActivities({ config }),
      shutdownGraceTime: SHUTDOWN_GRACE,
    });
    Runtime.instance().logger.info('worker starting', { config: redactConfig(config) });
    await worker.run();
  } finally {
    await connection.close();
  }
}

if (require.main === module) {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    process.stderr.write(`worker: ${err instanceof ConfigError ? err.message : String(err)}\n`);
    process.exit(2);
  }
  runWorker(config).catch((err: unknown) => {
    process.stderr.write(
      `worker: ${err instanceof Error ? err.message : String(err)}\n` +
        `Is Temporal running at ${config.temporal.address}? Start it (docker compose up -d, or temporal server start-dev) or set TEMPORAL_ADDRESS.\n`,
    );
    process.exit(1);
  });
}
