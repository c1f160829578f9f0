// Kill matrix, the gentler half: SIGTERM to a worker PROCESS in the middle of a dump (it finishes the
// dump within WORKER_SHUTDOWN_GRACE_SECONDS, or cancels it and leaves no partial file), and the
// database server restarted with `pg_ctl -m immediate` under a running pg_dump (the dump is tried
// again and the backup completes). pg_dump is held mid-dump by a table lock the test takes: a real
// pg_dump, connected and waiting, in place of a large database.
// The tests run at the same time (describe.concurrent): each has its own database (the restart, its own
// throwaway cluster), task queue and worker processes, and most of their time is spent waiting.
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../src/config';
import type { PgCluster } from '../src/sample/pgCluster';
import { backupDatabase } from '../src/workflows';
import { activityRunning, buildWorker, dropOurDatabases, filesIn, killAllWorkers, leftoverDatabases, printRecoveries, recovered, startWorker } from './durability';
import { eventually } from './eventually';
import { pgCtl, sampleCluster } from './faults';
import { createDatabase, testConfig, uniqueName, withServer } from './helpers';
import { onTemporal, testClient } from './temporal';

let cluster: PgCluster & { config: (base: Config) => Config };

beforeAll(async () => {
  [cluster] = await Promise.all([sampleCluster(), buildWorker()]);
}, 600_000);

afterAll(async () => {
  await killAllWorkers();
  await cluster?.stop();
  await dropOurDatabases();
  printRecoveries();
});

/** A session holding an exclusive lock on `table` until released: pg_dump, which locks every table it dumps, waits for it. */
async function lockTable(config: Config, table: string): Promise<{ release(): Promise<void> }> {
  const db = config.database;
  const client = new pg.Client({ host: db.host, port: db.port, user: db.user, password: db.password, database: db.database });
  client.on('error', () => undefined); // the server may go away under it (pg_ctl -m immediate)
  await client.connect();
  await client.query('BEGIN');
  await client.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
  return {
    async release() {
      await client.query('COMMIT').catch(() => undefined);
      await client.end().catch(() => undefined);
    },
  };
}

/** This backup's pg_dump sessions (application_name family-brain-backup, waiting for a lock or not). */
async function dumpSessions(config: Config, waitingForLock = false): Promise<number> {
  const db = config.database;
  const { rowCount } = await withServer({ host: db.host, port: db.port, user: db.user, password: db.password ?? '' }, 'postgres', (c) =>
    c.query(
      `SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND application_name = 'family-brain-backup' AND query ILIKE 'LOCK TABLE%'${waitingForLock ? " AND wait_event_type = 'Lock'" : ''}`,
      [db.database],
    ),
  );
  return rowCount ?? 0;
}

/** The attempts the run's dumpDatabase was started with, as the history records them. */
async function dumpAttempts(handle: WorkflowHandle): Promise<number[]> {
  const events = (await handle.fetchHistory()).events ?? [];
  const scheduled = events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'dumpDatabase').map((e) => String(e.eventId));
  expect(scheduled).toHaveLength(1);
  return events.filter((e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId) === scheduled[0]).map((e) => e.activityTaskStartedEventAttributes!.attempt ?? 1);
}

/** Starts a backup of `config`'s database and waits until its pg_dump waits for the lock the test holds. */
async function backupWaitingForLock(config: Config) {
  const client = await testClient();
  const handle = await client.workflow.start(backupDatabase, { taskQueue: config.temporal.taskQueue, workflowId: uniqueName('dur-sig'), args: [{ cleanup_old: false }] });
  await activityRunning(handle, 'dumpDatabase');
  await eventually('pg_dump waiting for the table lock', () => dumpSessions(config, true), (n) => n === 1, 120_000);
  return handle;
}

describe.concurrent('SIGTERM to a worker while pg_dump runs', () => {
  it('with a dump that cannot finish in WORKER_SHUTDOWN_GRACE_SECONDS: cancels it, stops pg_dump, leaves no partial file, exits; another worker completes the run', async () => {
    const db = await createDatabase('dur_sigterm');
    const config = onTemporal(testConfig({ database: db }));
    const lock = await lockTable(config, 'tags');
    const first = startWorker(config, { WORKER_SHUTDOWN_GRACE_SECONDS: '3' });
    const handle = await backupWaitingForLock(config);
    expect(filesIn(config.backup.dir).filter((f) => f.includes('.partial-'))).toHaveLength(1);

    first.kill('SIGTERM');
    const signalledAt = Date.now();
    const exit = await first;
    const exitedAfter = (Date.now() - signalledAt) / 1000;
    process.stderr.write(`kill-matrix: worker exited ${exitedAfter.toFixed(1)} s after SIGTERM (${String(exit.exitCode ?? exit.signal)})\n${exit.all ?? ''}\n`);
    expect({ exitCode: exit.exitCode, signal: exit.signal }).toEqual({ exitCode: 0, signal: undefined });
    expect(filesIn(config.backup.dir)).toEqual([]);
    await eventually("pg_dump's session gone", () => dumpSessions(config), (n) => n === 0, 30_000);

    await lock.release();
    void startWorker(config);
    const result = await handle.result();
    recovered(`backup, SIGTERM during the dump, grace 3 s, dump cancelled (worker exited ${exitedAfter.toFixed(1)} s after the signal)`, signalledAt);
    expect(result).toMatchObject({ status: 'success', verified: { ok: true } });
    expect(filesIn(config.backup.dir)).toEqual([result.filename, `${result.filename}.manifest.json`]);
    expect(await leftoverDatabases(config, [result.filename])).toEqual([]);
    expect((await dumpAttempts(handle)).at(-1)).toBeGreaterThan(1);
  }, 300_000);

  it('with a dump that finishes in WORKER_SHUTDOWN_GRACE_SECONDS: the worker completes it, then exits; another worker does the rest', async () => {
    const db = await createDatabase('dur_sigterm_grace');
    const config = onTemporal(testConfig({ database: db }));
    const lock = await lockTable(config, 'tags');
    const first = startWorker(config, { WORKER_SHUTDOWN_GRACE_SECONDS: '120' });
    const handle = await backupWaitingForLock(config);

    first.kill('SIGTERM');
    const signalledAt = Date.now();
    // The worker waits for its running dump: it is still there once the lock lets pg_dump go on.
    await new Promise((r) => setTimeout(r, 2_000));
    await lock.release();
    const exit = await first;
    const exitedAfter = (Date.now() - signalledAt) / 1000;
    process.stderr.write(`kill-matrix: worker exited ${exitedAfter.toFixed(1)} s after SIGTERM (${String(exit.exitCode ?? exit.signal)})\n${exit.all ?? ''}\n`);
    expect({ exitCode: exit.exitCode, signal: exit.signal }).toEqual({ exitCode: 0, signal: undefined });
    // The dump was completed by the stopping worker: the file is there; verification waits for a worker.
    const dumped = filesIn(config.backup.dir);
    expect(dumped.filter((f) => f.includes('.partial-'))).toEqual([]);
    expect(dumped).toHaveLength(2);

    void startWorker(config);
    const result = await handle.result();
    recovered(`backup, SIGTERM during the dump, grace 120 s, dump finished (worker exited ${exitedAfter.toFixed(1)} s after the signal)`, signalledAt);
    expect(result).toMatchObject({ status: 'success', verified: { ok: true } });
    expect(filesIn(config.backup.dir)).toEqual(dumped);
    expect(await dumpAttempts(handle)).toEqual([1]);
  }, 300_000);
});

describe.concurrent('PostgreSQL restarted (pg_ctl -m immediate) under a running pg_dump, on the dev server', () => {
  it('the worker stays up, the dump is tried again once the server is back, and the backup completes', async () => {
    const config = onTemporal(cluster.config(testConfig()));
    const lock = await lockTable(config, 'tags');
    // Retries 10 s, then 20 s apart, so the server's restart (crash recovery included, on a busy machine) fits before the last attempt.
    const worker = startWorker(config, { ACTIVITY_RETRY_INTERVAL_SECONDS: '10' });
    let workerExited = false;
    void worker.then(() => (workerExited = true));
    const handle = await backupWaitingForLock(config);

    await pgCtl(cluster, ['-m', 'immediate', 'stop']);
    const stoppedAt = Date.now();
    await lock.release();
    // restart, not start: it reuses the options the cluster was started with (its port).
    await pgCtl(cluster, ['-l', path.join(path.dirname(cluster.dataDir), 'server.log'), 'restart']);
    process.stderr.write(`kill-matrix: PostgreSQL down for ${((Date.now() - stoppedAt) / 1000).toFixed(1)} s\n`);

    const result = await handle.result();
    recovered('backup, PostgreSQL restarted with -m immediate during the dump', stoppedAt);
    expect(workerExited).toBe(false);
    expect(result).toMatchObject({ status: 'success', verified: { ok: true } });
    expect(filesIn(config.backup.dir)).toEqual([result.filename, `${result.filename}.manifest.json`]);
    expect((await dumpAttempts(handle)).at(-1)).toBeGreaterThan(1);
    const scratch = await withServer(cluster, 'postgres', (c) => c.query("SELECT datname FROM pg_database WHERE datname LIKE 'fbb\\_verify\\_%'"));
    expect(scratch.rows).toEqual([]);
  }, 300_000);
});
