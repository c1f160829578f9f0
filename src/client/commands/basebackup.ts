import type { Command } from 'commander';
import { formatBytes } from '../../format';
import { baseBackupWorkflowId } from '../../ids';
import { baseBackup, pruneBaseBackups } from '../../workflows';
import type { PhysicalPruneDecision } from '../../activities/basebackup/prune';
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
    .option('--no-cleanup', 'do not apply base-backup and WAL retention (RETENTION_BASEBACKUP_DAYS) afterwards')
    .option('--prune-only', 'take no backup: apply base-backup and WAL retention now', false)
    .option('--dry-run', 'take no backup: show what base-backup and WAL retention would remove now; change nothing', false)
    .option('--json', 'print the result as JSON', false)
    .option('--local', 'run in this process instead of on a Temporal worker (not durable)', false)
    .option('--workflow-id <id>', 'workflow ID to use (default: basebackup-<database>-<UTC time>); the same ID again returns that run')
    .addHelpText('after', '\nExamples:\n  $ fbb basebackup --local\n  $ fbb basebackup --incremental --json\n  $ fbb basebackup --dry-run\n  $ fbb basebackup --prune-only --json\n')
    .action(async (opts: { incremental: boolean; cleanup: boolean; pruneOnly: boolean; dryRun: boolean; json: boolean; local: boolean; workflowId?: string }) => {
      const config = ctx.config();
      const runner = await openRunner(config, { local: opts.local, notice: ctx.notice, connect: ctx.connect });
      try {
        if (opts.pruneOnly || opts.dryRun) {
          const workflowId = opts.workflowId ?? `prune-${baseBackupWorkflowId(config.database.database)}`;
          const started = await runner.start(pruneBaseBackups, { args: [{ dry_run: opts.dryRun }], workflowId, explicitId: opts.workflowId !== undefined });
          let pruned: { dry_run: boolean; decisions: PhysicalPruneDecision[] };
          try {
            pruned = await started.result();
          } catch (err) {
            if (!runner.local && temporalServerLost(err)) throw outcomeUnknown('base-backup retention', workflowId, config.temporal.address, err);
            const { message, exitCode } = describeFailure(`base-backup retention ${workflowId}`, err);
            throw new CliError(message, exitCode);
          }
          if (opts.json) printJson(pruned, ctx.stdout);
          else ctx.stdout.write(`${formatPhysicalPrune(pruned.decisions, pruned.dry_run)}\n`);
          ctx.setExitCode(ExitCode.ok);
          return;
        }
        const workflowId = opts.workflowId ?? baseBackupWorkflowId(config.database.database);
        const started = await runner.start(baseBackup, { args: [{ incremental: opts.incremental, ...(opts.cleanup ? {} : { cleanup_old: false }) }], workflowId, explicitId: opts.workflowId !== undefined });
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
    ...(r.pruned === undefined ? [] : [formatPhysicalPrune(r.pruned, false)]),
  ].join('\n');
}

/** Retention's decisions as a person reads them: what was (or would be) removed, with why, and what was kept. */
export function formatPhysicalPrune(decisions: PhysicalPruneDecision[], dryRun: boolean): string {
  const line = (d: PhysicalPruneDecision) => `${d.filename} (${d.location}): ${d.reason}`;
  const removals = decisions.filter((d) => d.action === 'remove');
  const keeps = decisions.filter((d) => d.action === 'keep');
  return formatTable([
    [dryRun ? '  would prune' : '  pruned', removals.length === 0 ? 'nothing' : line(removals[0]!)],
    ...removals.slice(1).map((d) => ['', line(d)]),
    ['  kept', keeps.length === 0 ? 'nothing' : line(keeps[0]!)],
    ...keeps.slice(1).map((d) => ['', line(d)]),
  ]);
}

/** One line on the verification: what was checked and how long it took. */
function formatVerification(v: BaseBackupResult['manifest']['verification']): string {
  if (!v) return 'no';
  const counts = v.checks.row_counts.exact ? `row counts of ${v.checks.row_counts.tables_compared} tables equal${v.checks.row_counts.tables_skipped.length > 0 ? ` (unlogged, not in a base backup: ${v.checks.row_counts.tables_skipped.join(', ')})` : ''}` : `row counts not compared: ${v.checks.row_counts.note ?? ''}`;
  return `restored to ${v.checks.consistency.recovered_to_lsn} (consistent at ${v.checks.consistency.consistent_at}), pg_amcheck clean, ${counts}; took ${(v.duration_ms / 1000).toFixed(1)} s`;
}
