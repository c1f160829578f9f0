// Runs PostgreSQL's recovery on a restored data directory: a private socket, no TCP, until it
// promoted (or failed), then stops it cleanly. Says the last replayed transaction's commit time.
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import { execa } from 'execa';
import { lastLines } from '../../format';
import type { RecoveryTarget } from '../../basebackup/recoveryTime';
import { ErrorType, permanent } from '../../errors';
import { freePort } from '../../ports';
import { asServerUser } from './serverUser';

/** How one recovery ended: promoted (with the last replayed commit's time), or the target was past the end of the WAL. */
type RunOutcome = { promoted: true; recovered_to: string | null; inspected?: unknown } | { promoted: false };

/** Where one recovery stops: a moment, the end of the WAL, or just before the first record at or after `lsn`. */
type RunTarget = RecoveryTarget | { kind: 'lsn'; lsn: string };

/** One recovery's places: the data directory (with recovery.signal), a private socket directory, the log. */
export interface RecoveryRunPaths {
  binDir: string;
  dataDir: string;
  socketDir: string;
  log: string;
  /** What a failure message says was left behind (default: the restore's empty target directory). */
  leftAs?: string;
}

/** The promoted server a recovery leaves up for an inspection: its socket, port and log so far. */
export interface UpServer {
  socketDir: string;
  port: number;
  log: string;
}

const READY = /database system is ready to accept connections/;
const TARGET_NOT_REACHED = /recovery ended before configured recovery target was reached/;
const LAST_COMMIT = /last completed transaction was at log time (\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?)\+00/;

/**
 * Recovers `dataDir` (with recovery.signal) from its `restoreCommand` (a WalFeeder's) or the files in `spool` to `target`, promotes and stops it.
 * A moment after the last archived commit is the end of the WAL: when PostgreSQL says the target was
 * not reached, recovery runs again to the end of the WAL, which is then the state at that moment.
 */
export async function recoverAndStop(run: RecoveryRun & { target: RecoveryTarget }): Promise<{ recovered_to: string | null }> {
  const first = await runOnce(run, run.target);
  if (first.promoted) return first;
  const second = await runOnce(run, { kind: 'latest' });
  if (!second.promoted) throw permanent(ErrorType.RecoveryFailed, `recovery of ${run.dataDir} did not finish; see ${run.log}`);
  return second;
}

/** The server programs and directories of one recovery, and where its WAL comes from. */
export type RecoveryRun = RecoveryRunPaths & ({ spool: string } | { restoreCommand: string });

/** The environment of the recovering server: nothing of the worker's (its S3 credentials, the age key's file, passwords). */
export function serverEnv(): Record<string, string> {
  const keep = ['PATH', 'LANG', 'LC_ALL'].filter((k) => process.env[k] !== undefined);
  return { ...Object.fromEntries(keep.map((k) => [k, process.env[k]!])), TZ: 'UTC' };
}


/**
 * Recovers `run.dataDir` to just before the first WAL record at or after `lsn` (never past it: no
 * second run to the end of the WAL), promotes it, runs `whileUp` against the server, then stops it,
 * however `whileUp` ends. RecoveryFailed when the WAL in the spool ends before `lsn`.
 */
export async function recoverAndInspect<T>(run: RecoveryRun, lsn: string, whileUp: (server: UpServer) => Promise<T>): Promise<T> {
  const outcome = await runOnce(run, { kind: 'lsn', lsn }, whileUp);
  if (!outcome.promoted) throw permanent(ErrorType.RecoveryFailed, `recovery of ${run.dataDir} ended before WAL position ${lsn}: the WAL up to it is not all there; see ${run.log}`);
  return outcome.inspected as T;
}

async function runOnce(run: RecoveryRun, target: RunTarget, whileUp?: (server: UpServer) => Promise<unknown>): Promise<RunOutcome> {
  const ctx = Context.current();
  const port = await freePort();
  const settings = [
    `port=${port}`,
    "listen_addresses=",
    `unix_socket_directories=${run.socketDir}`,
    'hot_standby=off',
    'archive_mode=off',
    'logging_collector=off',
    'timezone=UTC',
    'log_timezone=UTC',
    `restore_command=${'restoreCommand' in run ? run.restoreCommand : `cp ${run.spool}/%f %p`}`,
    'recovery_target_timeline=latest',
    ...(target.kind === 'time' ? [`recovery_target_time=${target.at.replace('T', ' ').replace('Z', '+00')}`, 'recovery_target_action=promote', 'recovery_target_inclusive=true'] : []),
    ...(target.kind === 'lsn' ? [`recovery_target_lsn=${target.lsn}`, 'recovery_target_action=promote', 'recovery_target_inclusive=false', 'autovacuum=off', 'synchronous_standby_names='] : []),
  ];
  const start = await fs.stat(run.log).then((s) => s.size, () => 0);
  const [file, args] = asServerUser(path.join(run.binDir, 'postgres'), ['-D', run.dataDir, ...settings.flatMap((s) => ['-c', s])]);
  const child = execa(file, args, { reject: false, extendEnv: false, env: serverEnv(), stdin: 'ignore', stdout: { file: run.log, append: true }, stderr: { file: run.log, append: true } });
  let exited = false;
  void child.then(() => (exited = true));
  const onCancel = () => void stopServer(run.binDir, run.dataDir);
  ctx.cancellationSignal.addEventListener('abort', onCancel, { once: true });
  try {
    for (;;) {
      const log = (await fs.readFile(run.log, 'utf8').catch(() => '')).slice(start);
      if (READY.test(log)) {
        const inspected = whileUp === undefined ? undefined : await whileUp({ socketDir: run.socketDir, port, log });
        await stopServer(run.binDir, run.dataDir);
        await child;
        const at = LAST_COMMIT.exec(log)?.[1];
        return { promoted: true, recovered_to: at === undefined ? null : new Date(`${at.replace(' ', 'T')}Z`).toISOString(), inspected };
      }
      if (exited) {
        if (TARGET_NOT_REACHED.test(log)) return { promoted: false };
        const tail = lastLines(log, 5);
        throw permanent(ErrorType.RecoveryFailed, `PostgreSQL's recovery of ${run.dataDir} stopped before it finished: ${tail}; ${run.leftAs ?? 'the target directory was left empty'}`);
      }
      ctx.heartbeat({ step: 'recovering' });
      await sleep(500);
    }
  } finally {
    ctx.cancellationSignal.removeEventListener('abort', onCancel);
    if (!exited) await stopServer(run.binDir, run.dataDir);
  }
}

/** pg_ctl stop -m fast: a shutdown checkpoint, so the directory starts without recovery. */
async function stopServer(binDir: string, dataDir: string): Promise<void> {
  const [file, args] = asServerUser(path.join(binDir, 'pg_ctl'), ['-D', dataDir, '-m', 'fast', '-w', '-t', '300', 'stop']);
  await execa(file, args, { reject: false, extendEnv: false, env: serverEnv() });
}
