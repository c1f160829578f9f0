// What `fbb schedules` works on: the Temporal server's Schedules, or with --local the schedules as
// configured here (localSchedules.ts). The command does not know which.
import { ScheduleNotFoundError } from '@temporalio/client';
import { localSchedules } from './localSchedules';
import { applySchedules } from '../schedules/apply';
import { schedulesFor } from '../schedules/definitions';
import { baseBackupConfigOf, baseBackupsWanted } from '../schedules/baseBackupSchedules';
import { walArchiveRunning } from './commands/wal';
import { formatLocal } from '../schedules/zone';
import type { CommandContext } from './context';
import { CliError, ExitCode } from './exitCodes';
import { formatTable } from './output';
import { temporalScheduleGateway } from './scheduleGateway';
import { notifySchedules } from './scheduleNotify';
import { ErrorType } from '../errors';
import { scheduleProblems, type ScheduleProblem } from '../schedules/health';

/** The actions that change one schedule on the server. */
export type ScheduleChange = 'pause' | 'unpause' | 'trigger' | 'delete';

/** The schedules as a table and as the JSON rows `--json` prints, and what is wrong with them (reported and notified). */
export interface ScheduleListing {
  rows: object[];
  table: string;
  problems: ScheduleProblem[];
}

/** The backup schedules on one engine. */
export interface ScheduleService {
  /** Creates the missing schedules and updates the others. */
  apply(): Promise<{ created: string[]; updated: string[] }>;
  /** Each schedule with its next runs. */
  list(): Promise<ScheduleListing>;
  /** Pauses, unpauses, triggers or deletes the schedule `id` (`name` is how the user named it). */
  change(action: ScheduleChange, id: string, name: string): Promise<void>;
}

/** The schedules a command works on: the server's, or with `local` the configured ones (list only). */
export function openSchedules(ctx: CommandContext, local: boolean): ScheduleService {
  return local ? localSchedules(ctx) : temporalSchedules(ctx);
}

/** Sends each problem to the webhooks (NOTIFY_WEBHOOK_URL where fbb runs); one that cannot be delivered is reported, and the listing goes on. */
async function notifyProblems(ctx: CommandContext, problems: ScheduleProblem[]): Promise<void> {
  const undelivered = await notifySchedules(ctx.config(), problems);
  for (const line of undelivered) ctx.notice(`fbb: ${line}`);
}

/** The schedules on the Temporal server; each call opens its own connection. */
function temporalSchedules(ctx: CommandContext): ScheduleService {
  const withClient = async <T>(fn: (client: Awaited<ReturnType<CommandContext['connect']>>) => Promise<T>): Promise<T> => {
    const client = await ctx.connect(ctx.config().temporal);
    try {
      return await fn(client);
    } finally {
      await client.connection.close();
    }
  };
  return {
    apply: () =>
      withClient(async (client) => {
        const config = ctx.config();
        const running = await walArchiveRunning(client, config);
        if (!baseBackupsWanted(baseBackupConfigOf(config).schedule, running) && baseBackupConfigOf(config).schedule === 'auto') {
          ctx.notice('fbb: the base-backup schedules were not applied: the WAL archive does not run (start it with "fbb wal start" and apply again, or set BASEBACKUP_SCHEDULE=on)');
        }
        return applySchedules(temporalScheduleGateway(client), schedulesFor(config, { walArchiveRunning: running }));
      }),
    list: () =>
      withClient(async (client) => {
        // The three schedules as the server describes them: its state and its own next run times
        // (never computed here), shown on the wall clock of SCHEDULE_TIMEZONE.
        const config = ctx.config();
        const timeZone = config.schedules.timezone;
        // The base-backup schedules are listed when they are wanted, or when they are on the server (applied while the archive ran).
        const wanted = new Set(schedulesFor(config, { walArchiveRunning: await walArchiveRunning(client, config) }).map((d) => d.scheduleId));
        const described = (await temporalScheduleGateway(client).describe(schedulesFor(config, { walArchiveRunning: true }).map((d) => d.scheduleId))).filter((r) => r.applied || wanted.has(r.id));
        const problems = scheduleProblems(described);
        const rows = described.map((r) => ({
          ...r,
          nextActionTimesLocal: r.nextActionTimes.map((t) => formatLocal(t, timeZone)),
          problems: problems.filter((p) => p.schedule_id === r.id).map((p) => p.message),
        }));
        if (rows.some((r) => !r.applied)) ctx.notice('fbb: a schedule marked "not applied" is not on the Temporal server; run "fbb schedules apply" to create it');
        const pausedByFailure = (id: string) => problems.some((p) => p.schedule_id === id && p.type === ErrorType.SchedulePaused);
        const state = (r: (typeof rows)[number]) => (!r.applied ? 'not applied' : pausedByFailure(r.id) ? 'paused (run failed)' : r.paused ? 'paused' : 'active');
        for (const problem of problems) ctx.notice(`fbb: ${problem.message}`);
        await notifyProblems(ctx, problems);
        return { rows, problems, table: formatTable([['SCHEDULE', 'STATE', `NEXT RUNS (${timeZone})`], ...rows.map((r) => [r.id, state(r), r.nextActionTimesLocal.slice(0, 3).join(', ')])]) };
      }),
    change: (action, id, name) =>
      withClient(async (client) => {
        const handle = client.schedule.getHandle(id);
        try {
          if (action === 'pause') await handle.pause('paused with fbb schedules pause');
          else if (action === 'unpause') await handle.unpause('unpaused with fbb schedules unpause');
          else if (action === 'trigger') {
            // The SDK's trigger() defaults to ALLOW_ALL; the schedule's SKIP keeps one backup at a time.
            const running = (await handle.describe()).info.runningActions.map((a) => a.workflow.workflowId);
            await handle.trigger('SKIP');
            if (running.length > 0) {
              ctx.notice(`fbb: ${id} still has a backup running or waiting for a worker (${running.join(', ')}); with overlap policy SKIP this trigger starts nothing. See "fbb history" or the Web UI`);
            }
          } else await handle.delete();
        } catch (err) {
          if (err instanceof ScheduleNotFoundError) {
            throw new CliError(`schedule ${id} does not exist on the Temporal server; run "fbb schedules apply" to create the three schedules, then "fbb schedules ${action} ${name}" again`, ExitCode.failed);
          }
          throw err;
        }
      }),
  };
}
