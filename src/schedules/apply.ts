import type { ScheduleDefinition } from './definitions';

/** What `fbb schedules apply` needs from Temporal's ScheduleClient (src/client/scheduleGateway.ts). */
export interface ScheduleGateway {
  /** Whether the server holds a schedule with this ID (asked by ID: visibility lists can lag behind). */
  exists(scheduleId: string): Promise<boolean>;
  create(definition: ScheduleDefinition): Promise<void>;
  update(definition: ScheduleDefinition): Promise<void>;
}

/** Creates the schedules that are missing and updates the others: running it twice changes nothing more. */
export async function applySchedules(gateway: ScheduleGateway, definitions: readonly ScheduleDefinition[]): Promise<{ created: string[]; updated: string[] }> {
  const created: string[] = [];
  const updated: string[] = [];
  for (const definition of definitions) {
    if (await gateway.exists(definition.scheduleId)) {
      await gateway.update(definition);
      updated.push(definition.scheduleId);
    } else {
      await gateway.create(definition);
      created.push(definition.scheduleId);
    }
  }
  return { created, updated };
}
