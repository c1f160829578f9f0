// What `--local` runs on: a throwaway Temporal dev server from the pinned CLI (in memory, a free
// port, no Web UI) and a Worker in this process, with the project's workflows and activities. The
// same workflows and histories as on a real deployment; everything is gone when the command ends.
import fs from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { IllegalStateError } from '@temporalio/common';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import type { Config } from '../config';
import { createLogger } from '../observability/logger';
import { tracingFor } from '../observability/tracing';
import { clientInterceptors, workerTracing } from '../observability/tracingInterceptors';
import { requireTemporalCli, MissingTemporalCliError } from '../temporalCli';
import { startTemporalDevServer } from '../temporalServer';
import { bundleWorkflows, findPrebuiltBundle } from '../workflowBundle';
import { ensureCurrentVersion } from '../currentVersion';
import { deploymentOptions, workerVersionFor } from '../workerVersion';
import { CliError, ExitCode } from './exitCodes';

/** A running throwaway server with its worker and a client. */
export interface ThrowawayTemporal {
  client: Client;
  /** `config` pointed at the throwaway server (its address and namespace; the task queue as configured). */
  config: Config;
  /** Rejects when the worker stops on its own (a fatal error): no run would finish then. */
  workerFailed: Promise<never>;
  /** Stops the worker (running activities are cancelled after a second), then the server; removes its files. */
  stop(): Promise<void>;
}

/** The Temporal CLI that `--local` needs is not installed: what to do about it. */
export function temporalCliMissing(err: MissingTemporalCliError): CliError {
  return new CliError(`--local runs on a throwaway Temporal server, which needs the Temporal CLI: ${err.message} (the Docker image has it)`, ExitCode.badInput, {
    type: 'TemporalCliMissing',
    next: 'bash scripts/install-deps.sh, or set TEMPORAL_CLI',
  });
}

/**
 * The process-wide Temporal runtime, installed once: the SDK's own lines only at ERROR (a --local
 * run's output is the command's), and no signal handlers (Ctrl-C ends the command and its children).
 * Another caller in this process (a test, `fbb up`) may have installed one already: that one is used.
 */
function quietRuntime(): void {
  try {
    Runtime.install({ logger: createLogger({ format: 'text', level: 'error' }), shutdownSignals: [], telemetryOptions: { logging: { forward: {}, filter: { core: 'ERROR', other: 'ERROR' } } } });
  } catch (err) {
    if (!(err instanceof IllegalStateError)) throw err;
  }
}

/**
 * Starts the server and the worker for `config`; MissingTemporalCliError becomes a CliError naming the install script.
 * `notice` gets what the activities tell the user (default: this process's stderr).
 */
export async function startThrowawayTemporal(config: Config, options: { notice?: (line: string) => void } = {}): Promise<ThrowawayTemporal> {
  let cli: string;
  try {
    cli = requireTemporalCli();
  } catch (err) {
    if (err instanceof MissingTemporalCliError) throw temporalCliMissing(err);
    throw err;
  }
  quietRuntime();
  const prebuilt = findPrebuiltBundle();
  const [server, bundle] = await Promise.all([
    startTemporalDevServer({ cli, inMemory: true, headless: true, dieWithParent: true, startTimeoutMs: 60_000 }).catch((err: unknown) => {
      throw new CliError(`--local: the throwaway Temporal server did not start: ${err instanceof Error ? err.message : String(err)}`, ExitCode.failed);
    }),
    prebuilt === undefined ? bundleWorkflows() : undefined,
  ]);
  const local: Config = { ...config, temporal: { ...config.temporal, address: server.address, namespace: server.namespace, tls: undefined, apiKey: undefined } };
  let connection: NativeConnection | undefined;
  let client: Client | undefined;
  try {
    connection = await NativeConnection.connect({ address: server.address });
    const code = prebuilt === undefined ? bundle!.code : await fs.promises.readFile(prebuilt, 'utf8');
    // A version of the worker deployment like a production worker, made current on the fresh server
    // (which has none) while the worker is created: without a current version it would get no task.
    const versioned = workerVersionFor(config, code, 'always');
    const version = versioned && { ...versioned, setCurrent: 'always' as const };
    const routing = version && ensureCurrentVersion({ service: connection.workflowService, namespace: server.namespace, worker: version, identity: `fbb --local (pid ${process.pid})` });
    const [worker] = await Promise.all([
      Worker.create({
        connection,
        namespace: server.namespace,
        taskQueue: config.temporal.taskQueue,
        workflowBundle: { code },
        // In this process, with the file lock in BACKUP_DIR: other processes' runs see this one, and the lock dies with it.
        activities: createActivities({ config, local: true, notice: options.notice }),
        shutdownGraceTime: '1s',
        shutdownForceTime: '30s',
        ...workerTracing(tracingFor(config), { database: config.database.database }),
        ...deploymentOptions(version),
      }),
      routing,
    ]);
    client = new Client({ connection: await Connection.connect({ address: server.address }), namespace: server.namespace, interceptors: clientInterceptors(tracingFor(config)) });
    const running = worker.run();
    const workerFailed = running.then(
      () => Promise.reject(new Error('the --local worker stopped before the run ended')),
      (err: unknown) => Promise.reject(new Error(`the --local worker failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err })),
    );
    workerFailed.catch(() => undefined);
    const [conn, cl] = [connection, client];
    let stopping: Promise<void> | undefined;
    const stop = () =>
      (stopping ??= (async () => {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await running.catch(() => undefined);
        await Promise.all([cl.connection.close().catch(() => undefined), conn.close().catch(() => undefined)]);
        await server.stop();
      })());
    return { client, config: local, workerFailed, stop };
  } catch (err) {
    await client?.connection.close().catch(() => undefined);
    await connection?.close().catch(() => undefined);
    await server.stop();
    throw err;
  }
}
