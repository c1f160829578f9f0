import { Connection } from '@temporalio/client';
import type { Config } from '../../config';
import { check, type CheckResult } from '../../doctor/report';
import { describeTemporalAuth, temporalConnectionSettings, withoutApiKey } from '../../temporalConnection';

/** The Temporal frontend must answer for the configured namespace. */
export async function checkTemporal(temporal: Config['temporal']): Promise<CheckResult> {
  const where = `${temporal.address} (namespace ${temporal.namespace})`;
  let connection: Connection | undefined;
  try {
    const settings = await temporalConnectionSettings(temporal);
    connection = await Connection.connect({ ...settings.connection, connectTimeout: 5_000 });
    await connection.workflowService.describeNamespace({ namespace: temporal.namespace });
    return check('temporal', 'ok', `Temporal answers at ${where}`);
  } catch (err) {
    return check(
      'temporal',
      'fail',
      `Temporal does not answer at ${where} (${describeTemporalAuth(temporal)}): ${withoutApiKey((err as Error).message, temporal)}`,
      'start it (docker compose up -d, or temporal server start-dev), fix TEMPORAL_ADDRESS/TEMPORAL_NAMESPACE (and TEMPORAL_TLS_*/TEMPORAL_API_KEY for a secured server), or run with --local',
    );
  } finally {
    await connection?.close().catch(() => undefined);
  }
}
