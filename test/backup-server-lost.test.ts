// Issue 12: the Temporal server goes away while "fbb backup" waits for its run. The run is not
// failed (it may go on once the server is back), so the CLI must not say it failed: it exits 3
// (outcome unknown) and names the command to check it with. The server killed here is a dev
// server this test starts for itself, never the shared one.
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runCli } from '../src/client/cli';
import { ExitCode } from '../src/client/exitCodes';
import { startTemporalDevServer, type TemporalDevServer } from '../src/temporalServer';
import { buildWorker, kill, startWorker } from './durability';
import { slowPgDumpBinDir, waitFor } from './faults';
import { captured, createDatabase, dropDatabase, testConfig, uniqueName } from './helpers';
import { temporalInfo } from './temporal';

vi.setConfig({ testTimeout: 300_000, hookTimeout: 120_000 });

beforeAll(buildWorker, 600_000);

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

describe('"fbb backup" when the Temporal server goes away mid-run', () => {
  it('exits 3 (outcome unknown, not "failed") and says to check "fbb status <workflow id>" once the server is back', async () => {
    const server: TemporalDevServer = await startTemporalDevServer({ headless: true, cli: temporalInfo.cli });
    cleanups.push(() => server.stop());
    const db = await createDatabase('bsl');
    cleanups.push(() => dropDatabase(db));
    const base = testConfig({ database: db });
    // pg_dump sleeps first: the run is surely in its dump step when the server is killed.
    const config = { ...base, pgBinDir: slowPgDumpBinDir(base.pgBinDir!, 120), temporal: { ...base.temporal, address: server.address, namespace: server.namespace, taskQueue: uniqueName('tq') } };
    // A worker process, SIGKILLed at the end: a worker whose server is gone takes minutes to shut down (its calls retry).
    const worker = startWorker(config, { TEMPORAL_ADDRESS: server.address, TEMPORAL_NAMESPACE: server.namespace });
    cleanups.push(() => kill(worker));

    const workflowId = uniqueName('bsl').replace(/_/g, '-');
    const out = captured();
    const env = {
      DATABASE_URL: `postgres://${config.database.user}@${config.database.host}:${config.database.port}/${db}`,
      BACKUP_DIR: config.backup.dir,
      TEMPORAL_ADDRESS: server.address,
      TEMPORAL_NAMESPACE: server.namespace,
      TEMPORAL_TASK_QUEUE: config.temporal.taskQueue,
    };
    const cli = runCli(['backup', '--workflow-id', workflowId], { env, stdout: out.stdout, stderr: out.stderr });

    const client = new Client({ connection: await Connection.connect({ address: server.address }), namespace: server.namespace });
    await waitFor('the backup to be dumping', async () => {
      const d = await client.workflow.getHandle(workflowId).describe().catch(() => undefined);
      return d?.raw.pendingActivities?.some((a) => a.activityType?.name === 'dumpDatabase') ? true : undefined;
    });
    await client.connection.close();
    process.kill(server.pid, 'SIGKILL');

    const code = await cli;
    const { stdout, stderr } = out.text();
    expect(stderr).toContain(`lost the Temporal server at ${server.address} while backup ${workflowId} was running`);
    expect(stderr).toContain(`its outcome is unknown here; once the Temporal server answers again, check it with: fbb status ${workflowId}`);
    expect(stderr).not.toMatch(/backup \S+ failed/);
    expect(stdout).toBe('');
    expect(code).toBe(ExitCode.cannotConnect);
  });
});
