// Durable for real: worker processes SIGKILLed at named moments on the Temporal dev server; another
// worker picks the run up and it ends in a defined state with nothing lost (issue 11's kill matrix).
// Workers run with ACTIVITY_HEARTBEAT_TIMEOUT_SECONDS=10 so a dead one is noticed in seconds, not minutes.
// The tests run at the same time (describe.concurrent): each has its own database, task queue, backup
// directories and worker processes, and most of their time is spent waiting (heartbeat timeouts, lost workers).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupDatabase, confirmRestore, restoreDatabase, statusQuery } from '../src/workflows';
import { activityRunning, buildWorker, waitingRestore, dropOurDatabases, filesIn, kill, killAllWorkers, leftoverDatabases, printRecoveries, printed, recovered, slowBinDir, slowBinDirFor, startWorker } from './durability';
import { eventually } from './eventually';
import { createDatabase, fingerprint, testConfig, uniqueName, withAdmin } from './helpers';
import { onTemporal, testClient } from './temporal';

beforeAll(buildWorker, 600_000);

afterAll(async () => {
  await killAllWorkers();
  await dropOurDatabases();
  printRecoveries();
});

describe.concurrent('a worker SIGKILLed mid-backup, with another worker on the same task queue and backup directory', () => {
  for (const [moment, activityType, tool, verify] of [
    ['during the dump', 'dumpDatabase', 'pg_dump', 'during_dump'],
    // The dump's bytes go into the scratch restore as they are written; psql is slow to start, so the whole pass waits on it.
    ['during the verification in the same pass as the dump', 'dumpDatabase', 'psql', 'during_dump'],
    ['during verification after the dump (BACKUP_VERIFY=after_dump)', 'verifyBackup', 'psql', 'after_dump'],
  ] as const) {
    it(`${moment}: the other worker finishes the backup once; one file and manifest, no partial file, no scratch database, the lock released`, async () => {
      const db = await createDatabase('dur_backup');
      const base = testConfig({ database: db, verify });
      const config = onTemporal({ ...base, pgBinDir: slowBinDir(base.pgBinDir!, tool, 60) });
      const first = startWorker(config);
      const client = await testClient();
      const handle = await client.workflow.start(backupDatabase, { taskQueue: config.temporal.taskQueue, workflowId: uniqueName('dur-backup'), args: [{ cleanup_old: false }] });
      await activityRunning(handle, activityType);
      await kill(first);
      const killedAt = Date.now();

      void startWorker({ ...config, pgBinDir: base.pgBinDir });
      const result = await handle.result();
      recovered(`backup, worker killed ${moment}`, killedAt);
      expect(result).toMatchObject({ status: 'success', verified: { ok: true } });
      expect(filesIn(config.backup.dir)).toEqual([result.filename, `${result.filename}.manifest.json`]);
      expect(await leftoverDatabases(config, [result.filename])).toEqual([]);
      const history = await handle.fetchHistory();
      const dumps = (history.events ?? []).filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'dumpDatabase');
      expect(dumps).toHaveLength(1);
    }, 300_000);
  }
});

describe.concurrent('a restore waiting for confirmation while its worker is killed', () => {
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
    const killedAt = Date.now();
    await handle.signal(confirmRestore, { confirmed_by: 'durability test' });

    void startWorker(config);
    const result = await handle.result();
    recovered('restore waiting for confirmation, worker killed, signal sent with no worker', killedAt);
    expect(result).toMatchObject({ status: 'success', confirmed_by: 'durability test' });
    expect(await fingerprint(db)).toEqual(atBackup);
  }, 300_000);
});

describe.concurrent('a worker SIGKILLed in the middle of a confirmed restore, with another worker to take over', () => {
  it('while restoring beside the live database: the other worker restores it, and no half-made copy is left', async () => {
    const { db, config, atBackup, handle } = await waitingRestore('dur_beside');
    // Only the restore's psql is slow: the pre-restore backup before it runs at full speed.
    const slow = startWorker({ ...config, pgBinDir: slowBinDirFor(config.pgBinDir!, 'psql', 60, '*_restoring_*') });
    await handle.signal(confirmRestore, { confirmed_by: 'durability test' });
    await activityRunning(handle, 'restoreIntoNewDatabase');
    await kill(slow);
    const killedAt = Date.now();

    void startWorker(config);
    const result = await handle.result();
    recovered('restore, worker killed restoring beside the live database', killedAt);
    expect(result).toMatchObject({ status: 'success', strategy: 'swap' });
    expect(await fingerprint(db)).toEqual(atBackup);
    expect(await leftoverDatabases(config, [result.pre_restore_backup!])).toEqual([]);
  }, 300_000);

  it('inside the swap transaction: the live database is never left renamed or closed, and the other worker completes the swap', async () => {
    const { db, config, atBackup, handle } = await waitingRestore('dur_swap');
    const paused = startWorker(config, { FBB_TEST_PAUSE_AT: 'swap' });
    await handle.signal(confirmRestore, { confirmed_by: 'durability test' });
    await printed(paused, 'test pause at swap');
    await kill(paused);
    const killedAt = Date.now();
    // Killed with the renames uncommitted: the live database is the old one, and it takes connections.
    const live = await withAdmin((c) => c.query<{ datallowconn: boolean }>('SELECT datallowconn FROM pg_database WHERE datname = $1', [db]));
    expect(live.rows).toEqual([{ datallowconn: true }]);

    void startWorker(config);
    expect(await handle.result()).toMatchObject({ status: 'success', strategy: 'swap' });
    recovered('restore, worker killed inside the swap transaction', killedAt);
    expect(await fingerprint(db)).toEqual(atBackup);
  }, 300_000);
});
