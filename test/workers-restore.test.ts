// Issue 21 item 4: with several workers, each with its own BACKUP_DIR (two hosts), every step that
// reads a file runs on the worker that has it: the pre-restore backup's checksum check and the
// rollback in place (on a server where the role may not create databases), and a local drill.
// Worker PROCESSES on the Temporal dev server, real PostgreSQL, pg_dump and psql.
// The tests run at the same time (describe.concurrent): each has its own database, task queue, backup
// directories and worker processes, and most of their time is spent waiting (heartbeat timeouts, lost workers).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifestName } from '../src/backup/manifest';
import type { Config } from '../src/config';
import { diffFingerprints } from './compare';
import { backupDatabase, restoreDatabase, restoreDrill } from '../src/workflows';
import { lockWorkflowId } from '../src/workflows/lock';
import { buildWorker, dropOurDatabases, kill, killAllWorkers, slowBinDir, startWorker } from './durability';
import { sampleCluster } from './faults';
import { createDatabase, fingerprint, tempDir, uniqueName, withAdmin, testConfig } from './helpers';
import { asRoleOf, dropRoles, managedDatabase } from './managed';
import { onTemporal, scheduled, testClient } from './temporal';

const roles: string[] = [];
beforeAll(buildWorker, 600_000);
afterAll(async () => {
  await killAllWorkers();
  await dropOurDatabases();
  await dropRoles(roles);
});

/** Worker settings: a lost worker is given up on after 10 s. */
const FAST = { WORKER_LOST_AFTER_SECONDS: '10' };

/** The own queue of the worker process `pid` (`<queue>@<host>-<pid>-<random>`)? */
const ownQueueOf = (queue: string, pid: number | undefined) => new RegExp(`@.+-${pid}-[0-9a-f]{6}$`).test(queue);

describe.concurrent('two workers with separate backup directories, on a server where the role may not create databases', () => {
  it('a failed check after an in-place restore rolls back from the pre-restore backup on the worker that holds it: every step reading it went to that worker\'s own queue', async () => {
    const m = await managedDatabase('wkr_inplace');
    roles.push(m.role);
    const hostA = onTemporal(m.adminConfig);
    const hostB: Config = { ...hostA, backup: { ...hostA.backup, dir: tempDir('wkr-host-b') } };
    const client = await testClient();

    // The backup to restore, made as the admin on host A; then copied to host B (both hosts have it).
    const maker = startWorker(hostA, FAST);
    const backup = await client.workflow.execute(backupDatabase, { taskQueue: hostA.temporal.taskQueue, workflowId: uniqueName('wkr-b'), args: [{ cleanup_old: false }] });
    await kill(maker);
    // Its manifest claims one more note than the dump holds: the check after the restore fails, the rollback runs.
    const manifestFile = path.join(hostA.backup.dir, manifestName(backup.filename));
    const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as { table_details: Record<string, number> };
    const table = Object.keys(manifest.table_details)[0]!;
    manifest.table_details[table]! += 1;
    fs.writeFileSync(manifestFile, JSON.stringify(manifest));
    for (const f of [backup.filename, manifestName(backup.filename)]) fs.copyFileSync(path.join(hostA.backup.dir, f), path.join(hostB.backup.dir, f));

    await withAdmin((c) => c.query("DELETE FROM notes WHERE id % 2 = 0; INSERT INTO notes (body) VALUES ('after the backup')"), m.db);
    const before = await fingerprint(m.db);
    const workers = [startWorker(asRoleOf(hostA, m.role), FAST), startWorker(asRoleOf(hostB, m.role), FAST)];
    const handle = await client.workflow.start(restoreDatabase, { taskQueue: hostA.temporal.taskQueue, workflowId: uniqueName('wkr-r').replace(/_/g, '-'), args: [{ backup_filename: backup.filename, confirm_restore: true }] });
    const result = await handle.result();

    expect(result).toMatchObject({ status: 'rolled_back', strategy: 'in_place', error: { type: 'RestoreVerificationFailed' }, rollback: { strategy: 'pre_restore_backup', verification: { ok: true } } });
    expect(diffFingerprints(before, await fingerprint(m.db))).toEqual([]);
    const pre = result.pre_restore_backup!;
    const holders = [hostA, hostB].map((h, i) => ({ worker: workers[i]!, has: fs.existsSync(path.join(h.backup.dir, pre)) })).filter((h) => h.has);
    expect(holders).toHaveLength(1);
    const steps = await scheduled(handle);
    const dumped = steps.find((s) => s.name === 'dumpDatabase')!.result as { worker_queue: string };
    expect(ownQueueOf(dumped.worker_queue, holders[0]!.worker.pid)).toBe(true);
    // The pre-restore backup could not be restore-verified (no CREATEDB): its checksum was checked where it is.
    expect(steps.filter((s) => s.name === 'checkBackupFile').map((s) => s.queue)).toEqual([dumped.worker_queue]);
    // The rollback: the last prepareRestore and restoreInPlace are the pre-restore backup's.
    expect(steps.filter((s) => s.name === 'prepareRestore').at(-1)!.queue).toBe(dumped.worker_queue);
    expect(steps.filter((s) => s.name === 'restoreInPlace').at(-1)!.queue).toBe(dumped.worker_queue);
  }, 600_000);
});

describe.concurrent('a local restore drill with two workers with separate backup directories', () => {
  it('drills the backup on the worker that picked it (its own queue), and passes', async () => {
    const db = await createDatabase('wkr_drill');
    const hostA = onTemporal(testConfig({ database: db }));
    const hostB: Config = { ...hostA, backup: { ...hostA.backup, dir: tempDir('wkr-drill-b') } };
    const client = await testClient();
    const backup = () => client.workflow.execute(backupDatabase, { taskQueue: hostA.temporal.taskQueue, workflowId: uniqueName('wkr-db'), args: [{ cleanup_old: false }] });
    // One verified backup on each host: A alone makes the first, B alone the second, then both serve.
    const firstA = startWorker(hostA, FAST);
    await backup();
    const onlyB = startWorker(hostB, FAST);
    await kill(firstA);
    await backup();
    void startWorker(hostA, FAST);
    for (const h of [hostA, hostB]) expect(fs.readdirSync(h.backup.dir).filter((f) => f.endsWith('.sql.gz'))).toHaveLength(1);
    expect(onlyB.pid).toBeDefined();

    for (let i = 0; i < 3; i++) {
      const handle = await client.workflow.start(restoreDrill, { taskQueue: hostA.temporal.taskQueue, workflowId: uniqueName('wkr-drill').replace(/_/g, '-'), args: [{ source: 'local' }] });
      await expect(handle.result()).resolves.toMatchObject({ status: 'passed', source: 'local' });
      const steps = await scheduled(handle);
      const picked = steps.find((s) => s.name === 'pickDrillBackup')!.result as { filename: string; worker_queue?: string };
      expect(picked.worker_queue).toMatch(new RegExp(`^${hostA.temporal.taskQueue}@`));
      expect(steps.find((s) => s.name === 'drillBackup')!.queue).toBe(picked.worker_queue);
    }
  }, 600_000);
});

describe.concurrent('the lock of two servers that each have a database of the same name (issue 21 item 16)', () => {
  it('backups of "family_brain" on two servers run at the same time: the lock is keyed on host, port and name', async () => {
    const servers = [await sampleCluster(), await sampleCluster()];
    try {
      const client = await testClient();
      const configs = servers.map((s) => onTemporal(s.config(testConfig())));
      // A dump that takes 15 s: the two runs overlap.
      for (const c of configs) void startWorker({ ...c, pgBinDir: slowBinDir(c.pgBinDir!, 'pg_dump', 15) }, FAST);
      const runs = await Promise.all(configs.map((c) => client.workflow.start(backupDatabase, { taskQueue: c.temporal.taskQueue, workflowId: uniqueName('wkr-lock').replace(/_/g, '-'), args: [{ cleanup_old: false }] })));
      const results = await Promise.all(runs.map((r) => r.result()));
      for (const r of results) expect(r).toMatchObject({ status: 'success', verified: { ok: true } });
      for (const c of configs) {
        const lock = await client.workflow.getHandle(lockWorkflowId('family_brain', `${c.database.host}:${c.database.port}`)).describe();
        expect(lock.status.name).toBe('COMPLETED');
      }
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
    }
  }, 600_000);
});
