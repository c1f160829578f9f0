import type { Client, ScheduleOptions, ScheduleUpdateOptions } from '@temporalio/client';
import type { ScheduleGateway } from '../schedules/apply';
import type { ScheduleDefinition } from '../schedules/definitions';

/** A schedule as `fbb schedules list` shows it. */
export interface ScheduleRow {
  id: string;
  paused: boolean;
  nextActionTimes: Date[];
}

/** The schedule gateway backed by Temporal's ScheduleClient (not testable here: no server runs). */
export function temporalScheduleGateway(client: Client): ScheduleGateway & { list(): Promise<ScheduleRow[]> } {
  const options = (d: ScheduleDefinition): ScheduleOptions => ({ scheduleId: d.scheduleId, spec: d.spec, action: d.action, policies: d.policies });
  return {
    async ids() {
      return (await this.list()).map((s) => s.id);
    },
    async create(d) {
      await client.schedule.create(options(d));
    },
    async update(d) {
      await client.schedule.getHandle(d.scheduleId).update((previous): ScheduleUpdateOptions => ({ ...previous, spec: d.spec, action: d.action, policies: { ...previous.policies, ...d.policies } }) as ScheduleUpdateOptions);
    },
    async list() {
      const rows: ScheduleRow[] = [];
      for await (const s of client.schedule.list()) {
        rows.push({ id: s.scheduleId, paused: s.state.paused, nextActionTimes: s.info?.nextActionTimes ?? [] });
      }
      return rows;
    },
  };
}
