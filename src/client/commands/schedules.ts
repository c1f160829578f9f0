import { ScheduleNotFoundError } from '@temporalio/client';
import type { Command } from 'commander';
import { applySchedules } from '../../schedules/apply';
import { scheduleIdOf, schedulesFor, type ScheduleDefinition } from '../../schedules/definitions';
import { formatLocal, nextFireTimes } from '../../local/nextTimes';
import type { CommandContext } from '../context';
import { CliError, ExitCode } from '../exitCodes';
import { formatTable, printJson } from '../output';
import { temporalScheduleGateway } from '../scheduleGateway';

const ACTIONS = ['apply', 'list', 'pause', 'unpause', 'trigger', 'delete'] as const;

/** Notice printed before `fbb schedules list --local`. */
export const LOCAL_SCHEDULES_NOTICE =
  'fbb: --local: these are the schedules as configured here (SCHEDULE_* settings), not read from the Temporal server; next runs are computed in this process. Run "fbb schedules apply" to make the server match.';

/** `fbb schedules apply|list|pause|unpause|trigger|delete [daily|weekly|monthly]`: the Temporal Schedules that replace the Windmill crons. */
export function registerSchedules(program: Command, ctx: CommandContext): void {
  program
    .command('schedules')
    .description('create/update the daily, weekly and monthly backup schedules on Temporal, or list, pause, unpause, trigger, delete one')
    .argument('<action>', ACTIONS.join('|'))
    .argument('[name]', 'daily, weekly or monthly (or schedule_daily_backup, ...)')
    .option('--json', 'print as JSON', false)
    .option('--local', 'list only: the schedules as configured, with their next runs computed without a Temporal server', false)
    .addHelpText('after', '\nExamples:\n  $ fbb schedules apply\n  $ fbb schedules list\n  $ fbb schedules list --local\n  $ fbb schedules pause weekly\n  $ fbb schedules trigger daily\n')
    .action(async (action: string, name: string | undefined, opts: { json: boolean; local: boolean }) => {
      if (!(ACTIONS as readonly string[]).includes(action)) throw new CliError(`unknown action "${action}"; use one of ${ACTIONS.join(', ')}`, ExitCode.badInput);
      const id = name === undefined ? undefined : scheduleIdOf(name);
      const needsName = action !== 'apply' && action !== 'list';
      if (needsName && id === undefined) throw new CliError(`fbb schedules ${action} needs daily, weekly or monthly, got ${name === undefined ? 'nothing' : `"${name}"`}; for example "fbb schedules ${action} daily"`, ExitCode.badInput);
      if (opts.local && action !== 'list') {
        throw new CliError(`fbb schedules ${action} changes the schedules on the Temporal server, so it has no --local; run it without --local (only "fbb schedules list" has one)`, ExitCode.badInput);
      }
      const config = ctx.config();
      if (opts.local) {
        ctx.notice(LOCAL_SCHEDULES_NOTICE);
        return listConfigured(schedulesFor(config), new Date(), opts.json, ctx);
      }
      const client = await ctx.connect(config.temporal);
      try {
        const gateway = temporalScheduleGateway(client);
        if (action === 'apply') {
          const result = await applySchedules(gateway, schedulesFor(config));
          if (opts.json) printJson(result, ctx.stdout);
          else ctx.stdout.write(`created: ${result.created.join(', ') || 'none'}\nupdated: ${result.updated.join(', ') || 'none'}\n`);
          return;
        }
        if (action === 'list') {
          // The three schedules as the server describes them: its state and its own next run times
          // (never computed here), shown on the wall clock of SCHEDULE_TIMEZONE.
          const timeZone = config.schedules.timezone;
          const described = await gateway.describe(schedulesFor(config).map((d) => d.scheduleId));
          const rows = described.map((r) => ({ ...r, nextActionTimesLocal: r.nextActionTimes.map((t) => formatLocal(t, timeZone)) }));
          if (rows.some((r) => !r.applied)) ctx.notice('fbb: a schedule marked "not applied" is not on the Temporal server; run "fbb schedules apply" to create it');
          if (opts.json) return printJson(rows, ctx.stdout);
          const state = (r: (typeof rows)[number]) => (!r.applied ? 'not applied' : r.paused ? 'paused' : 'active');
          ctx.stdout.write(`${formatTable([['SCHEDULE', 'STATE', `NEXT RUNS (${timeZone})`], ...rows.map((r) => [r.id, state(r), r.nextActionTimesLocal.slice(0, 3).join(', ')])])}\n`);
          return;
        }
        const handle = client.schedule.getHandle(id!);
        try {
          if (action === 'pause') await handle.pause('paused with fbb schedules pause');
          else if (action === 'unpause') await handle.unpause('unpaused with fbb schedules unpause');
          else if (action === 'trigger') {
            // The SDK's trigger() defaults to ALLOW_ALL; the schedule's SKIP keeps one backup at a time.
            const running = (await handle.describe()).info.runningActions.map((a) => a.workflow.workflowId);
            await handle.trigger('SKIP');
            if (running.length > 0) {
              ctx.notice(`fbb: ${id!} still has a backup running or waiting for a worker (${running.join(', ')}); with overlap policy SKIP this trigger starts nothing. See "fbb history" or the Web UI`);
            }
          }
          else await handle.delete();
        } catch (err) {
          if (err instanceof ScheduleNotFoundError) {
            throw new CliError(`schedule ${id!} does not exist on the Temporal server; run "fbb schedules apply" to create the three schedules, then "fbb schedules ${action} ${name!}" again`, ExitCode.failed);
          }
          throw err;
        }
        if (opts.json) printJson({ action, schedule_id: id! }, ctx.stdout);
        else ctx.stdout.write(`${action}: ${id!}\n`);
      } finally {
        await client.connection.close();
      }
    });
}


/** `list --local`: each schedule's cron, time zone and next three runs, computed as the server would. */
function listConfigured(defs: ScheduleDefinition[], now: Date, json: boolean, ctx: CommandContext): void {
  const rows = defs.map((d) => {
    const next = nextFireTimes(d.spec, now, 3);
    return { id: d.scheduleId, cron: d.cron, timezone: d.spec.timezone, nextActionTimes: next.map((t) => t.toISOString()), nextActionTimesLocal: next.map((t) => formatLocal(t, d.spec.timezone)) };
  });
  if (json) return printJson(rows, ctx.stdout);
  ctx.stdout.write(`${formatTable([['SCHEDULE', 'CRON', 'TIME ZONE', 'NEXT RUNS (local time)'], ...rows.map((r) => [r.id, r.cron, r.timezone, r.nextActionTimesLocal.join(', ')])])}\n`);
}
