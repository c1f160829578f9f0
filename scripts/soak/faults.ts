// One fault at its instant, and its mending: a worker SIGKILLed or SIGTERMed (and replaced), the
// Temporal server restarted, PostgreSQL crashed (`pg_ctl -m immediate restart`), our sessions ended,
// BACKUP_DIR filled up, S3 down for a while.
import fs from 'node:fs';
import type { Client } from '@temporalio/client';
import type { Fault } from './plan';
import type { WorkerPool } from './processes';
import { crashRestartPostgres, fillBackupDir, terminateSessions, type Rig } from './rig';

/** How long BACKUP_DIR stays full and S3 stays down. */
const OUTAGE_MS = 15_000;

/** An injected fault: when, what was done, and a promise that settles once everything is mended. */
export interface Injected {
  at: number;
  what: string;
  mended: Promise<void>;
}

/** The pid of the worker process running `workflowId`'s current activity (from its identity "pid@host"), if any. */
async function workerOfActivity(client: Client, workflowId: string): Promise<number | undefined> {
  try {
    const { raw } = await client.workflow.getHandle(workflowId).describe();
    const identity = raw.pendingActivities?.find((a) => a.lastWorkerIdentity)?.lastWorkerIdentity ?? '';
    const pid = Number(/^(\d+)@/.exec(identity)?.[1]);
    return Number.isFinite(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Injects `fault` now, aimed at `workflowId` where it can be; `pick` in [0, 1) chooses a worker when none runs an activity. */
export async function inject(fault: Fault, context: { rig: Rig; pool: WorkerPool; workflowId: string; pick: number }): Promise<Injected> {
  const { rig, pool } = context;
  const at = Date.now();
  const done = (what: string, mended: Promise<void> = Promise.resolve()): Injected => ({ at, what, mended });
  switch (fault) {
    case 'none':
      return done('no fault');
    case 'worker':
    case 'term': {
      const pid = await workerOfActivity(await rig.client(), context.workflowId);
      const signal = fault === 'worker' ? 'SIGKILL' : 'SIGTERM';
      const hit = await pool.signal(signal, { pid, pick: Math.floor(context.pick * 3) });
      pool.refill();
      return done(`${signal} worker ${hit}${pid === hit ? ' (running the activity)' : ''}`);
    }
    case 'server':
      await rig.temporal.restart();
      return done('Temporal server stopped and started again');
    case 'db':
      await crashRestartPostgres(rig);
      return done('pg_ctl -m immediate restart');
    case 'conn':
      return done(`pg_terminate_backend of ${await terminateSessions(rig)} sessions`);
    case 'disk': {
      if (!rig.tmpfs) return done('BACKUP_DIR not on a tmpfs: not filled');
      const filler = fillBackupDir(rig);
      return done('BACKUP_DIR filled up', after(OUTAGE_MS, () => fs.rmSync(filler, { force: true })));
    }
    case 's3':
      rig.s3Switch.off();
      return done('S3 down', after(OUTAGE_MS, () => rig.s3Switch.on()));
  }
}

function after(ms: number, fn: () => void): Promise<void> {
  return new Promise((resolve) => setTimeout(() => (fn(), resolve()), ms));
}
