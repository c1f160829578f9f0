// `fbb restore <file> --tenant <id>` and `--table <schema.table> [--as <name>]`: the partial restores
// (with --to-time <moment> instead of a file: from that moment of the WAL archive).
import os from 'node:os';
import { describeCreatedRole } from '../../backup/createdRoles';
import { restoreWorkflowId } from '../../ids';
import { ApplicationFailure } from '@temporalio/common';
import { parseTableRestoreInput, parseTenantRestoreInput } from '../../partial/input';
import { formatPlan } from '../../partial/messages';
import { cancelRestore, confirmRestore, partialStatusQuery, restoreTable, restoreTenant } from '../../workflows';
import type { PartialRestoreResult } from '../../workflows/restoreTenant';
import type { CommandContext } from '../context';
import { CliError, ExitCode } from '../exitCodes';
import { describeFailure } from '../failures';
import { formatTable, printJson } from '../output';
import { noWorkerMessage, noWorkerPolling, openRunner, type StartedWorkflow } from '../runner';
import { aboutLines, describeMoment, doubtOptions } from './restoreAbout';

/** The options of `fbb restore` a partial restore reads. */
export interface PartialRestoreOptions {
  source: 'local' | 's3';
  yes: boolean;
  preRestoreBackup: boolean;
  allowUnverified: boolean;
  json: boolean;
  local: boolean;
  workflowId?: string;
  tenant?: string;
  table?: string;
  as?: string;
  dryRun: boolean;
  tenantColumn?: string;
  tenantTable?: string;
  force?: boolean;
  fromDatabase?: string;
  /** Instead of a file: a moment of the WAL archive (the workflow's to_time). */
  toTime?: string;
}

const EXIT_BY_STATUS: Record<PartialRestoreResult['status'], number> = {
  success: ExitCode.ok,
  planned: ExitCode.ok,
  refused: ExitCode.failed,
  cancelled: ExitCode.cancelled,
  expired: ExitCode.cancelled,
  failed: ExitCode.failed,
  running: ExitCode.failed,
};

const whoAmI = () => `${os.userInfo().username}@${os.hostname()}`;

/** True when the options ask for a partial restore (then restore.ts hands over to runPartialRestore). */
export function isPartialRestore(opts: { tenant?: string; table?: string; as?: string; dryRun?: boolean }): boolean {
  return opts.tenant !== undefined || opts.table !== undefined || opts.as !== undefined || opts.dryRun === true;
}

/** Runs restoreTenant or restoreTable: the plan first, then confirmation at the terminal (or --yes), then the result. */
export async function runPartialRestore(ctx: CommandContext, fileName: string | undefined, opts: PartialRestoreOptions): Promise<void> {
  // How messages name the source: the file, or the moment.
  const file = opts.toTime !== undefined ? `--to-time ${opts.toTime}` : fileName!;
  if ((opts.tenant === undefined) === (opts.table === undefined)) {
    throw new CliError(`fbb restore ${file}: ${opts.tenant === undefined ? '--dry-run and --as need --tenant <id> or --table <schema.table>' : '--tenant and --table cannot be combined'}; e.g. fbb restore ${file} --tenant <id> --dry-run`, ExitCode.badInput);
  }
  if (opts.as !== undefined && opts.table === undefined) throw new CliError('--as <name> goes with --table <schema.table>: it loads that table beside the live one', ExitCode.badInput);
  const config = ctx.config();
  const askable = !opts.yes && ctx.interactive;
  const needsConfirmation = !opts.yes && !opts.dryRun && opts.as === undefined;
  if (opts.local && needsConfirmation && !askable) {
    throw new CliError('a --local restore needs a terminal to confirm at: run it in one, add --yes to confirm in advance, or --dry-run to see the plan', ExitCode.badInput);
  }
  const common = { ...(opts.toTime !== undefined ? { to_time: opts.toTime } : { backup_filename: file }), backup_source: opts.source, confirm_restore: opts.yes, create_pre_restore_backup: opts.preRestoreBackup, allow_unverified: opts.allowUnverified, dry_run: opts.dryRun, ...doubtOptions(opts) };
  const kind = opts.tenant !== undefined ? 'tenant' : 'table';
  // The workflow's own validation, here first: bad input (an empty --as, a system schema) is refused before anything starts.
  const tenantInput = { ...common, tenant_id: opts.tenant, ...(opts.tenantColumn ? { tenant_column: opts.tenantColumn } : {}), ...(opts.tenantTable ? { tenant_table: opts.tenantTable } : {}) };
  const tableInput = { ...common, table: opts.table, ...(opts.as !== undefined ? { as: opts.as } : {}) };
  validateUpFront(() => (opts.tenant !== undefined ? parseTenantRestoreInput(tenantInput) : parseTableRestoreInput(tableInput)));
  const asked = { workflowId: opts.workflowId ?? restoreWorkflowId(config.database.database).replace(/^restore-/, `restore-${kind}-`), explicitId: opts.workflowId !== undefined };
  const runner = await openRunner(config, { local: opts.local, notice: ctx.notice, connect: ctx.connect });
  try {
    const started: StartedWorkflow<typeof restoreTenant> =
      opts.tenant !== undefined
        ? await runner.start(restoreTenant, { ...asked, args: [tenantInput] })
        : ((await runner.start(restoreTable, { ...asked, args: [tableInput] })) as StartedWorkflow<typeof restoreTenant>);
    const id = started.workflowId;
    if (started.existing === null) ctx.notice(`fbb: ${kind} restore ${id} started`);
    else ctx.notice(`fbb: ${kind} restore ${id} already ${started.existing.state === 'running' ? 'running' : 'finished'} (since ${started.existing.since}); following it instead of starting another`);
    if (started.existing === null && (await noWorkerPolling(runner))) ctx.notice(`fbb: warning: ${noWorkerMessage(config)}; the restore waits until one does`);
    if (needsConfirmation && started.existing?.state !== 'completed') {
      const waiting = await untilPlanned(started);
      if (waiting !== undefined) {
        const what = kind === 'tenant' ? `tenant ${opts.tenant}` : `table ${waiting.target}`;
        if (!askable) {
          if (opts.json) printJson(waiting, ctx.stdout);
          else ctx.stdout.write(`${formatPlan(waiting.plan!)}\n\n${aboutLines(waiting.backup).map((l) => `${l}\n`).join('')}restore ${id} waits for confirmation (until ${waiting.confirm_by ?? '?'}); pre-restore backup: ${preRestoreNote(waiting, opts.preRestoreBackup)}\n` +
              `confirm with:  fbb restore confirm ${id}\n` +
              `cancel with:   fbb restore cancel ${id}\n`);
          return;
        }
        ctx.stdout.write(`${formatPlan(waiting.plan!)}\n`);
        ctx.notice(`fbb: pre-restore backup: ${preRestoreNote(waiting, opts.preRestoreBackup)}`);
        for (const line of aboutLines(waiting.backup)) ctx.notice(`fbb: ${line}`);
        const expected = kind === 'tenant' ? opts.tenant! : waiting.target;
        const answer = await ctx.prompt(`Type ${kind === 'tenant' ? 'the tenant id' : 'the table name'} (${expected}) to put ${what} back as it was ${opts.toTime !== undefined ? `at ${opts.toTime}` : `in ${file}`}: `);
        if (answer.trim() === expected) await started.signal(confirmRestore, { confirmed_by: whoAmI() });
        else await started.signal(cancelRestore, { cancelled_by: whoAmI(), reason: `the typed ${kind === 'tenant' ? 'id' : 'name'} did not match` });
      }
    }
    let result: PartialRestoreResult;
    try {
      result = await started.result();
    } catch (err) {
      const { message, exitCode, type } = describeFailure(`${kind} restore ${id}`, err);
      throw new CliError(`${message}\nA partial restore changes the live database only in its last, single transaction: unless that step ran, the database was not changed.`, exitCode, { type });
    }
    if (opts.json) printJson(result, ctx.stdout);
    else ctx.stdout.write(`${formatPartialResult(result, config.database.database)}\n`);
    ctx.setExitCode(EXIT_BY_STATUS[result.status]);
  } finally {
    await runner.close();
  }
}

/** Runs a workflow's input parser in the CLI: its named failure becomes a bad-input exit, with nothing started. */
function validateUpFront(parse: () => unknown): void {
  try {
    parse();
  } catch (err) {
    if (err instanceof ApplicationFailure) throw new CliError(`${err.type ?? 'InvalidRestoreInput'}: ${err.message}`, ExitCode.badInput, { type: err.type ?? undefined });
    throw err;
  }
}

/** What the confirmation prompt says of the pre-restore backup: made once confirmed, right before the change (runs of older versions made it before). */
function preRestoreNote(waiting: PartialRestoreResult, wanted: boolean): string {
  return waiting.pre_restore_backup ?? (wanted ? 'made once you confirm, right before the rows are changed' : 'none (--no-pre-restore-backup)');
}

/** Polls `status` until the plan waits for confirmation (its answer) or the run has ended (undefined). */
async function untilPlanned(started: StartedWorkflow<typeof restoreTenant>): Promise<PartialRestoreResult | undefined> {
  let ended = false;
  started.result().then(
    () => (ended = true),
    () => (ended = true),
  );
  for (;;) {
    if (ended) return undefined;
    const state = await started.query(partialStatusQuery).catch(() => undefined);
    if (state?.phase === 'awaiting_confirmation') return state;
    if (state?.phase === 'done') return undefined;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The result as a person reads it: the plan, then what happened. */
export function formatPartialResult(r: PartialRestoreResult, database: string): string {
  const what = r.kind === 'tenant' ? `tenant ${r.target}` : `table ${r.target}`;
  const status = r.status === 'planned' ? 'planned (dry run: nothing was changed)' : r.status;
  const rows: string[][] = [];
  if (r.beside) rows.push(['  loaded beside', `${r.beside.table} (${r.beside.rows} rows from the backup; the live table was not touched)`]);
  if (r.to_time !== undefined) rows.push(['  moment', describeMoment(r)]);
  if (r.pre_restore_backup) rows.push(['  pre-restore backup', r.pre_restore_backup]);
  if (r.roles_created?.length) rows.push(['  roles created', r.roles_created.map(describeCreatedRole).join(', ')]);
  for (const note of r.notes ?? []) rows.push(['  note', note]);
  if (r.applied) {
    const n = Object.values(r.applied.changed).reduce((a, c) => ({ d: a.d + c.deleted, u: a.u + c.updated, i: a.i + c.inserted }), { d: 0, u: 0, i: 0 });
    rows.push(['  changed', `${n.d} rows deleted, ${n.u} updated, ${n.i} inserted, in one transaction`]);
    rows.push(['  verification', r.applied.verification.ok ? `${Object.keys(r.applied.verification.tables).length} tables equal the backup's rows; ${r.applied.verification.others_unchanged} other tenants' (or tables') row sets unchanged` : 'MISMATCH (rolled back; see --json)']);
    if (r.applied.sequences_moved.length) rows.push(['  sequences', r.applied.sequences_moved.join(', ')]);
  }
  if (r.error) rows.push(['  reason', `${r.error.type}: ${r.error.message}`]);
  rows.push(['  took', `${(r.duration_ms / 1000).toFixed(1)} s`]);
  const plan = r.plan ? `${formatPlan(r.plan)}\n` : '';
  return `${plan}restore of ${what} in ${database} from ${r.restored_from}: ${status}\n${formatTable(rows)}`;
}
