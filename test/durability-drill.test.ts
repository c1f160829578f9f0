// Issue 26 (found by the soak, seed 5 cycle 45: drill × SIGKILL of the worker running it): a drill
// whose worker PROCESS is killed while it restores into its scratch database.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drillScratchName } from '../src/activities/drill';
import { decodeTimeoutType } from '@temporalio/common';
import { backupDatabase, restoreDrill } from '../src/workflows';
import { activityRunning, buildWorker, dropOurDatabases, kill, killAllWorkers, slowBinDirFor, startWorker } from './durability';
import { freePort } from '../src/ports';
import { createDatabase, testConfig, uniqueName, withAdmin } from './helpers';
import { onTemporal, testClient } from './temporal';

beforeAll(async () => {
  await buildWorker();
}, 600_000);

afterAll(async () => {
  await killAllWorkers();
  await dropOurDatabases();
});

describe('a drill whose worker is SIGKILLed while it restores (two workers sharing BACKUP_DIR)', () => {
  it('moves to the other worker, passes, and leaves no fbb_drill_* database', async () => {
    const db = await createDatabase('drillkill');
    const config = onTemporal(testConfig({ database: db }));
    const client = await testClient();
    // The first worker's psql into the drill's scratch database sleeps 8 s first: the drill is still running when it is killed.
    const first = startWorker(config, { PG_BIN_DIR: slowBinDirFor(config.pgBinDir!, 'psql', 8, 'fbb_drill_*') });
    const backup = await client.workflow.execute(backupDatabase, { taskQueue: config.temporal.taskQueue, workflowId: uniqueName('drill-b'), args: [{ cleanup_old: false }] });
    const handle = await client.workflow.start(restoreDrill, { taskQueue: config.temporal.taskQueue, workflowId: uniqueName('drill-d'), args: [{ source: 'local' }] });
    await activityRunning(handle, 'drillBackup');
    void startWorker(config);
    await kill(first);

    const result = await handle.result();
    expect(result).toMatchObject({ status: 'passed', filename: backup.filename, source: 'local' });
    const { rows } = await withAdmin((c) => c.query('SELECT datname FROM pg_database WHERE datname = $1', [drillScratchName(config, backup.filename)]));
    expect(rows).toEqual([]);
  }, 600_000);
});

// Issue 26 (found by the soak, seed 1313 cycle 7: drill × SIGKILL of the worker running it): the worker
// was killed while it picked the backup to drill, an activity without heartbeats; its retry waited out
// the call's 5-minute limit. Here the first worker's S3 endpoint accepts connections and never answers,
// so its pick of the S3 copy is still listing when the worker is killed.
describe('a drill whose worker is SIGKILLed while it picks the backup (listing S3)', () => {
  it('is picked again on the other worker once the pick stops heartbeating, and passes', async () => {
    const db = await createDatabase('drillpick');
    const config = onTemporal(testConfig({ database: db, s3: true }));
    const client = await testClient();
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => void sockets.add(socket));
    const port = await freePort();
    await new Promise<void>((resolve) => silent.listen(port, '127.0.0.1', resolve));
    try {
      const maker = startWorker(config);
      const backup = await client.workflow.execute(backupDatabase, { taskQueue: config.temporal.taskQueue, workflowId: uniqueName('pick-b'), args: [{ upload_to_s3: true, cleanup_old: false }] });
      await kill(maker);
      const first = startWorker(config, { S3_ENDPOINT: `http://127.0.0.1:${port}` });
      const handle = await client.workflow.start(restoreDrill, { taskQueue: config.temporal.taskQueue, workflowId: uniqueName('pick-d'), args: [{ source: 's3' }] });
      await activityRunning(handle, 'pickDrillBackup');
      void startWorker(config);
      await kill(first);

      const result = await handle.result();
      expect(result).toMatchObject({ status: 'passed', filename: backup.filename, source: 's3' });
      // The retry came because the pick stopped heartbeating (30 s), not at its 5-minute limit.
      const started = ((await handle.fetchHistory()).events ?? []).map((e) => e.activityTaskStartedEventAttributes).filter((a) => a?.lastFailure?.timeoutFailureInfo);
      expect(started.map((a) => decodeTimeoutType(a!.lastFailure!.timeoutFailureInfo!.timeoutType))).toEqual(['HEARTBEAT']);
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  }, 600_000);
});
