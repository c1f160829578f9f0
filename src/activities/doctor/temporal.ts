import { Connection } from '@temporalio/client';
import type { Config } from '../../config';
import { check, type CheckResult } from '../../doctor/report';
import { DEFAULT_CONNECT_TIMEOUT_MS, describeTemporalAuth, temporalConnectionSettings, withoutApiKey } from '../../temporalConnection';

/** gRPC's NOT_FOUND, which describeNamespace answers for a namespace the server does not have. */
const GRPC_NOT_FOUND = 5;

/** The Temporal frontend must answer for the configured namespace. */
export async function checkTemporal(temporal: Config['temporal']): Promise<CheckResult> {
  const where = `${temporal.address} (namespace ${temporal.namespace})`;
  let connection: Connection | undefined;
  try {
    const settings = await temporalConnectionSettings(temporal);
    connection = await Connection.connect({ ...settings.connection, connectTimeout: temporal.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS });
    await connection.workflowService.describeNamespace({ namespace: temporal.namespace });
    return check('temporal', 'ok', `Temporal answers at ${where}`);
  } catch (err) {
    const message = withoutApiKey((err as Error).message, temporal);
    if (connection !== undefined && (err as { code?: unknown }).code === GRPC_NOT_FOUND) {
      return check(
        'temporal',
        'fail',
        `Temporal answers at ${temporal.address}, but it has no namespace "${temporal.namespace}": ${message}`,
        `fix TEMPORAL_NAMESPACE, or create the namespace (temporal operator namespace create --namespace ${temporal.namespace} --address ${temporal.address})`,
      );
    }
    return check(
      'temporal',
      'fail',
      `Temporal does not answer at ${where} (${describeTemporalAuth(temporal)}): ${message}`,
      'start it (docker compose up -d, or temporal server start-dev), fix TEMPORAL_ADDRESS/TEMPORAL_NAMESPACE (and TEMPORAL_TLS_*/TEMPORAL_API_KEY for a secured server), or run with --local',
    );
  } finally {
    await connection?.close().catch(() => undefined);
  }
}
