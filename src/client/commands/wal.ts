import type { Command } from 'commander';
import type { Client } from '@temporalio/client';
import type { Config } from '../../config';
import { walWorkflowId } from '../../ids';
import { archiveWal, stopWalArchive } from '../../workflows/archiveWal';
import type { CommandContext } from '../context';
import { CliError, ExitCode } from '../exitCodes';
import { printJson } from '../output';
import { withTemporal } from '../runner';
import { describeOrUndefined } from '../temporalRunner';
import { formatWalStatus, walStatus } from './walStatus';

/** The WAL archive's workflow ID for the configured database server. */
export function walIdFor(config: Config): string {
  return walWorkflowId(config.database.database, config.database.host, config.database.port);
}

/** `fbb wal start|stop|status`: the continuous WAL archive of the database server (runs on Temporal); returns the `wal` command for more subcommands. */
export function registerWal(program: Command, ctx: CommandContext): Command {
  const wal = program
    .command('wal')
    .description('the continuous WAL archive of the database server (point-in-time recovery): start, stop, status')
    .addHelpText('after', '\nExamples:\n  $ fbb wal start\n  $ fbb wal status --json\n  $ fbb wal stop\n');
  wal
    .command('start')
    .description('start archiving WAL through a replication slot (attaches to the archive when it already runs)')
    .option('--json', 'print as JSON', false)
    .option('--session-seconds <n>', 'restart pg_receivewal after this many seconds (default 6 hours)', (v) => positive(v, '--session-seconds'))
    .action(async (opts: { json: boolean; sessionSeconds?: number }) => {
      const config = ctx.config();
      const out = await withTemporal(config, ctx.connect, (client) => startArchive(client, config, opts.sessionSeconds));
      if (opts.json) printJson(out, ctx.stdout);
      else ctx.stdout.write(`WAL archive ${out.workflow_id}: ${out.attached ? `already running since ${out.since}` : 'started'}; "fbb wal status" shows its progress\n`);
    });
  wal
    .command('stop')
    .description('stop archiving once what pg_receivewal received is archived; the slot stays (resuming later loses nothing) unless --drop-slot')
    .option('--drop-slot', 'also drop the replication slot, so the server stops keeping WAL for the archive', false)
    .option('--json', 'print as JSON', false)
    .action(async (opts: { dropSlot: boolean; json: boolean }) => {
      const config = ctx.config();
      const id = walIdFor(config);
      const result = await withTemporal(config, ctx.connect, async (client) => {
        const found = await describeOrUndefined(client.workflow.getHandle(id));
        if (found?.status.name !== 'RUNNING') return { workflow_id: id, state: 'not_running' as const };
        const handle = client.workflow.getHandle<typeof archiveWal>(id);
        await handle.signal(stopWalArchive, { drop_slot: opts.dropSlot });
        return { workflow_id: id, ...(await handle.result()) };
      });
      if (opts.json) printJson(result, ctx.stdout);
      else if (result.state === 'not_running') ctx.stdout.write(`no WAL archive runs as ${id}; nothing to stop\n`);
      else ctx.stdout.write(`WAL archive ${id} stopped${'slot_dropped' in result && result.slot_dropped ? `; slot ${result.slot ?? ''} dropped` : `; slot ${'slot' in result ? (result.slot ?? '') : ''} kept: drop it with "fbb wal stop --drop-slot" if the archive will not run again, or the server keeps WAL for it`}\n`);
    });
  wal
    .command('status')
    .description("show the archive's state, the newest archived segment, the lag and the WAL the slot keeps on the server")
    .option('--json', 'print as JSON', false)
    .action(async (opts: { json: boolean }) => {
      const config = ctx.config();
      const report = await withTemporal(config, ctx.connect, (client) => walStatus(client, walIdFor(config)));
      if (opts.json) printJson(report, ctx.stdout);
      else ctx.stdout.write(`${formatWalStatus(report)}\n`);
    });
  return wal;
}

/** Whether the WAL archive of the configured database server runs (`fbb schedules apply` applies the base-backup schedules then, with BASEBACKUP_SCHEDULE=auto). */
export async function walArchiveRunning(client: Client, config: Config): Promise<boolean> {
  return (await describeOrUndefined(client.workflow.getHandle(walIdFor(config))))?.status.name === 'RUNNING';
}

/** Starts the archive, or attaches to the running one (the workflow ID is the server's). */
export async function startArchive(client: Client, config: Config, sessionSeconds: number | undefined) {
  const id = walIdFor(config);
  const found = await describeOrUndefined(client.workflow.getHandle(id));
  if (found?.status.name === 'RUNNING') {
    if (found.type !== 'archiveWal') throw new CliError(`workflow ID ${id} belongs to a ${found.type} run, not archiveWal; nothing was started`, ExitCode.badInput);
    return { workflow_id: id, run_id: found.runId, attached: true, since: found.startTime.toISOString() };
  }
  const handle = await client.workflow.start(archiveWal, {
    args: [sessionSeconds === undefined ? {} : { session_seconds: sessionSeconds }],
    workflowId: id,
    taskQueue: config.temporal.taskQueue,
    // A second start while it runs attaches; a stopped (or failed) archive can be started again.
    workflowIdConflictPolicy: 'USE_EXISTING',
    workflowIdReusePolicy: 'ALLOW_DUPLICATE',
  });
  return { workflow_id: id, run_id: handle.firstExecutionRunId, attached: false, since: new Date().toISOString() };
}

function positive(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 10) throw new CliError(`${flag} must be a whole number of seconds, 10 or more; got "${value}"; nothing was started`, ExitCode.badInput);
  return n;
}
