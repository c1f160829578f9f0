import type { Command } from 'commander';
import { scheduleIdOf } from '../../schedules/definitions';
import type { CommandContext } from '../context';
import { CliError, ExitCode } from '../exitCodes';
import { printJson } from '../output';
import { openSchedules, type ScheduleChange } from '../scheduleService';

const ACTIONS = ['apply', 'list', 'pause', 'unpause', 'trigger', 'delete'] as const;

/** `fbb schedules apply|list|pause|unpause|trigger|delete [daily|weekly|monthly]`: the Temporal Schedules that replace the Windmill crons. */
export function registerSchedules(program: Command, ctx: CommandContext): void {
  program
    .command('schedules')
    .description('create/update the daily, weekly and monthly backup schedules on Temporal, or list, pause, unpause, trigger, delete one')
    .argument('<action>', ACTIONS.join('|'))
    .argument('[name]', 'daily, weekly, monthly, drill, basebackup_full or basebackup_incremental (or schedule_daily_backup, ...)')
    .option('--json', 'print as JSON', false)
    .option('--local', 'list only: the schedules as configured, with their next runs computed without a Temporal server', false)
    .addHelpText('after', '\nExamples:\n  $ fbb schedules apply\n  $ fbb schedules list\n  $ fbb schedules list --local\n  $ fbb schedules pause weekly\n  $ fbb schedules trigger daily\n')
    .action(async (action: string, name: string | undefined, opts: { json: boolean; local: boolean }) => {
      if (!(ACTIONS as readonly string[]).includes(action)) throw new CliError(`unknown action "${action}"; use one of ${ACTIONS.join(', ')}`, ExitCode.badInput);
      const id = name === undefined ? undefined : scheduleIdOf(name);
      const needsName = action !== 'apply' && action !== 'list';
      if (needsName && id === undefined) throw new CliError(`fbb schedules ${action} needs daily, weekly, monthly, drill, basebackup_full or basebackup_incremental, got ${name === undefined ? 'nothing' : `"${name}"`}; for example "fbb schedules ${action} daily"`, ExitCode.badInput);
      const schedules = openSchedules(ctx, opts.local);
      if (action === 'apply') {
        const result = await schedules.apply();
        if (opts.json) printJson(result, ctx.stdout);
        else ctx.stdout.write(`created: ${result.created.join(', ') || 'none'}\nupdated: ${result.updated.join(', ') || 'none'}\n`);
        return;
      }
      if (action === 'list') {
        const { rows, table, problems } = await schedules.list();
        if (opts.json) printJson(rows, ctx.stdout);
        else ctx.stdout.write(`${table}\n`);
        // A paused-by-failure schedule or missed runs: exit 1, so that a cron or a monitor running "fbb schedules list" notices.
        if (problems.length > 0) ctx.setExitCode(ExitCode.failed);
        return;
      }
      await schedules.change(action as ScheduleChange, id!, name!);
      if (opts.json) printJson({ action, schedule_id: id! }, ctx.stdout);
      else ctx.stdout.write(`${action}: ${id!}\n`);
    });
}
