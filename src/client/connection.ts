import { Client, Connection } from '@temporalio/client';
import type { Config } from '../config';
import { activeTracing } from '../observability/tracing';
import { clientInterceptors } from '../observability/tracingInterceptors';
import { DEFAULT_CONNECT_TIMEOUT_MS, describeTemporalAuth, TemporalTlsFileError, temporalConnectionSettings, withoutApiKey } from '../temporalConnection';
import { CliError, ExitCode } from './exitCodes';

/** The CLI's Temporal client, connected with the settings the worker uses too (src/temporalConnection.ts). */
export async function connectTemporal(temporal: Config['temporal']): Promise<Client> {
  let settings;
  try {
    settings = await temporalConnectionSettings(temporal);
  } catch (err) {
    if (err instanceof TemporalTlsFileError) throw new CliError(err.message, ExitCode.badInput);
    throw err;
  }
  try {
    const connection = await Connection.connect({ ...settings.connection, connectTimeout: temporal.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS });
    // With tracing on (fbb's command span is open), every start, signal and Update carries the trace.
    return new Client({ connection, namespace: settings.namespace, interceptors: clientInterceptors(activeTracing()) });
  } catch (err) {
    const auth = temporal.tls === undefined && temporal.apiKey === undefined ? '' : ` (${describeTemporalAuth(temporal)})`;
    throw new CliError(
      `cannot connect to Temporal at ${temporal.address}${auth}: ${withoutApiKey((err as Error).message, temporal)}; ` +
        'start it (docker compose up -d, or temporal server start-dev), set TEMPORAL_ADDRESS, or add --local to run in this process',
      ExitCode.cannotConnect,
    );
  }
}
