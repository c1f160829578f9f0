// Kill matrix, the server: a Temporal dev server of this file's own (never the shared one), with a
// SQLite file and a fixed port, stopped and started again while a restore waits for confirmation and
// while a backup dumps. Worker PROCESSES stay up through it and reconnect on their own; both runs finish.
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../src/config';
import { freePort } from '../src/ports';
import { startTemporalDevServer, type TemporalDevServer } from '../src/temporalServer';
import { backupDatabase, confirmRestore, restoreDatabase, statusQuery } from '../src/workflows';
import { activityRunning, buildWorker, dropOurDatabases, filesIn, killAllWorkers, leftoverDatabases, printRecoveries, recovered, slowBinDir, startWorker } from './durability';
import { eventually } from './eventually';
import { createDatabase, fingerprint, tempDir, testConfig, uniqueName, withAdmin } from './helpers';
import { onTemporal, temporalInfo } from './temporal';

let stateDir: string;
let port: number;
let server: TemporalDevServer | undefined;
let connection: Connection;
let client: Client;

/** Starts (or starts again) this file's dev server: same SQLite file, same port. */
async function startServer(): Promise<void> {
  server = await startTemporalDevServer({ cli: temporalInfo.cli, stateDir, port, headless: true, startTimeoutMs: 120_000 });
}

/** The first start, on a port picked again when the server exits at start (another process may take a picked port first). */
async function firstStart(): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      return await startServer();
    } catch (err) {
      if (attempt >= 3 || !String(err).includes('exited at start')) throw err;
    }
  }
}

beforeAll(async () => {
  stateDir = tempDir('temporal-state');
  await Promise.all([firstStart(), buildWorker()]);
  connection = await Connection.connect({ address: server!.address });
  client = new Client({ connection, namespace: 'default' });
}, 600_000);

afterAll(async () => {
  await killAllWorkers();
  await connection?.close();
  await server?.stop();
  await dropOurDatabases();
  printRecoveries();
}, 120_000);

/** A worker process for `config` on this file's server. */
function worker(config: Config) {
  return startWorker(config, { TEMPORAL_ADDRESS: server!.address, TEMPORAL_NAMESPACE: 'default' });
}

/** Stops the server (SIGTERM, as a service manager does) and starts it again on its SQLite file; returns when it was stopped. */
async function restartServer(): Promise<number> {
  await server!.stop();
  const stoppedAt = Date.now();
  expect(path.dirname(server!.dbFile!)).toBe(stateDir);
  await startServer();
  return stoppedAt;
}

describe('the dev server stopped and started again (its SQLite file kept)', () => {
  it('while a restore waits for confirmation: the signal sent after the restart reaches it, and the restore completes', async () => {
    const db = await createDatabase('dur_srv_restore');
    const config = onTemporal(testConfig({ database: db }));
    const atBackup = await fingerprint(db);
    void worker(config);
    const backup = await client.workflow.execute(backupDatabase, { taskQueue: config.temporal.taskQueue, workflowId: uniqueName('dur-srv-b'), args: [{ cleanup_old: false }] });
    await withAdmin((c) => c.query("UPDATE tenants SET name = name || ' (changed)'"), db);
    const handle = await client.workflow.start(restoreDatabase, { taskQueue: config.temporal.taskQueue, workflowId: uniqueName('dur-srv-r'), args: [{ backup_filename: backup.filename }] });
    await eventually('the restore waits for confirmation', () => handle.query(statusQuery), (s) => s.phase === 'awaiting_confirmation', 120_000);

    const stoppedAt = await restartServer();
    // The same run, read back from the SQLite file, still waiting; the worker answers the query once it has reconnected.
    await eventually('the restore still waits after the restart', () => handle.query(statusQuery).catch(() => undefined), (s) => s?.phase === 'awaiting_confirmation', 120_000);
    await handle.signal(confirmRestore, { confirmed_by: 'durability test' });
    const result = await handle.result();
    recovered('restore waiting for confirmation, dev server stopped and started again', stoppedAt);
    expect(result).toMatchObject({ status: 'success', confirmed_by: 'durability test' });
    expect(await fingerprint(db)).toEqual(atBackup);
    expect(await leftoverDatabases(config, [backup.filename, result.pre_restore_backup!])).toEqual([]);
  }, 400_000);

  it('while a backup dumps: the worker keeps dumping, reports it once the server is back, and the backup completes once', async () => {
    const db = await createDatabase('dur_srv_backup');
    const base = testConfig({ database: db });
    const config = onTemporal({ ...base, pgBinDir: slowBinDir(base.pgBinDir!, 'pg_dump', 20) });
    void worker(config);
    const handle = await client.workflow.start(backupDatabase, { taskQueue: config.temporal.taskQueue, workflowId: uniqueName('dur-srv-dump'), args: [{ cleanup_old: false }] });
    await activityRunning(handle, 'dumpDatabase');

    const stoppedAt = await restartServer();
    const result = await handle.result();
    recovered('backup dumping, dev server stopped and started again', stoppedAt);
    expect(result).toMatchObject({ status: 'success', verified: { ok: true } });
    expect(filesIn(config.backup.dir)).toEqual([result.filename, `${result.filename}.manifest.json`]);
    expect(await leftoverDatabases(config, [result.filename])).toEqual([]);
    const events = (await handle.fetchHistory()).events ?? [];
    expect(events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'dumpDatabase')).toHaveLength(1);
  }, 400_000);
});
