// Durable for real: worker processes SIGKILLed at named moments on the Temporal dev server; another
// worker picks the run up and it ends in a defined state with nothing lost (issue 11's kill matrix).
// Workers run with ACTIVITY_HEARTBEAT_TIMEOUT_SECONDS=10 so a dead one is noticed in seconds, not minutes.
import fs from 'node:fs';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import type { WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scratchName } from '../src/activities/backup/verify';
import type { Config } from '../src/config';
import { backupDatabase, confirmRestore, restoreDatabase, statusQuery } from '../src/workflows';
import { eventually } from './eventually';
import { ensureBuilt, fbbEnv } from './faults';
import { createDatabase, fingerprint, tempDir, testConfig, uniqueName, withAdmin } from './helpers';
import { onTemporal, temporalInfo, testClient } from './temporal';

let workerEntry: string;
const workers: ResultPromise[] = [];

beforeAll(async () => {
  workerEntry = path.join(path.dirname(await ensureBuilt()), 'src', 'worker.js');
}, 600_000);

afterAll(async () => {
  for (const w of workers) w.kill('SIGKILL');
  await Promise.all(workers.map((w) => w.catch(() => undefined)));
  const { rows } = await withAdmin((c) => c.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'fbb_dur%'"));
  await withAdmin(async (c) => {
    for (const { datname } of rows) await c.query(`DROP DATABASE "${datname}" WITH (FORCE)`);
  });
});

/** A worker process for `config` on its task queue, as `npm run worker` starts it. */
function startWorker(config: Config, extra: Record<string, string> = {}): ResultPromise {
  const env = fbbEnv(config, {
    TEMPORAL_ADDRESS: temporalInfo.address,
    TEMPORAL_NAMESPACE: temporalInfo.namespace,
    TEMPORAL_TASK_QUEUE: config.temporal.taskQueue,
    ACTIVITY_HEARTBEAT_TIMEOUT_SECONDS: '10',
    ACTIVITY_RETRY_INTERVAL_SECONDS: '1',
    WORKER_SHUTDOWN_GRACE_SECONDS: '2',
    LOG_LEVEL: 'warn',
    ...extra,
  });
  const worker = execa('node', [workerEntry], { env, extendEnv: false, reject: false, all: true });
  workers.push(worker);
  return worker;
}

/** Resolves once the run has `activityType` running (attempt `attempt`), as the server sees it. */
async function activityRunning(handle: WorkflowHandle, activityType: string, attempt = 1): Promise<void> {
  await eventually(
    `${activityType} running`,
    async () => (await handle.describe()).raw.pendingActivities ?? [],
    (pending) => pending.some((a) => a.activityType?.name === activityType && (a.attempt ?? 1) >= attempt && a.state === 2 /* STARTED */),
    120_000,
  );
}

/** A PG_BIN_DIR whose `tool` first sleeps `seconds`: a stand-in for a large database, so a step runs long enough to be killed in. */
function slowBinDir(realBinDir: string, tool: string, seconds: number): string {
  const dir = tempDir('slowbin');
  for (const name of fs.readdirSync(realBinDir)) if (name !== tool) fs.symlinkSync(path.join(realBinDir, name), path.join(dir, name));
  fs.writeFileSync(path.join(dir, tool), `#!/bin/sh\n[ "$1" = "--version" ] || sleep ${seconds}\nexec ${JSON.stringify(path.join(realBinDir, tool))} "$@"\n`, { mode: 0o755 });
  return dir;
}

/** SIGKILLs a worker and waits until it is gone. */
async function kill(worker: ResultPromise): Promise<void> {
  worker.kill('SIGKILL');
  await worker.catch(() => undefined);
}

/** The files in a backup directory, temporary and lock files included. */
const filesIn = (dir: string) => fs.readdirSync(dir).sort();

/** This test's leftover databases: the scratch copy verifying `filenames`, and copies restored beside `config`'s database. */
async function leftoverDatabases(config: Config, filenames: string[]): Promise<string[]> {
  const scratch = filenames.map((f) => scratchName(config, f));
  const { rows } = await withAdmin((c) =>
    c.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname = ANY($1) OR datname LIKE $2 || '\\_restoring\\_%'", [scratch, config.database.database]),
  );
  return rows.map((r) => r.datname);
}

describe('a worker SIGKILLed mid-backup, with another worker on the same task queue and backup directory', () => {
  for (const [moment, activityType, tool] of [
    ['during the dump', 'dumpDatabase', 'pg_dump'],
    ['during verification', 'verifyBackup', 'psql'],
  ] as const) {
    it(`${moment}: the other worker finishes the backup once; one file and manifest, no partial file, no scratch database, the lock released`, async () => {
      const db = await createDatabase('dur_backup');
      const base = testConfig({ database: db });
      const config = onTemporal({ ...base, pgBinDir: slowBinDir(base.pgBinDir!, tool, 60) });
      const first = startWorker(config);
      const client = await testClient();
      const handle = await client.workflow.start(backupDatabase, { taskQueue: config.temporal.taskQueue, workflowId: uniqueName('dur-backup'), args: [{ cleanup_old: false }] });
      await activityRunning(handle, activityType);
      await kill(first);

      void startWorker({ ...config, pgBinDir: base.pgBinDir });
      const result = await handle.result();
      expect(result).toMatchObject({ status: 'success', verified: { ok: true } });
      expect(filesIn(config.backup.dir)).toEqual([result.filename, `${result.filename}.manifest.json`]);
      expect(await leftoverDatabases(config, [result.filename])).toEqual([]);
      const history = await handle.fetchHistory();
      const dumps = (history.events ?? []).filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'dumpDatabase');
      expect(dumps).toHaveLength(1);
    }, 300_000);
  }
});

describe('a restore waiting for confirmation while its worker is killed', () => {
  it('takes the signal while no worker runs, and completes on a worker started later', async () => {
    const db = await createDatabase('dur_restore');
    const config = onTemporal(testConfig({ database: db }));
    const atBackup = await fingerprint(db);
    const client = await testClient();
    const first = startWorker(config);
    const backup = await client.workflow.execute(backupDatabase, { taskQueue: config.temporal.taskQueue, workflowId: uniqueName('dur-b'), args: [{ cleanup_old: false }] });
    await withAdmin((c) => c.query("UPDATE tenants SET name = name || ' (changed)'"), db);

    const handle = await client.workflow.start(restoreDatabase, { taskQueue: config.temporal.taskQueue, workflowId: uniqueName('dur-r'), args: [{ backup_filename: backup.filename }] });
    await eventually('the restore waits for confirmation', () => handle.query(statusQuery), (s) => s.phase === 'awaiting_confirmation', 120_000);
    await kill(first);
    await handle.signal(confirmRestore, { confirmed_by: 'durability test' });

    void startWorker(config);
    const result = await handle.result();
    expect(result).toMatchObject({ status: 'success', confirmed_by: 'durability test' });
    expect(await fingerprint(db)).toEqual(atBackup);
  }, 300_000);
});

describe('a worker SIGKILLed in the middle of a confirmed restore, with another worker to take over', () => {
  /** A restore of a fresh backup, waiting for confirmation, with no worker running; and what the database held at the backup. */
  async function waitingRestore(label: string) {
    const db = await createDatabase(label);
    const config = onTemporal(testConfig({ database: db }));
    const atBackup = await fingerprint(db);
    const client = await testClient();
    const first = startWorker(config);
    const backup = await client.workflow.execute(backupDatabase, { taskQueue: config.temporal.taskQueue, workflowId: uniqueName('dur-b'), args: [{ cleanup_old: false }] });
    await withAdmin((c) => c.query("DELETE FROM chat_messages WHERE id % 2 = 0"), db);
    const handle = await client.workflow.start(restoreDatabase, { taskQueue: config.temporal.taskQueue, workflowId: uniqueName('dur-r'), args: [{ backup_filename: backup.filename }] });
    await eventually('the restore waits for confirmation', () => handle.query(statusQuery), (s) => s.phase === 'awaiting_confirmation', 120_000);
    await kill(first);
    return { db, config, atBackup, handle };
  }

  it('while restoring beside the live database: the other worker restores it, and no half-made copy is left', async () => {
    const { db, config, atBackup, handle } = await waitingRestore('dur_beside');
    const slow = startWorker({ ...config, pgBinDir: slowBinDir(config.pgBinDir!, 'psql', 60) });
    await handle.signal(confirmRestore, { confirmed_by: 'durability test' });
    await activityRunning(handle, 'restoreIntoNewDatabase');
    await kill(slow);

    void startWorker(config);
    const result = await handle.result();
    expect(result).toMatchObject({ status: 'success', strategy: 'swap' });
    expect(await fingerprint(db)).toEqual(atBackup);
    expect(await leftoverDatabases(config, [result.pre_restore_backup!])).toEqual([]);
  }, 300_000);

  it('inside the swap transaction: the live database is never left renamed or closed, and the other worker completes the swap', async () => {
    const { db, config, atBackup, handle } = await waitingRestore('dur_swap');
    const paused = startWorker(config, { FBB_TEST_PAUSE_AT: 'swap' });
    await handle.signal(confirmRestore, { confirmed_by: 'durability test' });
    await new Promise<void>((resolve) => paused.all!.on('data', (d: Buffer) => d.toString().includes('test pause at swap') && resolve()));
    await kill(paused);
    // Killed with the renames uncommitted: the live database is the old one, and it takes connections.
    const live = await withAdmin((c) => c.query<{ datallowconn: boolean }>('SELECT datallowconn FROM pg_database WHERE datname = $1', [db]));
    expect(live.rows).toEqual([{ datallowconn: true }]);

    void startWorker(config);
    expect(await handle.result()).toMatchObject({ status: 'success', strategy: 'swap' });
    expect(await fingerprint(db)).toEqual(atBackup);
  }, 300_000);
});
