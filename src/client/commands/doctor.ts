import type { Command } from 'commander';
import type { DoctorReport } from '../../doctor/report';
import { doctorWorkflowId } from '../../ids';
import { checkEnvironment } from '../../workflows';
import { CliError, ExitCode } from '../exitCodes';
import { describeFailure } from '../failures';
import { formatTable, printJson } from '../output';
import { noWorkerMessage, noWorkerPolling, openRunner, resultWithin } from '../runner';
import type { CommandContext } from '../context';

const MARKS = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL', skip: 'skip' } as const;

/** `fbb doctor`: checks the database, tools, pgvector, backup directory, S3 and Temporal. */
export function registerDoctor(program: Command, ctx: CommandContext): void {
  program
    .command('doctor')
    .description('check that backups can work here: database, pg_dump/psql, pgvector, backup directory, S3, Temporal')
    .option('--local', 'run in this process instead of on a Temporal worker (not durable)', false)
    .option('--json', 'print the report as JSON', false)
    .option('--notify-test', 'also POST a test notification to each NOTIFY_WEBHOOK_URL (from where the checks run: the worker, or this process with --local)', false)
    .option('--workflow-id <id>', 'workflow ID to use (default: doctor-<UTC time>)')
    .addHelpText('after', '\nExamples:\n  $ fbb doctor --local\n  $ fbb doctor --json\n  $ fbb doctor --notify-test\n')
    .action(async (opts: { local: boolean; json: boolean; notifyTest: boolean; workflowId?: string }) => {
      const config = ctx.config();
      const runner = await openRunner(config, { local: opts.local, notice: ctx.notice, connect: ctx.connect });
      try {
        // With no worker, nothing would ever run the checks: say so now instead of after the wait below.
        if (await noWorkerPolling(runner)) throw new CliError(`${noWorkerMessage(config)}; nothing was started`, ExitCode.cannotConnect);
        const started = await runner.start(checkEnvironment, { args: [{ mode: opts.local ? 'local' : 'temporal', ...(opts.notifyTest ? { notify_test: true } : {}) }], workflowId: opts.workflowId ?? doctorWorkflowId(), explicitId: opts.workflowId !== undefined });
        const report = await resultWithin(started.result(), 120_000, config.temporal.taskQueue).catch((err: unknown) => {
          if (err instanceof CliError) throw err;
          const { message, exitCode } = describeFailure('doctor', err);
          throw new CliError(`${message}; run it again, and if it fails the same way, with --local to see the checks in this process`, exitCode);
        });
        if (opts.json) printJson(report, ctx.stdout);
        else ctx.stdout.write(`${formatReport(report)}\n`);
        ctx.setExitCode(report.status === 'fail' ? ExitCode.failed : ExitCode.ok);
      } finally {
        await runner.close();
      }
    });
}

/** The report as the terminal shows it: one line per check, the hint under it. */
export function formatReport(report: DoctorReport): string {
  const rows: string[][] = [];
  for (const c of report.checks) {
    rows.push([MARKS[c.status], c.name, c.detail]);
    if (c.hint) rows.push(['', '', `-> ${c.hint}`]);
  }
  const failed = report.checks.filter((c) => c.status === 'fail').length;
  const warned = report.checks.filter((c) => c.status === 'warn').length;
  const summary =
    failed > 0 ? `${failed} check(s) failed: fix them before relying on backups` : warned > 0 ? `all checks passed, ${warned} warning(s)` : 'all checks passed';
  return `${formatTable(rows)}\n\n${summary}`;
}
