// Issue 26 (found by the soak, seed 5 cycle 45: drill × SIGKILL of the worker running it): a drill
// whose worker PROCESS is killed while it restores into its scratch database.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drillScratchName } from '../src/activities/drill';
import { backupDatabase, restoreDrill } from '../src/workflows';
import { activityRunning, buildWorker, dropOurDatabases, kill, killAllWorkers, slowBinDirFor, startWorker } from './durability';
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
