// A Temporal namespace of a test file's own on the shared dev server: schedule IDs are fixed
// (schedule_daily_backup, ...) and the docs name one task queue, so tests that use them keep apart this way.
import { Client } from '@temporalio/client';
import { uniqueName } from './helpers';
import { protoTime } from './protoTime';
import { testClient } from './temporal';

/** Registers a new namespace on the dev server and returns its name and a client bound to it. */
export async function createTestNamespace(label: string): Promise<{ namespace: string; client: Client }> {
  const shared = await testClient();
  const namespace = uniqueName(label).replace(/_/g, '-');
  await shared.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: protoTime(86_400_000) });
  // Registration is written through at once; describing it proves the frontend knows it.
  await shared.workflowService.describeNamespace({ namespace });
  return { namespace, client: new Client({ connection: shared.connection, namespace }) };
}
