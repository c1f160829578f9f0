import os from 'node:os';
import type { Command } from 'commander';
import { restoreWorkflowId } from '../../ids';
import { cancelRestore, confirmRestore, restoreDatabase, statusQuery } from '../../workflows';
import type { RestoreResult } from '../../workflows/restoreDatabase';
import type { CommandContext } from '../context';
import { CliError, ExitCode } from '../exitCodes';
import { describeFailure } from '../failures';
import { formatTable, printJson } from '../output';
import { openRunner, signalExisting, type StartedWorkflow } from '../runner';

interface RestoreOptions {
  source: 'local' | 's3';
  yes: boolean;
  preRestoreBackup: boolean;
  json: boolean;
  local: boolean;
  workflowId?: string;
}

const EXIT_BY_STATUS: Record<RestoreResult['status'], number> = {
  success: ExitCode.ok,
  rolled_back: ExitCode.rolledBack,
  cancelled: ExitCode.cancelled,
  expired: ExitCode.cancelled,
  failed: ExitCode.failed,
  running: ExitCode.failed,
};

/** Who confirms: the user at this machine. */
function whoAmI(): string {
  return `${os.userInfo().username}@${os.hostname()}`;
}

/** `fbb restore <file>`, `fbb restore confirm <id>`, `fbb restore cancel <id>`. */
export function registerRestore(program: Command, ctx: CommandContext): void {
  program
    .command('restore')
    .description('restore a backup: validate, pre-restore backup, confirm, restore beside and swap in, verify, roll back on failure')
    .argument('<file|confirm|cancel>', 'backup file name (as "fbb list" shows it), or confirm/cancel')
    .argument('[workflow-id]', 'with confirm/cancel: the restore to signal')
    .option('--source <source>', 'where the backup is: local or s3', 'local')
    .option('--yes', 'do not ask: confirm in the input (confirm_restore: true)', false)
    .option('--no-pre-restore-backup', 'skip the pre-restore backup (then a failed in-place restore cannot be rolled back)')
    .option('--json', 'print the result as JSON', false)
    .option('--local', 'run in this process instead of on a Temporal worker (not durable)', false)
    .option('--workflow-id <id>', 'workflow ID to use (default: restore-<database>-<UTC time>)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ fbb restore family_brain_daily_20251208_020000.sql.gz\n  $ fbb restore family_brain_daily_20251208_020000.sql.gz --source s3 --local --yes\n' +
        '  $ fbb restore confirm restore-family_brain-20261124T101500Z\n  $ fbb restore cancel restore-family_brain-20261124T101500Z\n',
    )
    .action(async (target: string, workflowId: string | undefined, opts: RestoreOptions) => {
      const config = ctx.config();
      if (target === 'confirm' || target === 'cancel') {
        if (!workflowId) throw new CliError(`fbb restore ${target} needs the restore's workflow ID (fbb restore ${target} <workflow-id>)`, ExitCode.badInput);
        if (target === 'confirm') await signalExisting(config, opts.local, workflowId, confirmRestore, { confirmed_by: whoAmI() });
        else await signalExisting(config, opts.local, workflowId, cancelRestore, { cancelled_by: whoAmI() });
        ctx.stdout.write(`${target === 'confirm' ? 'confirmed' : 'cancelled'} ${workflowId}\n`);
        return;
      }
      if (opts.source !== 'local' && opts.source !== 's3') throw new CliError(`--source must be local or s3, got "${String(opts.source)}"`, ExitCode.badInput);
      const askable = !opts.yes && ctx.interactive;
      if (opts.local && !opts.yes && !askable) {
        throw new CliError('a --local restore needs a terminal to confirm at, or --yes', ExitCode.badInput);
      }
      const runner = await openRunner(config, { local: opts.local, notice: ctx.notice });
      try {
        const id = opts.workflowId ?? restoreWorkflowId(config.database.database);
        const input = { backup_filename: target, backup_source: opts.source, confirm_restore: opts.yes, create_pre_restore_backup: opts.preRestoreBackup };
        const started = await runner.start(restoreDatabase, { args: [input], workflowId: id });
        ctx.notice(`fbb: restore ${id} started`);
        if (!opts.yes) {
          const waiting = await untilAwaitingConfirmation(started);
          if (waiting !== undefined) {
            if (!askable) {
              ctx.stdout.write(
                `restore ${id} waits for confirmation (until ${waiting.confirm_by ?? '?'}); pre-restore backup: ${waiting.pre_restore_backup ?? 'none'}\n` +
                  `confirm with:  fbb restore confirm ${id}\n` +
                  `or:            temporal workflow signal --workflow-id ${id} --name confirmRestore --input '{"confirmed_by": "${whoAmI()}"}'\n` +
                  `cancel with:   fbb restore cancel ${id}\n`,
              );
              return;
            }
            ctx.notice(`fbb: pre-restore backup: ${waiting.pre_restore_backup ?? 'none (--no-pre-restore-backup)'}`);
            const answer = await ctx.prompt(`Type the database name (${config.database.database}) to replace it with ${target}: `);
            if (answer.trim() === config.database.database) await started.signal(confirmRestore, { confirmed_by: whoAmI() });
            else await started.signal(cancelRestore, { cancelled_by: whoAmI(), reason: 'the typed name did not match' });
          }
        }
        let result: RestoreResult;
        try {
          result = await started.result();
        } catch (err) {
          const { message, exitCode } = describeFailure(`restore ${id}`, err);
          throw new CliError(`${message}\nThe database was not changed. Run "fbb list${opts.local ? ' --local' : ''}" to pick another backup.`, exitCode);
        }
        if (opts.json) printJson(result, ctx.stdout);
        else ctx.stdout.write(`${formatRestoreResult(result, config.database.database)}\n`);
        ctx.setExitCode(EXIT_BY_STATUS[result.status]);
      } finally {
        await runner.close();
      }
    });
}

/** Polls `status` until the restore waits for confirmation (its answer) or has ended (undefined). */
async function untilAwaitingConfirmation(started: StartedWorkflow<typeof restoreDatabase>): Promise<RestoreResult | undefined> {
  let ended = false;
  started.result().then(
    () => (ended = true),
    () => (ended = true),
  );
  for (;;) {
    if (ended) return undefined;
    const state = await started.query(statusQuery).catch(() => undefined);
    if (state?.phase === 'awaiting_confirmation') return state;
    if (state?.phase === 'done') return undefined;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The result as a person reads it. */
export function formatRestoreResult(r: RestoreResult, database: string): string {
  const tables = r.verification ? Object.keys(r.verification.tables).length : 0;
  const rows: string[][] = [
    ['  pre-restore backup', r.pre_restore_backup ?? 'none'],
    ['  strategy', r.strategy ?? '-'],
  ];
  if (r.verification) rows.push(['  verification', r.verification.ok ? `${tables} tables match` : 'MISMATCH (see --json)']);
  if (r.aside_database) rows.push(['  previous database', `${r.aside_database} (kept; a backup's prune drops it after RETENTION_ASIDE_DATABASE_DAYS)`]);
  if (r.roles_created.length) rows.push(['  roles created', `${r.roles_created.join(', ')} (NOLOGIN, no password)`]);
  if (r.rollback) rows.push(['  rollback', `${r.rollback.strategy}, ${r.rollback.verification.ok ? 'verified' : 'NOT VERIFIED'}${r.rollback.failed_database ? `; the failed restore is kept as ${r.rollback.failed_database}` : ''}`]);
  if (r.error) rows.push(['  reason', `${r.error.type}: ${r.error.message}`]);
  rows.push(['  took', `${(r.duration_ms / 1000).toFixed(1)} s`]);
  return `restore of ${database} from ${r.restored_from}: ${r.status.replace('_', ' ')}\n${formatTable(rows)}`;
}
