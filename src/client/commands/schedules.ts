import type { Command } from 'commander';
import { applySchedules } from '../../schedules/apply';
import { desiredSchedules, scheduleIdOf } from '../../schedules/definitions';
import { connectTemporal } from '../connection';
import type { CommandContext } from '../context';
import { CliError, ExitCode } from '../exitCodes';
import { formatTable, printJson } from '../output';
import { temporalScheduleGateway } from '../scheduleGateway';

const ACTIONS = ['apply', 'list', 'pause', 'unpause', 'trigger', 'delete'] as const;

/** `fbb schedules apply|list|pause|unpause|trigger|delete [daily|weekly|monthly]`: the Temporal Schedules that replace the Windmill crons. */
export function registerSchedules(program: Command, ctx: CommandContext): void {
  program
    .command('schedules')
    .description('create/update the daily, weekly and monthly backup schedules on Temporal, or list, pause, unpause, trigger, delete one')
    .argument('<action>', ACTIONS.join('|'))
    .argument('[name]', 'daily, weekly or monthly (or schedule_daily_backup, ...)')
    .option('--json', 'print as JSON', false)
    .addHelpText('after', '\nExamples:\n  $ fbb schedules apply\n  $ fbb schedules list\n  $ fbb schedules pause weekly\n  $ fbb schedules trigger daily\n')
    .action(async (action: string, name: string | undefined, opts: { json: boolean }) => {
      if (!(ACTIONS as readonly string[]).includes(action)) throw new CliError(`unknown action "${action}"; use one of ${ACTIONS.join(', ')}`, ExitCode.badInput);
      const id = name === undefined ? undefined : scheduleIdOf(name);
      const needsName = action !== 'apply' && action !== 'list';
      if (needsName && id === undefined) throw new CliError(`fbb schedules ${action} needs daily, weekly or monthly, got ${name === undefined ? 'nothing' : `"${name}"`}`, ExitCode.badInput);
      const config = ctx.config();
      const client = await connectTemporal(config.temporal);
      try {
        const gateway = temporalScheduleGateway(client);
        if (action === 'apply') {
          const defs = desiredSchedules({
            database: config.database.database,
            taskQueue: config.temporal.taskQueue,
            timezone: config.schedules.timezone,
            uploadToS3: config.s3 !== undefined,
            crons: config.schedules,
          });
          const result = await applySchedules(gateway, defs);
          if (opts.json) printJson(result, ctx.stdout);
          else ctx.stdout.write(`created: ${result.created.join(', ') || 'none'}\nupdated: ${result.updated.join(', ') || 'none'}\n`);
          return;
        }
        if (action === 'list') {
          const rows = await gateway.list();
          if (opts.json) return printJson(rows, ctx.stdout);
          const local = (d: Date) => d.toLocaleString('sv-SE', { timeZone: config.schedules.timezone });
          ctx.stdout.write(`${formatTable([['SCHEDULE', 'STATE', `NEXT RUNS (${config.schedules.timezone})`], ...rows.map((r) => [r.id, r.paused ? 'paused' : 'active', r.nextActionTimes.slice(0, 3).map(local).join(', ')])])}\n`);
          return;
        }
        const handle = client.schedule.getHandle(id!);
        if (action === 'pause') await handle.pause('paused with fbb schedules pause');
        else if (action === 'unpause') await handle.unpause('unpaused with fbb schedules unpause');
        else if (action === 'trigger') await handle.trigger();
        else await handle.delete();
        ctx.stdout.write(`${action}: ${id!}\n`);
      } finally {
        await client.connection.close();
      }
    });
}
