import { ScheduleNotFoundError, type Client, type ScheduleDescription, type ScheduleOptions, type ScheduleUpdateOptions } from '@temporalio/client';
import type { ScheduleGateway } from '../schedules/apply';
import type { ScheduleDefinition } from '../schedules/definitions';
import type { ScheduleState } from '../schedules/health';

/** A schedule as `fbb schedules list` shows it: the server's state and its own next run times. */
export interface ScheduleRow extends ScheduleState {
  id: string;
  /** false: the server has no schedule with this ID ("fbb schedules apply" creates it). */
  applied: boolean;
  paused: boolean;
  /** ScheduleDescription.info.nextActionTimes, as the server computed them. */
  nextActionTimes: Date[];
}

/** The schedule gateway backed by Temporal's ScheduleClient; test/cli-schedules.test.ts runs it against the dev server. */
export function temporalScheduleGateway(client: Client): ScheduleGateway & { describe(ids: readonly string[]): Promise<ScheduleRow[]> } {
  const options = (d: ScheduleDefinition): ScheduleOptions => ({ scheduleId: d.scheduleId, spec: d.spec, action: d.action, policies: d.policies });
  /** The server's description of one schedule, or undefined when it has none with this ID. */
  const described = async (id: string): Promise<ScheduleDescription | undefined> => {
    try {
      return await client.schedule.getHandle(id).describe();
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) return undefined;
      throw err;
    }
  };
  return {
    async exists(id) {
      return (await described(id)) !== undefined;
    },
    async create(d) {
      await client.schedule.create(options(d));
    },
    async update(d) {
      // Keeps the schedule's state (paused or not, with its note) and replaces what apply manages.
      await client.schedule.getHandle(d.scheduleId).update((previous): ScheduleUpdateOptions => ({ ...previous, spec: d.spec, action: d.action, policies: { ...previous.policies, ...d.policies } }) as ScheduleUpdateOptions);
    },
    async describe(ids) {
      return Promise.all(
        ids.map(async (id): Promise<ScheduleRow> => {
          const s = await described(id);
          if (s === undefined) return { id, applied: false, paused: false, note: null, missedCatchupWindow: 0, nextActionTimes: [] };
          return { id, applied: true, paused: s.state.paused, note: s.state.note || null, missedCatchupWindow: s.info.numActionsMissedCatchupWindow, nextActionTimes: s.info.nextActionTimes };
        }),
      );
    },
  };
}
