import { Client, Connection } from '@temporalio/client';
import type { Config } from '../config';
import { CliError, ExitCode } from './exitCodes';

/** The only place that builds a Temporal connection. */
export async function connectTemporal(temporal: Config['temporal']): Promise<Client> {
  try {
    const connection = await Connection.connect({ address: temporal.address, connectTimeout: 5_000 });
    return new Client({ connection, namespace: temporal.namespace });
  } catch (err) {
    throw new CliError(
      `cannot connect to Temporal at ${temporal.address}: ${(err as Error).message}; ` +
        'start it (docker compose up -d, or temporal server start-dev), set TEMPORAL_ADDRESS, or add --local to run in this process',
      ExitCode.cannotConnect,
    );
  }
}
