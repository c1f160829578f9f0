// `fbb restore --to-time <ISO|latest> --target-dir DIR`: the disaster path (docs/operations.md,
// "Point-in-time recovery"), run as the restoreToTime workflow on a worker (or --local, in this process).
import type { RecoveryResult } from '../../activities/basebackup/recover';
import { parseRecoveryTarget } from '../../basebackup/recoveryTime';
import { restoreToTimeWorkflowId } from '../../ids';
import { restoreToTime } from '../../workflows';
import type { CommandContext } from '../context';
import { CliError, ExitCode } from '../exitCodes';
import { applicationFailureOf, describeFailure } from '../failures';
import { formatTable, printJson } from '../output';
import { noWorkerMessage, noWorkerPolling, openRunner } from '../runner';

/** The options `fbb restore --to-time` reads. */
export interface RestoreToTimeOptions {
  toTime: string;
  targetDir: string;
  source: 'local' | 's3';
  json: boolean;
  local: boolean;
  workflowId?: string;
}

/** Checks the moment here (exit 2 before anything starts), then runs restoreToTime and prints where the data directory is. */
export async function runRestoreToTime(ctx: CommandContext, opts: RestoreToTimeOptions): Promise<void> {
  checkMoment(opts.toTime);
  const config = ctx.config();
  const runner = await openRunner(config, { local: opts.local, notice: ctx.notice, connect: ctx.connect });
  try {
    const workflowId = opts.workflowId ?? restoreToTimeWorkflowId(config.database.database);
    const started = await runner.start(restoreToTime, { args: [{ to_time: opts.toTime, target_dir: opts.targetDir, source: opts.source }], workflowId, explicitId: opts.workflowId !== undefined });
    if (started.existing === null) ctx.notice(`fbb: point-in-time restore ${workflowId} started (into ${opts.targetDir}${runner.local ? '' : ' on the worker'})`);
    if (started.existing === null && (await noWorkerPolling(runner))) ctx.notice(`fbb: warning: ${noWorkerMessage(config)}; the restore waits until one does`);
    let result: RecoveryResult;
    try {
      result = await started.result();
    } catch (err) {
      const { message, exitCode, type } = describeFailure(`point-in-time restore ${workflowId}`, err);
      throw new CliError(`${message}\nNo database was changed; the target directory is as it was.`, exitCode, { type });
    }
    if (opts.json) printJson(result, ctx.stdout);
    else ctx.stdout.write(`${formatRecovery(result)}\n`);
    ctx.setExitCode(ExitCode.ok);
  } finally {
    await runner.close();
  }
}

/** A malformed --to-time is refused here, before anything starts: exit 2, InvalidInput. */
export function checkMoment(toTime: string): void {
  try {
    parseRecoveryTarget(toTime);
  } catch (err) {
    throw new CliError(applicationFailureOf(err)?.message ?? String(err), ExitCode.badInput, { type: 'InvalidInput' });
  }
}

/** The result as a person reads it, with the next step. */
export function formatRecovery(r: RecoveryResult): string {
  return [
    `restored to ${r.to_time}: a promoted data directory in ${r.target_dir}`,
    formatTable([
      ['  recovered to', r.recovered_to === null ? 'no transaction after the base backup' : `${r.recovered_to} (the last replayed commit)`],
      ['  base backup', r.chain.join(' + ')],
      ['  WAL', `${r.wal_range.first} .. ${r.wal_range.last}${r.wal_range.partial ? ' (the last from its .partial copy)' : ''}`],
      ['  WAL fetched', `${r.wal_fetched.files} file${r.wal_fetched.files === 1 ? '' : 's'} (at most ${r.wal_fetched.spool_max} held in the working directory at once)`],
      ['  took', `${(r.duration_ms / 1000).toFixed(1)} s`],
    ]),
    `start it with: pg_ctl -D ${r.target_dir} start   (check port and listen_addresses in its postgresql.conf first)`,
  ].join('\n');
}
