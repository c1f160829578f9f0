// Several workers, as on several hosts: worker PROCESSES with separate BACKUP_DIRs serve one task
// queue on the dev server. The steps that read a backup file run on the worker that has it (its
// own task queue); a lost worker's run moves to another; one backup or restore per database at a
// time through the lock workflow fbb-lock-<database> (issue 11, "Several workers").
// Workers run with WORKER_LOST_AFTER_SECONDS=10 and a 10 s heartbeat timeout, so a dead worker is noticed in seconds.
// The tests run at the same time (describe.concurrent): each has its own database, task queue, backup
// directories and worker processes, and most of their time is spent waiting (heartbeat timeouts, lost workers).
import fs from 'node:fs';
import path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../src/config';
import { lockWorkflowId } from '../src/workflows/lock';
import { backupDatabase, restoreDatabase } from '../src/workflows';
import { activityRunning, buildWorker, dropOurDatabases, filesIn, kill, killAllWorkers, leftoverDatabases, slowBinDir, startWorker } from './durability';
import { createDatabase, fingerprint, tempDir, testConfig, uniqueName, withAdmin } from './helpers';
import { onTemporal, testClient } from './temporal';

beforeAll(buildWorker, 600_000);
afterAll(async () => {
  await killAllWorkers();
  await dropOurDatabases();
});

/** Worker settings for these tests: a lost worker is given up on after 10 s. */
const FAST = { WORKER_LOST_AFTER_SECONDS: '10' };

/** Two configs for one database and one task queue, each with its own backup directory (two hosts). */
function twoHosts(config: Config): [Config, Config] {
  return [config, { ...config, backup: { ...config.backup, dir: tempDir('host-b') } }];
}

/** The innermost failure of a failed run: its type and message. */
function rootFailure(err: unknown): { type?: string; message: string } {
  let e = err as Error & { cause?: Error; type?: string };
  while (e.cause) e = e.cause as Error & { cause?: Error; type?: string };
  return { type: e.type, message: e.message };
}

/** Activity types scheduled in a run's history, in order. */
async function scheduled(handle: { fetchHistory(): Promise<{ events?: { activityTaskScheduledEventAttributes?: { activityType?: { name?: string | null } | null } | null }[] | null }> }): Promise<string[]> {
  const history = await handle.fetchHistory();
  return (history.events ?? []).map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name).filter((n): n is string => typeof n === 'string');
}

describe.concurrent('two workers with separate backup directories on one task queue', () => {
  it('backs up and restores several times in a row: each backup file and its manifest are on exactly one host, and every restore brings back its backup', async () => {
    const db = await createDatabase('wk_row');
    const [a, b] = twoHosts(onTemporal(testConfig({ database: db, s3: true })));
    void startWorker(a, FAST);
    void startWorker(b, FAST);
    const client = await testClient();
    const backup = () => client.workflow.execute(backupDatabase, { taskQueue: a.temporal.taskQueue, workflowId: uniqueName('wk-b'), args: [{ cleanup_old: false, upload_to_s3: true }] });

    const states: { filename: string; at: Awaited<ReturnType<typeof fingerprint>> }[] = [];
    for (let i = 0; i < 3; i++) {
      const at = await fingerprint(db);
      const result = await backup();
      expect(result).toMatchObject({ status: 'success', verified: { ok: true }, uploaded: { key: expect.stringContaining(result.filename) } });
      states.push({ filename: result.filename, at });
      await withAdmin((c) => c.query(`UPDATE tenants SET name = name || ' (${i})'`), db);
    }
    for (const { filename } of states) {
      const holders = [a, b].filter((h) => fs.existsSync(path.join(h.backup.dir, filename)));
      expect(holders).toHaveLength(1);
      expect(fs.existsSync(path.join(holders[0]!.backup.dir, `${filename}.manifest.json`))).toBe(true);
    }

    // Whichever worker validates a restore: the one with the file restores it, the other fetches the S3 copy.
    for (const { filename, at } of [states[0]!, states[2]!, states[1]!]) {
      const result = await client.workflow.execute(restoreDatabase, { taskQueue: a.temporal.taskQueue, workflowId: uniqueName('wk-r'), args: [{ backup_filename: filename, confirm_restore: true }] });
      expect(result).toMatchObject({ status: 'success', strategy: 'swap', restored_from: filename });
      expect(await fingerprint(db)).toEqual(at);
    }
    // No lock file in either directory: the lock is the workflow fbb-lock-<database>, released.
    for (const host of [a, b]) expect(filesIn(host.backup.dir).filter((f) => f.endsWith('.lock'))).toEqual([]);
  }, 600_000);

  it('a restore of a file only the other host has, without S3, fails with BackupNotFound naming the host and directory it looked in and what to do', async () => {
    const db = await createDatabase('wk_elsewhere');
    const [a, b] = twoHosts(onTemporal(testConfig({ database: db })));
    const client = await testClient();
    const first = startWorker(a, FAST);
    const backup = await client.workflow.execute(backupDatabase, { taskQueue: a.temporal.taskQueue, workflowId: uniqueName('wk-b'), args: [{ cleanup_old: false }] });
    await kill(first);
    void startWorker(b, FAST);
    const before = await fingerprint(db);

    const err = await client.workflow
      .execute(restoreDatabase, { taskQueue: a.temporal.taskQueue, workflowId: uniqueName('wk-r'), args: [{ backup_filename: backup.filename, confirm_restore: true }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const failure = rootFailure(err);
    expect(failure.type).toBe('BackupNotFound');
    expect(failure.message).toMatch(
      new RegExp(`^backup "${backup.filename}" is not in BACKUP_DIR ${b.backup.dir} of the worker on host .+ \\(queue ${a.temporal.taskQueue}@.+\\); with several workers each keeps the backups it made in its own BACKUP_DIR: run "fbb list" on the host that made it`),
    );
    expect(failure.message).toContain('set S3_BUCKET so a restore can fetch the S3 copy');
    expect(await fingerprint(db)).toEqual(before);
  }, 300_000);
});

describe.concurrent('a worker killed after the dump, while it verifies the backup it holds (BACKUP_VERIFY=after_dump: verification is a step of its own)', () => {
  it('the other worker, which has no copy of the file, dumps again under the same name and finishes: one backup recorded, no partial file, no scratch database', async () => {
    const db = await createDatabase('wk_lost');
    const base = onTemporal(testConfig({ database: db, verify: 'after_dump' }));
    const [a, b] = twoHosts(base);
    const slowVerify = startWorker({ ...a, pgBinDir: slowBinDir(a.pgBinDir!, 'psql', 120) }, FAST);
    const client = await testClient();
    const handle = await client.workflow.start(backupDatabase, { taskQueue: a.temporal.taskQueue, workflowId: uniqueName('wk-lost'), args: [{ cleanup_old: false }] });
    // The dump ran on the only worker, so verification was sent to that worker's own queue.
    await activityRunning(handle, 'verifyBackup');
    void startWorker(b, FAST);
    await kill(slowVerify);

    const result = await handle.result();
    expect(result).toMatchObject({ status: 'success', verified: { ok: true } });
    expect(filesIn(b.backup.dir)).toEqual([result.filename, `${result.filename}.manifest.json`]);
    // The lost host keeps the dump it made (never verified); it is not offered as a verified backup.
    const lostManifest = JSON.parse(fs.readFileSync(path.join(a.backup.dir, `${result.filename}.manifest.json`), 'utf8')) as { status: string };
    expect(lostManifest.status).toBe('dumped');
    expect(await leftoverDatabases(b, [result.filename])).toEqual([]);
    const steps = await scheduled(handle);
    expect(steps.filter((s) => s === 'dumpDatabase')).toHaveLength(2);
    expect(steps.filter((s) => s === 'locateBackup')).toHaveLength(1);
    expect(steps.filter((s) => s === 'recordBackup')).toHaveLength(1);
  }, 300_000);

  it('with a shared backup directory the other worker verifies the same file: nothing is dumped twice', async () => {
    const db = await createDatabase('wk_shared');
    const config = onTemporal(testConfig({ database: db, verify: 'after_dump' }));
    const slowVerify = startWorker({ ...config, pgBinDir: slowBinDir(config.pgBinDir!, 'psql', 120) }, FAST);
    const client = await testClient();
    const handle = await client.workflow.start(backupDatabase, { taskQueue: config.temporal.taskQueue, workflowId: uniqueName('wk-shared'), args: [{ cleanup_old: false }] });
    await activityRunning(handle, 'verifyBackup');
    void startWorker(config, FAST);
    await kill(slowVerify);

    const result = await handle.result();
    expect(result).toMatchObject({ status: 'success', verified: { ok: true } });
    expect(filesIn(config.backup.dir)).toEqual([result.filename, `${result.filename}.manifest.json`]);
    const steps = await scheduled(handle);
    expect(steps.filter((s) => s === 'dumpDatabase')).toHaveLength(1);
    expect(steps.filter((s) => s === 'locateBackup')).toHaveLength(1);
  }, 300_000);
});

describe.concurrent('the Temporal-native lock: one backup or restore per database across workers that share no directory', () => {
  it('two backups started at once: one runs, the other is refused with DatabaseBusy naming the run that holds the lock; the next one runs', async () => {
    const db = await createDatabase('wk_busy');
    const [a, b] = twoHosts(onTemporal(testConfig({ database: db })));
    // A dump that takes 15 s holds the lock long enough for the second run to meet it.
    for (const host of [a, b]) void startWorker({ ...host, pgBinDir: slowBinDir(host.pgBinDir!, 'pg_dump', 15) }, FAST);
    const client = await testClient();
    const start = (label: string) => client.workflow.start(backupDatabase, { taskQueue: a.temporal.taskQueue, workflowId: uniqueName(label), args: [{ cleanup_old: false }] });
    const runs = await Promise.all([start('wk-one'), start('wk-two')]);
    const outcomes = await Promise.allSettled(runs.map((r) => r.result()));

    const won = outcomes.findIndex((o) => o.status === 'fulfilled');
    expect(won).toBeGreaterThanOrEqual(0);
    const lost = outcomes[1 - won]!;
    expect(lost.status).toBe('rejected');
    const failure = rootFailure((lost as PromiseRejectedResult).reason);
    expect(failure.type).toBe('DatabaseBusy');
    expect(failure.message).toMatch(new RegExp(`^a backup of database "${db}" is already running \\(workflow ${runs[won]!.workflowId}, run [0-9a-f-]+, since .+\\); wait for it to finish \\(fbb status ${runs[won]!.workflowId}\\)$`));
    expect(await scheduled(runs[1 - won]!)).not.toContain('dumpDatabase');

    const next = await client.workflow.execute(backupDatabase, { taskQueue: a.temporal.taskQueue, workflowId: uniqueName('wk-next'), args: [{ cleanup_old: false }] });
    expect(next).toMatchObject({ status: 'success' });
  }, 300_000);

  it('a run terminated while it holds the lock releases it (parent close policy): the next backup runs', async () => {
    const db = await createDatabase('wk_term');
    const config = onTemporal(testConfig({ database: db }));
    const slow = startWorker({ ...config, pgBinDir: slowBinDir(config.pgBinDir!, 'pg_dump', 120) }, FAST);
    const client = await testClient();
    const held = await client.workflow.start(backupDatabase, { taskQueue: config.temporal.taskQueue, workflowId: uniqueName('wk-held'), args: [{ cleanup_old: false }] });
    await activityRunning(held, 'dumpDatabase');
    const lock = client.workflow.getHandle(lockWorkflowId(db, `${config.database.host}:${config.database.port}`));
    expect((await lock.describe()).status.name).toBe('RUNNING');
    await held.terminate('test: a run that never releases its lock');
    await kill(slow);

    void startWorker(config, FAST);
    const next = await client.workflow.execute(backupDatabase, { taskQueue: config.temporal.taskQueue, workflowId: uniqueName('wk-after'), args: [{ cleanup_old: false }] });
    expect(next).toMatchObject({ status: 'success', verified: { ok: true } });
    expect((await lock.describe()).status.name).toBe('COMPLETED');
    // The terminated run's partial file was removed by the next run (it holds the lock now).
    expect(filesIn(config.backup.dir)).toEqual([next.filename, `${next.filename}.manifest.json`]);
  }, 300_000);
});
