// Issue 21, items 12 and 13: the sessions a backup's verification uses end or fail for reasons that
// are not the backup's (an administrator ends one, a role's timeouts, CREATE DATABASE briefly
// impossible): retried, not blamed on the backup. Real workflows on the Temporal dev server with a
// real Worker; the template0 case on a throwaway cluster (it changes template0).
import type { WorkflowHandle } from '@temporalio/client';
import pg from 'pg';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { scratchName } from '../src/activities/backup/verify';
import type { Config } from '../src/config';
import { progressQuery } from '../src/workflows/backupDatabase';
import { backupDatabase } from '../src/workflows';
import type { BackupResult } from '../src/workflows/pipeline';
import { sampleCluster, slowPgDumpBinDir } from './faults';
import { createDatabase, dropDatabase, testConfig, uniqueName, withAdmin, withServer } from './helpers';
import { onTemporal, startTestWorker, testClient } from './temporal';

vi.setConfig({ testTimeout: 300_000, hookTimeout: 300_000 });

const made: string[] = [];
const roles: string[] = [];
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups) await cleanup();
  await Promise.all(made.map(dropDatabase));
  for (const role of roles) await withAdmin((c) => c.query(`DROP ROLE IF EXISTS ${role}`)).catch(() => undefined);
});

/** Starts backupDatabase for `config` on a real Worker; `during` runs while it does; returns its outcome and the failures its history records. */
async function backupWhile(config: Config, input: Record<string, unknown>, during: (handle: WorkflowHandle<typeof backupDatabase>) => Promise<void> = async () => undefined) {
  const served = onTemporal(config);
  const worker = await startTestWorker(served);
  try {
    const client = await testClient();
    const handle = await client.workflow.start(backupDatabase, { taskQueue: served.temporal.taskQueue, workflowId: uniqueName('fbs').replace(/_/g, '-'), args: [{ cleanup_old: false, ...input }] });
    await during(handle);
    const outcome = await handle.result().then(
      (result) => ({ result, error: undefined }),
      (error: unknown) => ({ result: undefined, error }),
    );
    return { ...outcome, history: await handle.fetchHistory() };
  } finally {
    await worker.stop();
  }
}

/** The backup's scratch database, once the workflow has named its file. */
async function scratchOf(handle: WorkflowHandle<typeof backupDatabase>, config: Config): Promise<string> {
  for (;;) {
    const { filename } = await handle.query(progressQuery);
    if (filename !== null) return scratchName(config, filename);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Polls `probe` every 10 ms until it returns a value. */
async function until<T>(probe: () => Promise<T | undefined>): Promise<T> {
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('a verification session ended by an administrator mid-COPY (BACKUP_VERIFY=during_dump)', () => {
  it('is a retried DatabaseConnectionLost, not "does not restore": the next attempt makes a verified backup', async () => {
    const db = await createDatabase('fbs_term', { scale: 8 });
    made.push(db);
    const config = testConfig({ database: db });
    let ended: string | undefined;
    const { result, error, history } = await backupWhile(config, {}, async (handle) => {
      const scratch = await scratchOf(handle, config);
      // The one-pass restore's psql, while it copies rows in: what pg_terminate_backend (or a pooler, an operator) ends.
      const pid = await until(async () => {
        const { rows } = await withAdmin((c) => c.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND state = 'active' AND query LIKE 'COPY %FROM stdin%'", [scratch]));
        return rows[0]?.pid;
      });
      await withAdmin((c) => c.query('SELECT pg_terminate_backend($1)', [pid]));
      ended = scratch;
    });
    expect(ended).toBeDefined();
    expect(error).toBeUndefined();
    expect(result as BackupResult).toMatchObject({ status: 'success', verified: { ok: true } });
    // The first attempt failed as a lost connection (retryable), naming the scratch database; the second made the backup.
    const started = history.events!.filter((e) => e.activityTaskStartedEventAttributes);
    const dumpStarted = started.find((e) => e.activityTaskStartedEventAttributes!.attempt! > 1);
    // (A large failure is kept by the server under a "Failure exceeds size limit." wrapper: the first one with a type is ours.)
    let lastFailure = dumpStarted?.activityTaskStartedEventAttributes?.lastFailure;
    while (lastFailure && !lastFailure.applicationFailureInfo) lastFailure = lastFailure.cause;
    expect(lastFailure?.applicationFailureInfo?.type).toBe('DatabaseConnectionLost');
    expect(lastFailure?.message).toMatch(new RegExp(`^lost the connection to database "${ended}" at .+ while restoring backup "family_brain_manual_\\d{8}_\\d{6}\\.sql\\.gz" into it: psql: .*(terminating connection due to administrator command|server closed the connection unexpectedly|connection to server was lost)`));
  });
});

describe('a role whose idle_in_transaction_session_timeout and statement_timeout are short (ALTER ROLE ... SET)', () => {
  it('still makes a verified backup: our sessions set their own timeouts', async () => {
    const db = await createDatabase('fbs_role');
    made.push(db);
    const role = uniqueName('fbs_short');
    const password = 'fbs-role-password';
    roles.push(role);
    await withAdmin(async (c) => {
      await c.query(`CREATE ROLE ${role} LOGIN SUPERUSER PASSWORD '${password}'`);
      await c.query(`ALTER ROLE ${role} SET idle_in_transaction_session_timeout = '500ms'`);
      await c.query(`ALTER ROLE ${role} SET statement_timeout = '50ms'`);
    });
    const base = testConfig({ database: db });
    // pg_dump that takes 2 s before its first byte (a large schema, a lock wait): the one-pass restore has begun its transaction and waits, idle, meanwhile.
    const config: Config = { ...base, pgBinDir: slowPgDumpBinDir(base.pgBinDir!, 2), database: { ...base.database, user: role, password } };
    const { result, error } = await backupWhile(config, {});
    expect(error).toBeUndefined();
    expect(result as BackupResult).toMatchObject({ status: 'success', verified: { ok: true } });
  });
});

describe('CREATE DATABASE failing for a moment (SQLSTATE 55006: template0 in use)', () => {
  it('is retried, not "grant CREATEDB": the backup is verified by restoring it once the template is free', async () => {
    const cluster = await sampleCluster();
    cleanups.push(() => cluster.stop());
    const config = cluster.config(testConfig({ verify: 'after_dump' }));
    // Someone connected to template0 makes CREATE DATABASE ... TEMPLATE template0 fail after 5 s with 55006.
    await withServer(cluster, 'postgres', (c) => c.query('ALTER DATABASE template0 ALLOW_CONNECTIONS true'));
    const holder = new pg.Client({ host: cluster.host, port: cluster.port, user: cluster.user, password: cluster.password, database: 'template0' });
    await holder.connect();
    cleanups.push(() => holder.end().catch(() => undefined));
    const { result, error } = await backupWhile(config, {}, async () => {
      // The verification's CREATE DATABASE waits, then fails; the template is freed only after that.
      const running = async () => (await withServer(cluster, 'postgres', (c) => c.query("SELECT 1 FROM pg_stat_activity WHERE query LIKE 'CREATE DATABASE fbb_verify_%'"))).rowCount ?? 0;
      await until(async () => ((await running()) > 0 ? true : undefined));
      await until(async () => ((await running()) === 0 ? true : undefined));
      await holder.end();
    });
    expect(error).toBeUndefined();
    expect(result as BackupResult).toMatchObject({ status: 'success', verified: { ok: true } });
  });
});
