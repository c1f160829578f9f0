import { Option, type Command } from 'commander';
import { formatBytes } from '../../format';
import type { DrillSource } from '../../workflows/restoreDrill';
import { drillWorkflowId } from '../../ids';
import { restoreDrill } from '../../workflows';
import type { DrillResult } from '../../workflows/restoreDrill';
import type { CommandContext } from '../context';
import { CliError, ExitCode } from '../exitCodes';
import { describeFailure } from '../failures';
import { formatTable, printJson } from '../output';
import { noWorkerMessage, noWorkerPolling, openRunner } from '../runner';

interface DrillOptions {
  source?: DrillSource;
  json: boolean;
  local: boolean;
  workflowId?: string;
}

/** `fbb drill`: restores the newest verified backup into a scratch database and checks it against its manifest. */
export function registerDrill(program: Command, ctx: CommandContext): void {
  program
    .command('drill')
    .description('restore drill: restore the newest verified backup (the S3 copy when S3 is set) into a scratch database, check every table, drop it')
    .addOption(new Option('--source <source>', 'which copy to restore (default: s3 when S3_BUCKET is set, else local)').choices(['s3', 'local']))
    .option('--json', 'print the result as JSON', false)
    .option('--local', 'run in this process instead of on a Temporal worker (not durable)', false)
    .option('--workflow-id <id>', 'workflow ID to use (default: drill-<database>-<UTC time>)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ fbb drill\n  $ fbb drill --source local --json\n\n' +
        'The live database is not touched and no lock is taken: backups run beside a drill. A failed drill exits 1 and is notified (NOTIFY_WEBHOOK_URL).\n',
    )
    .action(async (opts: DrillOptions) => {
      const config = ctx.config();
      const runner = await openRunner(config, { local: opts.local, notice: ctx.notice, connect: ctx.connect });
      try {
        const started = await runner.start(restoreDrill, { args: [opts.source ? { source: opts.source } : {}], workflowId: opts.workflowId ?? drillWorkflowId(config.database.database), explicitId: opts.workflowId !== undefined });
        const { workflowId } = started;
        if (started.existing === null) ctx.notice(`fbb: restore drill ${workflowId} started${runner.local ? '' : ` on task queue ${config.temporal.taskQueue}`}`);
        if (started.existing === null && (await noWorkerPolling(runner))) ctx.notice(`fbb: warning: ${noWorkerMessage(config)}; the drill waits until one does`);
        let result: DrillResult;
        try {
          result = await started.result();
        } catch (err) {
          const { message, exitCode, type } = describeFailure(`restore drill ${workflowId}`, err);
          throw new CliError(message, exitCode, { type, next: 'do not rely on that backup: make a new one (fbb backup --upload-to-s3) and drill again; fbb history --type drill shows past drills' });
        }
        if (opts.json) printJson(result, ctx.stdout);
        else ctx.stdout.write(`${formatDrillResult(result)}\n`);
        ctx.setExitCode(ExitCode.ok);
      } finally {
        await runner.close();
      }
    });
}

/** A passed drill as a person reads it. */
export function formatDrillResult(r: DrillResult): string {
  const why = r.count_only ?? {};
  const samples =
    r.samples_missing.length === 0
      ? `${r.samples_checked} tables' sampled rows match the verified ones`
      : `${r.samples_checked} matched; counts only for ${r.samples_missing.map((t) => (why[t] ? `${t} (${why[t]})` : t)).join(', ')}`;
  const reordered = r.column_order_changed?.length ? [['  column order', `${r.column_order_changed.join(', ')}: restored with the columns in another order (pg_dump's limitation); compared by column name`] as [string, string]] : [];
  return [
    `restore drill of ${r.filename}: passed`,
    formatTable([
      ['  restored from', `${r.location} (${formatBytes(r.size_bytes)}, made ${r.backup_created_at})`],
      ['  tables', `${r.tables_checked} tables, ${r.rows_checked.toLocaleString('en-US')} rows; every count matches the manifest`],
      ['  row samples', samples],
      ...reordered,
      ['  scratch database', `${r.scratch_database} (dropped)`],
      ['  took', `${(r.duration_ms / 1000).toFixed(1)} s`],
    ]),
  ].join('\n');
}
