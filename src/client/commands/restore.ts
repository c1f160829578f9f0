import os from 'node:os';
import { Option, type Command } from 'commander';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { describeCreatedRole } from '../../backup/createdRoles';
import { restoreWorkflowId } from '../../ids';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { cancelRestore, cancelRestoreUpdate, confirmRestore, confirmRestoreUpdate, restoreDatabase, statusQuery } from '../../workflows';
import type { RestoreResult } from '../../workflows/restoreDatabase';
import type { CommandContext } from '../context';
import { CliError, ExitCode } from '../exitCodes';
import { describeFailure } from '../failures';
import { WORKFLOW_TYPES } from '../history/entry';
import { formatTable, printJson } from '../output';
import { aboutLines, describeMoment, doubtOptions, sourceOf } from './restoreAbout';
import { isPartialRestore, runPartialRestore, type PartialRestoreOptions } from './restorePartial';
import { checkMoment, runRestoreToTime } from './restoreToTime';
import { describeExisting, noWorkerMessage, noWorkerPolling, notReachableLocally, openRunner, withTemporal, type StartedWorkflow } from '../runner';

/** Every option of `fbb restore`: those a partial restore reads, and --no-roles. */
interface RestoreOptions extends PartialRestoreOptions {
  /** false with --no-roles. */
  roles: boolean;
  /** --to-time: a point-in-time restore into --target-dir (restoreToTime.ts). */
  toTime?: string;
  targetDir?: string;
}

const EXIT_BY_STATUS: Record<RestoreResult['status'], number> = {
  success: ExitCode.ok,
  rolled_back: ExitCode.rolledBack,
  cancelled: ExitCode.cancelled,
  expired: ExitCode.cancelled,
  failed: ExitCode.failed,
  running: ExitCode.failed,
};

/** What to do after a restore that did not succeed. */
const NEXT_BY_STATUS: Partial<Record<RestoreResult['status'], string>> = {
  rolled_back: 'the database is as it was before; fix the reason above, then restore again (or pick another backup with "fbb list")',
  cancelled: 'nothing was changed; run the restore again when you are sure',
  expired: 'nothing was changed; run the restore again and confirm within the time given',
  failed: 'the database was not changed; fix the reason above, then restore again (or pick another backup with "fbb list")',
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
    .argument('[file|confirm|cancel]', 'backup file name (as "fbb list" shows it), or confirm/cancel; none with --to-time')
    .argument('[workflow-id]', 'with confirm/cancel: the restore to confirm or cancel (a Temporal Update; it answers, or says why not)')
    .addOption(new Option('--source <source>', 'where the backup is (with --to-time: s3 copies the base backup and WAL the moment needs down into BACKUP_DIR first)').choices(['local', 's3']).default('local'))
    .option('--yes', 'do not ask: confirm in the input (confirm_restore: true)', false)
    .option('--no-pre-restore-backup', 'skip the pre-restore backup (then a failed in-place restore cannot be rolled back)')
    .option('--allow-unverified', 'restore a backup whose manifest says "dumped" (never verified); refused otherwise', false)
    .option('--no-roles', 'create missing roles NOLOGIN without password, not as the backup recorded them (recreate_roles: false)')
    .option('--force', 'restore a backup that looks wrong (empty, cut off, sharing no table with the live database, a small fraction of its rows), after a confirmation that shows why (force: true)', false)
    .option('--from-database <name>', 'restore a backup of another database (its manifest names it) over this one (from_database)')
    .option('--json', 'print the result as JSON', false)
    .option('--local', 'run in this process instead of on a Temporal worker (not durable)', false)
    .option('--workflow-id <id>', 'workflow ID to use (default: restore-<database>-<UTC time>); the same ID again attaches to that restore instead of starting another')
    .option('--tenant <id>', 'restore only this tenant\'s rows (found through its foreign keys); other tenants stay as they are')
    .option('--table <schema.table>', 'restore only this table\'s rows')
    .option('--as <name>', 'with --table: load the backup\'s rows beside the live table under this new name instead')
    .option('--dry-run', 'with --tenant or --table: show the plan (rows to delete, insert, update; conflicts) and change nothing', false)
    .option('--tenant-column <column>', 'with --tenant: the column naming the tenant (default tenant_id)')
    .option('--tenant-table <table>', 'with --tenant: the table whose rows are the tenants (default tenants)')
    .option('--to-time <moment>', 'restore from base backups + archived WAL to a moment: ISO 8601 with an offset or Z (2026-12-05T23:10:00Z), or "latest"; into the live database (whole, --tenant or --table, confirmed like a file restore), or with --target-dir into a directory')
    .option('--target-dir <dir>', 'with --to-time: an empty or new directory that becomes the restored, promoted data directory (start it with pg_ctl -D DIR start); the disaster path')
    .addHelpText(
      'after',
      '\nExamples:\n  $ fbb restore family_brain_daily_20251208_020000.sql.gz\n  $ fbb restore family_brain_daily_20251208_020000.sql.gz --source s3 --local --yes\n' +
        '  $ fbb restore family_brain_daily_20251208_020000.sql.gz --yes --workflow-id restore-after-incident-42 --json\n' +
        '  $ fbb restore confirm restore-family_brain-20261124T101500Z\n  $ fbb restore cancel restore-family_brain-20261124T101500Z --json\n' +
        '  $ fbb restore --to-time 2026-12-05T23:10:00Z --yes\n  $ fbb restore --to-time 2026-12-05T23:10:00Z --tenant 6f1c2a4e-0000-4000-8000-000000000001 --dry-run\n' +
        '  $ fbb restore --to-time 2026-12-05T23:10:00Z --target-dir /srv/pg-restored --json\n  $ fbb restore --to-time latest --target-dir /srv/pg-restored --local\n',
    )
    .action(async (target: string | undefined, workflowId: string | undefined, opts: RestoreOptions) => {
      if (opts.toTime !== undefined) {
        if (target !== undefined) throw new CliError(`--to-time restores from base backups and the WAL archive, not from a file: drop "${target}", or drop --to-time to restore that file`, ExitCode.badInput);
        if (opts.targetDir !== undefined) {
          if (isPartialRestore(opts)) throw new CliError('--target-dir makes a whole data directory (the disaster path); --tenant, --table, --as and --dry-run restore into the live database: drop --target-dir, or drop those', ExitCode.badInput);
          return runRestoreToTime(ctx, { toTime: opts.toTime, targetDir: opts.targetDir, source: opts.source, json: opts.json, local: opts.local, workflowId: opts.workflowId });
        }
        checkMoment(opts.toTime);
      } else if (opts.targetDir !== undefined) {
        throw new CliError('--target-dir goes with --to-time <moment>: fbb restore --to-time 2026-12-05T23:10:00Z --target-dir /srv/pg-restored; a backup file is restored into the live database, not into a directory', ExitCode.badInput);
      }
      if (target === undefined && opts.toTime === undefined) throw new CliError('fbb restore needs a backup file name (as "fbb list" shows it), confirm/cancel <workflow-id>, or --to-time <moment> [--target-dir DIR]', ExitCode.badInput);
      const config = ctx.config();
      if (target === 'confirm' || target === 'cancel') {
        if (!workflowId) {
          throw new CliError(`fbb restore ${target} needs the restore's workflow ID: fbb restore ${target} <workflow-id> ("fbb history --type restore" lists them)`, ExitCode.badInput);
        }
        await updateRestore(ctx, target, workflowId, opts);
        return;
      }
      if (isPartialRestore(opts)) return runPartialRestore(ctx, target, opts);
      // What is restored: a file, or (--to-time without --target-dir) a moment of the WAL archive, made into a file on the worker first.
      const source = opts.toTime !== undefined ? { to_time: opts.toTime } : { backup_filename: target! };
      const what = opts.toTime !== undefined ? `its state at ${opts.toTime}` : target!;
      const askable = !opts.yes && ctx.interactive;
      if (opts.local && !opts.yes && !askable) {
        throw new CliError('a --local restore needs a terminal to confirm at: run it in one, or add --yes to confirm in advance', ExitCode.badInput);
      }
      const runner = await openRunner(config, { local: opts.local, notice: ctx.notice, connect: ctx.connect });
      try {
        const input = { ...source, backup_source: opts.source, confirm_restore: opts.yes, create_pre_restore_backup: opts.preRestoreBackup, allow_unverified: opts.allowUnverified, ...(opts.roles ? {} : { recreate_roles: false }), ...doubtOptions(opts) };
        const started = await runner.start(restoreDatabase, { args: [input], workflowId: opts.workflowId ?? restoreWorkflowId(config.database.database), explicitId: opts.workflowId !== undefined });
        const id = started.workflowId;
        if (started.existing === null) ctx.notice(`fbb: restore ${id} started`);
        else if (started.existing.state === 'running') ctx.notice(`fbb: restore ${id} was already running (since ${started.existing.since}); following it instead of starting another`);
        else ctx.notice(`fbb: restore ${id} already finished (at ${started.existing.since}); showing its result, nothing was started`);
        if (started.existing === null && (await noWorkerPolling(runner))) ctx.notice(`fbb: warning: ${noWorkerMessage(config)}; the restore waits until one does`);
        if (!opts.yes && started.existing?.state !== 'completed') {
          const waiting = await untilAwaitingConfirmation(started, config.temporal.taskQueue);
          if (waiting !== undefined) {
            if (!askable && opts.json) {
              printJson(waiting, ctx.stdout);
              ctx.notice(`fbb: restore ${id} waits for confirmation until ${waiting.confirm_by ?? '?'}: fbb restore confirm ${id} (or fbb restore cancel ${id})`);
              return;
            }
            if (!askable) {
              ctx.stdout.write(
                aboutLines(waiting.backup).map((l) => `${l}\n`).join('') +
                `restore ${id} waits for confirmation (until ${waiting.confirm_by ?? '?'}); pre-restore backup: ${preRestoreNote(waiting, opts.preRestoreBackup)}\n` +
                  `confirm with:  fbb restore confirm ${id}\n` +
                  `or:            temporal workflow signal --workflow-id ${id} --name confirmRestore --input '{"confirmed_by": "${whoAmI()}"}'\n` +
                  `cancel with:   fbb restore cancel ${id}\n`,
              );
              return;
            }
            ctx.notice(`fbb: pre-restore backup: ${preRestoreNote(waiting, opts.preRestoreBackup)}`);
            for (const line of aboutLines(waiting.backup)) ctx.notice(`fbb: ${line}`);
            const answer = await ctx.prompt(`Type the database name (${config.database.database}) to replace it with ${what}${waiting.backup ? ` (${sourceOf(waiting.backup)})` : ''}: `);
            if (answer.trim() === config.database.database) await started.signal(confirmRestore, { confirmed_by: whoAmI() });
            else await started.signal(cancelRestore, { cancelled_by: whoAmI(), reason: 'the typed name did not match' });
          }
        }
        let result: RestoreResult;
        try {
          result = await started.result();
        } catch (err) {
          const { message, exitCode, type } = describeFailure(`restore ${id}`, err);
          const list = `fbb list${opts.local ? ' --local' : ''}`;
          const next = mayHaveChanged(err)
            ? `The database may have been changed: check it before anything else; "${list}" shows the pre-restore backup and the databases kept aside.`
            : type === 'DatabaseBusy'
              ? 'The database was not changed. The run named above holds its lock: wait for it (fbb status <its workflow ID>) and restore again.'
              : `The database was not changed. Run "${list}" to pick another backup.`;
          throw new CliError(`${message}\n${next}`, exitCode, { type, next });
        }
        if (opts.json) printJson(result, ctx.stdout);
        else ctx.stdout.write(`${formatRestoreResult(result, config.database.database)}\n`);
        ctx.setExitCode(EXIT_BY_STATUS[result.status]);
      } finally {
        await runner.close();
      }
    });
}

/**
 * `fbb restore confirm|cancel <id>`: sends the confirmRestore or cancelRestore Update and reports
 * what the workflow answered: the phase it moved the restore to, or why its validator refused
 * (then nothing changed in the workflow).
 */
async function updateRestore(ctx: CommandContext, action: 'confirm' | 'cancel', workflowId: string, opts: RestoreOptions): Promise<void> {
  if (opts.local) throw notReachableLocally(workflowId, `${action} at that process's prompt, or run restores without --local on a Temporal worker`);
  const config = ctx.config();
  const by = whoAmI();
  const database = config.database.database;
  const update = action === 'confirm' ? confirmRestoreUpdate : cancelRestoreUpdate;
  const answer = await withTemporal(config, ctx.connect, async (client) => {
    const found = await describeExisting(client, config, workflowId);
    if (found.type !== WORKFLOW_TYPES.restore && !PARTIAL_RESTORE_TYPES.has(found.type)) {
      throw new CliError(`${workflowId} is a ${found.type} run, not a restore; nothing was sent; "fbb history --type restore" lists restores`, ExitCode.badInput);
    }
    if (found.status.name !== 'RUNNING') {
      throw new CliError(`restore ${workflowId} is not running any more (${found.status.name.toLowerCase()}); nothing was sent; "fbb status ${workflowId}" shows how it ended`, ExitCode.badInput);
    }
    const handle = client.workflow.getHandle(workflowId);
    try {
      if (action === 'confirm') return await handle.executeUpdate(confirmRestoreUpdate, { args: [{ confirmed_by: by, database }] });
      return await handle.executeUpdate(cancelRestoreUpdate, { args: [{ cancelled_by: by, database }] });
    } catch (err) {
      // The validator's refusal: its message says why and what to do; the workflow did not change.
      if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) throw new CliError(err.cause.message, ExitCode.badInput, { type: err.cause.type ?? undefined });
      throw err;
    }
  });
  if (opts.json) printJson({ workflow_id: workflowId, update: update.name, by, ...answer }, ctx.stdout);
  else ctx.stdout.write(`${action === 'confirm' ? 'confirmed' : 'cancelled'} ${workflowId}: the restore is now in phase ${answer.phase} (status ${answer.status}); follow it with: fbb status ${workflowId}\n`);
}

/** What the confirmation prompt says of the pre-restore backup: made once confirmed, right before the change (runs of older versions made it before). */
function preRestoreNote(waiting: RestoreResult, wanted: boolean): string {
  if (waiting.pre_restore_backup) return waiting.pre_restore_backup;
  return wanted ? 'made once you confirm, right before the database is changed (none if the database does not exist yet)' : 'none (--no-pre-restore-backup)';
}

/** Tenant and table restores (restorePartial.ts) take the same confirmRestore and cancelRestore Updates. */
const PARTIAL_RESTORE_TYPES = new Set(['restoreTenant', 'restoreTable']);

/** Activities after which a failed restore may have left the live database changed. */
const CHANGING_ACTIVITIES = new Set(['swapDatabases', 'restoreInPlace', 'rollbackSwap', 'verifyLiveDatabase']);

/** True unless the failure happened before anything touched the live database. */
function mayHaveChanged(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e instanceof ApplicationFailure && e.type === 'RollbackFailed') return true;
    if (e instanceof ActivityFailure && CHANGING_ACTIVITIES.has(e.activityType)) return true;
  }
  return false;
}

/** How long the status query may go unanswered before the CLI says no worker serves the restore. */
const NO_ANSWER_MS = 60_000;

/** Polls `status` until the restore waits for confirmation (its answer) or has ended (undefined). */
async function untilAwaitingConfirmation(started: StartedWorkflow<typeof restoreDatabase>, taskQueue: string): Promise<RestoreResult | undefined> {
  let ended = false;
  started.result().then(
    () => (ended = true),
    () => (ended = true),
  );
  let answered = Date.now();
  for (;;) {
    if (ended) return undefined;
    const state = await started.query(statusQuery).catch(() => undefined);
    if (state?.phase === 'awaiting_confirmation') return state;
    if (state?.phase === 'done') return undefined;
    if (state !== undefined) answered = Date.now();
    else if (Date.now() - answered > NO_ANSWER_MS) {
      throw new CliError(
        `restore ${started.workflowId} was started, but no worker has answered its status query for ${NO_ANSWER_MS / 1000} s: is a worker polling task queue "${taskQueue}"? ` +
          `Start one with "npm run worker"; the restore waits for it, and "fbb status ${started.workflowId}" follows it`,
        ExitCode.cannotConnect,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The result as a person reads it. */
export function formatRestoreResult(r: RestoreResult, database: string): string {
  const tables = r.verification ? Object.keys(r.verification.tables).length : 0;
  const rows: string[][] = [
    ['  pre-restore backup', r.pre_restore_backup ?? (r.strategy === 'create' ? 'none (the database did not exist: nothing to back up)' : 'none')],
    ['  strategy', r.strategy === 'create' ? 'create (the database did not exist; restored under another name, checked, renamed in)' : (r.strategy ?? '-')],
  ];
  if (r.to_time !== undefined) rows.push(['  moment', describeMoment(r)]);
  if (r.verification) rows.push(['  verification', r.verification.ok ? `${tables} tables match` : 'MISMATCH (see --json)']);
  if (r.aside_database) rows.push(['  previous database', `${r.aside_database} (kept; a backup's prune drops it after RETENTION_ASIDE_DATABASE_DAYS)`]);
  if (r.roles_created.length) rows.push(['  roles created', (r.roles_created_detail?.map(describeCreatedRole) ?? r.roles_created).join(', ')]);
  if (r.rollback) rows.push(['  rollback', `${r.rollback.strategy}, ${r.rollback.verification.ok ? 'verified' : 'NOT VERIFIED'}${r.rollback.failed_database ? `; the failed restore is kept as ${r.rollback.failed_database}` : ''}`]);
  if (r.rollback?.returned_to) rows.push(['  returned to', r.rollback.returned_to]);
  if (r.error) rows.push(['  reason', `${r.error.type}: ${r.error.message}`]);
  for (const note of r.notes ?? []) rows.push(['  note', note]);
  rows.push(['  took', `${(r.duration_ms / 1000).toFixed(1)} s`]);
  const next = NEXT_BY_STATUS[r.status];
  if (next) rows.push(['  next', next]);
  return `restore of ${database} from ${r.restored_from}: ${r.status.replace('_', ' ')}\n${formatTable(rows)}`;
}

