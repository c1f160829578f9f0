import { Connection } from '@temporalio/client';
import type { Config } from '../../config';
import { check, type CheckResult } from '../../doctor/report';

/** The Temporal frontend must answer for the configured namespace. */
export async function checkTemporal(temporal: Config['temporal']): Promise<CheckResult> {
  const where = `${temporal.address} (namespace ${temporal.namespace})`;
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address: temporal.address, connectTimeout: 5_000 });
    await connection.workflowService.describeNamespace({ namespace: temporal.namespace });
    return check('temporal', 'ok', `Temporal answers at ${where}`);
  } catch (err) {
    return check(
      'temporal',
      'fail',
      `Temporal does not answer at ${where}: ${(err as Error).message}`,
      'start it (docker compose up -d, or temporal server start-dev), fix TEMPORAL_ADDRESS/TEMPORAL_NAMESPACE, or run with --local',
    );
  } finally {
    await connection?.close().catch(() => undefined);
  }
}
