import { Option, type Command } from 'commander';
import { formatBytes } from '../../format';
import type { BackupInput } from '../../backup/input';
import { BACKUP_FORMATS } from '../../backup/naming';
import { backupWorkflowId } from '../../ids';
import { backupDatabase, progressQuery } from '../../workflows';
import type { BackupResult } from '../../workflows/backupDatabase';
import type { CommandContext } from '../context';
import { CliError, ExitCode } from '../exitCodes';
import { describeFailure, outcomeUnknown, temporalServerLost } from '../failures';
import { formatTable, printJson } from '../output';
import { showProgress } from '../progress';
import { noWorkerMessage, noWorkerPolling, openRunner } from '../runner';

interface BackupOptions {
  type: BackupInput['backup_type'];
  uploadToS3: boolean;
  cleanup: boolean;
  dryRun: boolean;
  format?: BackupInput['format'];
  json: boolean;
  local: boolean;
  workflowId?: string;
}

/** `fbb backup`: runs the backupDatabase workflow and prints its result. */
export function registerBackup(program: Command, ctx: CommandContext): void {
  program
    .command('backup')
    .description('make a verified backup: dump, restore into a scratch database and check, upload, prune')
    .addOption(new Option('--type <type>', 'backup type (sets retention)').choices(['daily', 'weekly', 'monthly', 'manual']).default('manual'))
    .option('--upload-to-s3', 'upload to S3_BUCKET after verification', false)
    .option('--no-cleanup', 'do not apply retention afterwards')
    .option('--dry-run', 'show what would be dumped and pruned; change nothing', false)
    .addOption(
      new Option('--format <format>', `file format: ${Object.entries(BACKUP_FORMATS).map(([f, ext]) => `${f} (${ext})`).join(', ')} (default: BACKUP_FORMAT, else plain_gzip)`).choices(
        Object.keys(BACKUP_FORMATS),
      ),
    )
    .option('--json', 'print the result as JSON', false)
    .option('--local', 'run in this process instead of on a Temporal worker (not durable)', false)
    .option('--workflow-id <id>', 'workflow ID to use (default: backup-<database>-<type>-<UTC time>); the same ID again returns that run instead of making a second backup')
    .addHelpText(
      'after',
      '\nExamples:\n  $ fbb backup --local\n  $ fbb backup --type daily --upload-to-s3\n  $ fbb backup --format plain_zstd --local\n  $ fbb backup --dry-run --json\n' +
        '  $ fbb backup --type daily --workflow-id nightly-2026-11-24 --json\n',
    )
    .action(async (opts: BackupOptions) => {
      const config = ctx.config();
      const input: BackupInput = { backup_type: opts.type, upload_to_s3: opts.uploadToS3, cleanup_old: opts.cleanup, dry_run: opts.dryRun, format: opts.format ?? config.backup.format };
      const runner = await openRunner(config, { local: opts.local, notice: ctx.notice, connect: ctx.connect });
      try {
        const started = await runner.start(backupDatabase, { args: [input], workflowId: opts.workflowId ?? backupWorkflowId(config.database.database, opts.type), explicitId: opts.workflowId !== undefined });
        const { workflowId } = started;
        if (started.existing === null) ctx.notice(`fbb: backup ${workflowId} started${runner.local ? '' : ` on task queue ${config.temporal.taskQueue}`}`);
        else if (started.existing.state === 'running') ctx.notice(`fbb: backup ${workflowId} was already running (since ${started.existing.since}); waiting for it instead of starting another`);
        else ctx.notice(`fbb: backup ${workflowId} already finished (at ${started.existing.since}); showing its result, no second backup was made`);
        if (started.existing === null && (await noWorkerPolling(runner))) ctx.notice(`fbb: warning: ${noWorkerMessage(config)}; the backup waits until one does`);
        const stop = showProgress(started, progressQuery, ctx.stderr, (p) => `backup: ${p.step}${p.filename ? ` ${p.filename}` : ''}`);
        let result: BackupResult;
        try {
          result = await started.result();
        } catch (err) {
          if (!runner.local && temporalServerLost(err)) throw outcomeUnknown('backup', workflowId, config.temporal.address, err);
          const { message, exitCode } = describeFailure(`backup ${workflowId}`, err);
          throw new CliError(`${message}\nSee "fbb doctor${runner.local ? ' --local' : ''}" for the environment checks.`, exitCode);
        } finally {
          stop();
        }
        if (opts.json) printJson(result, ctx.stdout);
        else ctx.stdout.write(`${formatBackupResult(result)}\n`);
        ctx.setExitCode(ExitCode.ok);
      } finally {
        await runner.close();
      }
    });
}

/** The result as a person reads it. */
export function formatBackupResult(r: BackupResult): string {
  const rows = `${r.tables_backed_up} tables, ${r.total_rows.toLocaleString('en-US')} rows`;
  if (r.dry_run) {
    const prune = r.would_prune?.length ? r.would_prune.map((p) => `${p.filename} (${p.location}): ${p.reason}`) : ['nothing'];
    return [
      `dry run: would write ${r.filename}`,
      formatTable([
        ['  database', `${rows}; about ${formatBytes((r.estimated_size_mb ?? 0) * 1024 * 1024)} on disk before compression`],
        ['  would prune', prune[0]!],
        ...prune.slice(1).map((p) => ['', p]),
      ]),
      'nothing was written or deleted',
    ].join('\n');
  }
  const pruned = r.pruned.length ? r.pruned.map((p) => `${p.filename} (${p.location})`) : ['nothing'];
  return [
    `backup ${r.filename}: verified`,
    formatTable([
      ['  size', `${r.size_mb} MB (sha256 ${r.sha256?.slice(0, 12)}…)`],
      ['  tables', `${rows}; every count matched in a restored copy`],
      ['  uploaded', r.uploaded ? `s3://${r.uploaded.bucket}/${r.uploaded.key}` : 'no'],
      ['  pruned', pruned[0]!],
      ...pruned.slice(1).map((p) => ['', p]),
      ['  took', `${(r.duration_ms / 1000).toFixed(1)} s`],
    ]),
  ].join('\n');
}
