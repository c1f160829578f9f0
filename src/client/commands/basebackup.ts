import type { Command } from 'commander';
import { formatBytes } from '../../format';
import { baseBackupWorkflowId } from '../../ids';
import { baseBackup } from '../../workflows';
import type { BaseBackupResult } from '../../workflows/baseBackup';
import type { CommandContext } from '../context';
import { CliError, ExitCode } from '../exitCodes';
import { describeFailure, outcomeUnknown, temporalServerLost } from '../failures';
import { formatTable, printJson } from '../output';
import { noWorkerMessage, noWorkerPolling, openRunner } from '../runner';

/** `fbb basebackup`: runs the baseBackup workflow (pg_basebackup into BACKUP_DIR/base/<sysid>/, and S3) and prints its manifest. */
export function registerBaseBackup(program: Command, ctx: CommandContext): void {
  program
    .command('basebackup')
    .description('take a physical base backup (pg_basebackup) for point-in-time restores; the WAL comes from the archive (fbb wal start)')
    .option('--incremental', 'incremental against the newest earlier base backup (PostgreSQL 17+ with summarize_wal=on; otherwise taken full, and the manifest says why)', false)
    .option('--json', 'print the result as JSON', false)
    .option('--local', 'run in this process instead of on a Temporal worker (not durable)', false)
    .option('--workflow-id <id>', 'workflow ID to use (default: basebackup-<database>-<UTC time>); the same ID again returns that run')
    .addHelpText('after', '\nExamples:\n  $ fbb basebackup --local\n  $ fbb basebackup --incremental --json\n')
    .action(async (opts: { incremental: boolean; json: boolean; local: boolean; workflowId?: string }) => {
      const config = ctx.config();
      const runner = await openRunner(config, { local: opts.local, notice: ctx.notice, connect: ctx.connect });
      try {
        const workflowId = opts.workflowId ?? baseBackupWorkflowId(config.database.database);
        const started = await runner.start(baseBackup, { args: [{ incremental: opts.incremental }], workflowId });
        if (started.existing === null) ctx.notice(`fbb: base backup ${workflowId} started`);
        else ctx.notice(`fbb: base backup ${workflowId} was already ${started.existing.state} (since ${started.existing.since}); showing that run`);
        if (started.existing === null && (await noWorkerPolling(runner))) ctx.notice(`fbb: warning: ${noWorkerMessage(config)}; the base backup waits until one does`);
        let result: BaseBackupResult;
        try {
          result = await started.result();
        } catch (err) {
          if (!runner.local && temporalServerLost(err)) throw outcomeUnknown('base backup', workflowId, config.temporal.address, err);
          const { message, exitCode } = describeFailure(`base backup ${workflowId}`, err);
          throw new CliError(`${message}\nSee "fbb doctor${runner.local ? ' --local' : ''}" for the environment checks.`, exitCode);
        }
        if (opts.json) printJson(result, ctx.stdout);
        else ctx.stdout.write(`${formatBaseBackup(result)}\n`);
        ctx.setExitCode(ExitCode.ok);
      } finally {
        await runner.close();
      }
    });
}

/** The result as a person reads it. */
export function formatBaseBackup(r: BaseBackupResult): string {
  const m = r.manifest;
  return [
    `base backup ${m.filename}: ${m.backup_type}${m.parent ? ` (incremental to ${m.parent})` : ''}`,
    formatTable([
      ['  server', `PostgreSQL ${m.server_version}, system ${m.system_identifier}, timeline ${m.timeline}`],
      ['  WAL', `${m.start_lsn} .. ${m.end_lsn} (restorable from ${m.end_time})`],
      ['  size', `${formatBytes(m.size_bytes)} (sha256 ${m.sha256.slice(0, 12)}…)`],
      ['  uploaded', r.uploaded ? `s3://${r.uploaded.bucket}/${r.uploaded.key}` : 'no'],
      ...(m.note ? [['  note', m.note]] : []),
      ['  verified', formatVerification(m.verification)],
      ['  took', `${(r.duration_ms / 1000).toFixed(1)} s`],
    ]),
  ].join('\n');
}

/** One line on the verification: what was checked and how long it took. */
function formatVerification(v: BaseBackupResult['manifest']['verification']): string {
  if (!v) return 'no';
  const counts = v.checks.row_counts.exact ? `row counts of ${v.checks.row_counts.tables_compared} tables equal${v.checks.row_counts.tables_skipped.length > 0 ? ` (unlogged, not in a base backup: ${v.checks.row_counts.tables_skipped.join(', ')})` : ''}` : `row counts not compared: ${v.checks.row_counts.note ?? ''}`;
  return `restored to ${v.checks.consistency.recovered_to_lsn} (consistent at ${v.checks.consistency.consistent_at}), pg_amcheck clean, ${counts}; took ${(v.duration_ms / 1000).toFixed(1)} s`;
}
