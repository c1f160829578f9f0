import type { Command } from 'commander';
import { progressQuery, statusQuery } from '../../workflows';
import type { CommandContext } from '../context';
import { printJson } from '../output';
import { queryExisting } from '../runner';

const QUERY_BY_TYPE: Record<string, string> = { restoreDatabase: statusQuery.name, backupDatabase: progressQuery.name };

/** `fbb status <workflow-id>`: where a backup or restore on Temporal is. */
export function registerStatus(program: Command, ctx: CommandContext): void {
  program
    .command('status')
    .description("show a backup's progress or a restore's status (runs on Temporal)")
    .argument('<workflow-id>', 'the workflow ID fbb printed when it started')
    .option('--json', 'print as JSON', false)
    .addHelpText('after', '\nExamples:\n  $ fbb status restore-family_brain-20261124T101500Z\n  $ fbb status backup-family_brain-daily-20261124T070000Z --json\n')
    .action(async (workflowId: string, opts: { json: boolean }) => {
      const config = ctx.config();
      const found = await queryExisting(config, workflowId, (type) => QUERY_BY_TYPE[type]);
      if (opts.json) printJson(found, ctx.stdout);
      else ctx.stdout.write(`${workflowId} (${found.workflowType}): ${found.status}\n${found.answer === undefined ? '' : `${JSON.stringify(found.answer, null, 2)}\n`}`);
    });
}
