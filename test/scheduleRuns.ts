// What a schedule on the dev server started, for tests that trigger one.
import type { Client } from '@temporalio/client';

/** The ID of the workflow the schedule started last, waiting (up to a minute) for the server's scheduler to record it. */
export async function startedBy(client: Client, scheduleId: string): Promise<string> {
  const handle = client.schedule.getHandle(scheduleId);
  for (let attempt = 0; attempt < 300; attempt++) {
    const { info } = await handle.describe();
    const started = [...info.runningActions, ...info.recentActions.map((a) => a.action)];
    if (started.length > 0) return started[0]!.workflow.workflowId;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`schedule ${scheduleId} started nothing within a minute of its trigger`);
}
