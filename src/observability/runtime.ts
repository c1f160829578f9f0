// The Temporal runtime of the worker process: where logs go and where Prometheus scrapes metrics.
import { Runtime, type Logger, type LogLevel, type RuntimeOptions } from '@temporalio/worker';
import type { Config } from '../config';
import { SettingUnusableError } from './errors';

/** Runtime options: our logger for SDK, workflow, activity and (forwarded) Rust core logs; Prometheus when configured. */
export function runtimeOptions(config: Pick<Config, 'logLevel' | 'worker'>, logger: Logger): RuntimeOptions {
  const level = config.logLevel.toUpperCase() as LogLevel;
  return {
    logger,
    // The runtime turns SIGINT/SIGTERM into a graceful worker shutdown (stop polling, drain, then exit).
    shutdownSignals: ['SIGINT', 'SIGTERM'],
    telemetryOptions: {
      // Core's own lines go through `logger` too, so LOG_FORMAT=json covers every line the worker prints.
      logging: { forward: {}, filter: { core: level, other: 'ERROR' } },
      ...(config.worker.metricsAddress === undefined ? {} : { metrics: { prometheus: { bindAddress: config.worker.metricsAddress } } }),
    },
  };
}

/** Installs the process-wide runtime (once per process); a metrics port in use fails here, by name. */
export function installRuntime(config: Pick<Config, 'logLevel' | 'worker'>, logger: Logger): Runtime {
  try {
    return Runtime.install(runtimeOptions(config, logger));
  } catch (err) {
    if (config.worker.metricsAddress !== undefined && /prometheus/i.test((err as Error).message)) {
      throw new SettingUnusableError(
        'WORKER_METRICS_ADDRESS',
        `WORKER_METRICS_ADDRESS=${config.worker.metricsAddress}: cannot serve Prometheus metrics there (${(err as Error).message}); pick a free port or unset WORKER_METRICS_ADDRESS`,
        { cause: err },
      );
    }
    throw err;
  }
}
