import type { ScheduleDefinition } from './definitions';

/** What `fbb schedules` needs from Temporal's ScheduleClient; a fake implements it in the tests. */
export interface ScheduleGateway {
  ids(): Promise<string[]>;
  create(definition: ScheduleDefinition): Promise<void>;
  update(definition: ScheduleDefinition): Promise<void>;
}

/** Creates the schedules that are missing and updates the others: running it twice changes nothing more. */
export async function applySchedules(gateway: ScheduleGateway, definitions: readonly ScheduleDefinition[]): Promise<{ created: string[]; updated: string[] }> {
  const existing = new Set(await gateway.ids());
  const created: string[] = [];
  const updated: string[] = [];
  for (const definition of definitions) {
    if (existing.has(definition.scheduleId)) {
      await gateway.update(definition);
      updated.push(definition.scheduleId);
    } else {
      await gateway.create(definition);
      created.push(definition.scheduleId);
    }
  }
  return { created, updated };
}
