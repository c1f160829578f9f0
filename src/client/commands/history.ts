import { InvalidArgumentError, Option, type Command } from 'commander';
import type { CommandContext } from '../context';
import { ExitCode } from '../exitCodes';
import { formatHistory, type RunKind } from '../history/entry';
import { openRunRecords } from '../history/records';
import { printJson } from '../output';

interface HistoryOptions {
  type?: RunKind;
  limit: number;
  json: boolean;
  local: boolean;
}

const MAX_HISTORY = 1000;

/** `fbb history`: recent backup and restore runs with their outcome, from Temporal or (--local) from system_logs. */
export function registerHistory(program: Command, ctx: CommandContext): void {
  program
    .command('history')
    .description("recent backup and restore runs with their results, newest first: did last night's backup work?")
    .addOption(new Option('--type <type>', 'only backups, restores or restore drills').choices(['backup', 'restore', 'drill']))
    .addOption(new Option('--limit <n>', `how many runs (1-${MAX_HISTORY})`).argParser(parseLimit).default(20))
    .option('--json', 'print the runs as a JSON array', false)
    .option('--local', "without a Temporal server: read the runs the database's system_logs table recorded", false)
    .addHelpText(
      'after',
      '\nExamples:\n  $ fbb history\n  $ fbb history --type backup --limit 5\n  $ fbb history --local --json\n  $ fbb history --local --type restore\n\n' +
        'Without --local the runs come from Temporal\'s visibility (results are read for the runs listed); with --local from the\n' +
        "system_logs rows each backup writes, where a restore shows only as its pre-restore backup.\n",
    )
    .action(async (opts: HistoryOptions) => {
      const kinds: RunKind[] = opts.type ? [opts.type] : ['backup', 'restore', 'drill'];
      const records = openRunRecords(ctx, opts.local);
      const entries = await records.list({ kinds, limit: opts.limit });
      if (opts.json) printJson(entries, ctx.stdout);
      else if (entries.length === 0) ctx.stdout.write(`${records.noneYet(opts.type ?? 'backup or restore')}\n`);
      else ctx.stdout.write(`${formatHistory(entries)}\n`);
      ctx.setExitCode(ExitCode.ok);
    });
}

function parseLimit(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > MAX_HISTORY) throw new InvalidArgumentError(`expected a whole number from 1 to ${MAX_HISTORY}, e.g. --limit 5.`);
  return n;
}
