// `fbb schedules list --local`: the schedules as configured here (SCHEDULE_* settings), with their
// next runs computed in this process (src/schedules/nextTimes.ts); nothing else works without the server.
import type { CommandContext } from './context';
import { CliError, ExitCode } from './exitCodes';
import { formatTable } from './output';
import type { ScheduleService } from './scheduleService';
import { schedulesFor } from '../schedules/definitions';
import { formatLocal } from '../schedules/zone';
import { nextFireTimes } from '../schedules/nextTimes';

/** Notice printed before `fbb schedules list --local`. */
export const LOCAL_SCHEDULES_NOTICE =
  'fbb: --local: these are the schedules as configured here (SCHEDULE_* settings), not read from the Temporal server; next runs are computed in this process. Run "fbb schedules apply" to make the server match.';

/** The configured schedules: list shows each one's cron, time zone and next three runs; changes need the server. */
export function localSchedules(ctx: CommandContext): ScheduleService {
  const serverOnly = (action: string) => async (): Promise<never> => {
    throw new CliError(`fbb schedules ${action} changes the schedules on the Temporal server, so it has no --local; run it without --local (only "fbb schedules list" has one)`, ExitCode.badInput);
  };
  return {
    apply: serverOnly('apply'),
    change: (action) => serverOnly(action)(),
    async list() {
      // Whether the WAL archive runs is the server's to say: here the base-backup schedules are listed with BASEBACKUP_SCHEDULE=on only.
      const defs = schedulesFor(ctx.config(), { walArchiveRunning: false });
      ctx.notice(LOCAL_SCHEDULES_NOTICE);
      const now = new Date();
      const rows = defs.map((d) => {
        const next = nextFireTimes(d.spec, now, 3);
        return { id: d.scheduleId, cron: d.cron, timezone: d.spec.timezone, nextActionTimes: next.map((t) => t.toISOString()), nextActionTimesLocal: next.map((t) => formatLocal(t, d.spec.timezone)) };
      });
      return { rows, problems: [], table: formatTable([['SCHEDULE', 'CRON', 'TIME ZONE', 'NEXT RUNS (local time)'], ...rows.map((r) => [r.id, r.cron, r.timezone, r.nextActionTimesLocal.join(', ')])]) };
    },
  };
}
