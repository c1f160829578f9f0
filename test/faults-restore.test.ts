// Issue 12, restores that must end in a defined state: an in-place restore that fails part-way,
// cancellation at each phase, a brand-new server. Workflows run on the real Temporal dev server
// with a real Worker.
import fs from 'node:fs';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { vi, afterAll, describe, expect, it } from 'vitest';
import { createActivities } from '../src/activities';
import { manifestName, type BackupManifest } from '../src/backup/manifest';
import { backupFilename } from '../src/backup/naming';
import type { Config } from '../src/config';
import { diffFingerprints } from './compare';
import { runCli } from '../src/client/cli';
import { backupDatabase, confirmRestore, restoreDatabase, statusQuery } from '../src/workflows';
import type { RestoreResult } from '../src/workflows/restoreDatabase';
import { captured, createDatabase, dropDatabase, dropDatabasesLike, fingerprint, runActivity, testConfig, uniqueName, withAdmin } from './helpers';
import { onTemporal, startTestWorker, temporalInfo, testClient, type TestWorker } from './temporal';

/** Backups, restores and workers on a machine other test files load too. */
const SLOW_MS = 300_000;
vi.setConfig({ testTimeout: SLOW_MS, hookTimeout: SLOW_MS });

const made: string[] = [];
const workers: TestWorker[] = [];
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await Promise.all(made.map(dropDatabase));
  await dropDatabasesLike('fbb_frs');
});

/** A real Worker for `config` (activities optionally replaced); returns a starter for workflows on its task queue. */
async function served(config: Config, overrides: Record<string, unknown> = {}) {
  const onServer = config.temporal.address === temporalInfo.address ? config : onTemporal(config);
  workers.push(await startTestWorker(onServer, overrides));
  const client = await testClient();
  return {
    start<A extends unknown[], R>(workflow: (...args: A) => Promise<R>, ...args: A): Promise<WorkflowHandle<(...args: A) => Promise<R>>> {
      return client.workflow.start(workflow, { taskQueue: onServer.temporal.taskQueue, workflowId: uniqueName('frs').replace(/_/g, '-'), args });
    },
  };
}

const cannotCreate = async () => {
  throw ApplicationFailure.create({ type: 'CannotCreateDatabase', nonRetryable: true, message: 'simulated: no CREATEDB' });
};

describe('an in-place restore of a custom-format backup that fails inside pg_restore', () => {
  it('leaves the live database exactly as it was: the schema drops and the restore are one transaction', async () => {
    // A backup that hashes fine but does not restore: a child row whose parent is missing (foreign
    // key triggers were disabled when it went in), so pg_restore fails adding the constraint, after the data.
    const db = await createDatabase('frs_fk', false);
    made.push(db);
    await withAdmin(async (c) => {
      await c.query('CREATE TABLE parent (id int PRIMARY KEY); CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent)');
      await c.query('INSERT INTO parent SELECT generate_series(1, 100); INSERT INTO child SELECT g, g FROM generate_series(1, 100) g');
      await c.query('ALTER TABLE child DISABLE TRIGGER ALL; INSERT INTO child VALUES (999, 999); ALTER TABLE child ENABLE TRIGGER ALL');
    }, db);
    const config = testConfig({ database: db });
    const filename = backupFilename('family_brain', 'daily', new Date(), 'UTC', 'custom');
    const dumped = await runActivity(createActivities({ config }).dumpDatabase, { filename, type: 'daily', format: 'custom', workflowId: 'crafted' });
    // Crafted: its manifest says verified (as if verified on a server that had not checked the key).
    const manifest: BackupManifest = { ...dumped, status: 'verified' };
    fs.writeFileSync(path.join(config.backup.dir, manifestName(filename)), JSON.stringify(manifest));
    await withAdmin((c) => c.query('DELETE FROM child WHERE id = 999; INSERT INTO parent VALUES (1000)'), db);
    const before = await fingerprint(db);

    const server = await served(config, { restoreIntoNewDatabase: cannotCreate });
    const handle = await server.start(restoreDatabase, { backup_filename: filename, confirm_restore: true });
    const result = await handle.result();
    expect(result).toMatchObject({ status: 'failed', strategy: 'in_place', error: { type: 'RestoreFailed' } });
    expect(result.error!.message).toMatch(new RegExp(`^backup "${filename}" does not restore: .*violates foreign key constraint`));
    expect(diffFingerprints(before, await fingerprint(db))).toEqual([]);
  });
});

/**
 * Test device for timing only: runs the real activity, then keeps heartbeating until the
 * workflow's cancellation reaches it, as a long restore would; `reached` resolves when it waits.
 */
function thenWaitForCancel<A extends unknown[], R>(real: (...args: A) => Promise<R>): { activity: (...args: A) => Promise<R>; reached: Promise<void> } {
  let arrived!: () => void;
  const reached = new Promise<void>((resolve) => (arrived = resolve));
  const activity = async (...args: A): Promise<R> => {
    const result = await real(...args);
    arrived();
    const ctx = Context.current();
    for (let i = 0; i < 600; i++) {
      ctx.heartbeat();
      await ctx.sleep(100);
    }
    return result;
  };
  return { activity, reached };
}

const databasesLike = async (pattern: string) =>
  (await withAdmin((c) => c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [pattern]))).rows.map((r) => r.datname);

describe('cancelling a restore', () => {
  it('during the restore beside, by "fbb restore cancel" after confirmation: ends cancelled, the half-made copy dropped, the database untouched', async () => {
    const db = await createDatabase('frs_cancel_beside');
    made.push(db);
    const config = testConfig({ database: db });
    const filename = (await (await served(config)).start(backupDatabase, { cleanup_old: false }).then((h) => h.result())).filename;
    await withAdmin((c) => c.query("UPDATE tenants SET name = name || ' (edited)'"), db);
    const before = await fingerprint(db);
    const real = createActivities({ config });
    const slow = thenWaitForCancel(real.restoreIntoNewDatabase);
    const onServer = onTemporal(config);
    const server = await served(onServer, { restoreIntoNewDatabase: slow.activity });
    const handle = await server.start(restoreDatabase, { backup_filename: filename, create_pre_restore_backup: false });
    for (let i = 0; (await handle.query(statusQuery)).phase !== 'awaiting_confirmation'; i++) await new Promise((r) => setTimeout(r, 100));
    await handle.signal(confirmRestore, { confirmed_by: 'ops' });
    await slow.reached;
    expect(await databasesLike(`${db}_restoring_%`)).toHaveLength(1);

    const out = captured();
    const env = {
      DATABASE_URL: `postgres://${config.database.user}@${config.database.host}:${config.database.port}/${db}`,
      TEMPORAL_ADDRESS: temporalInfo.address,
      TEMPORAL_NAMESPACE: temporalInfo.namespace,
      TEMPORAL_TASK_QUEUE: onServer.temporal.taskQueue,
    };
    const code = await runCli(['restore', 'cancel', handle.workflowId], { env, stdout: out.stdout, stderr: out.stderr });
    // The cancelRestore Update stops the restore beside and answers once the restore has ended.
    expect(out.text().stdout).toBe(`cancelled ${handle.workflowId}: the restore is now in phase done (status cancelled); follow it with: fbb status ${handle.workflowId}\n`);
    expect(code).toBe(0);

    const result = await handle.result();
    expect(result).toMatchObject({ status: 'cancelled', strategy: null, error: { type: 'RestoreCancelled' } });
    expect(result.error!.message).toMatch(new RegExp(`^cancelled while restoring beside the live database; the half-made copy ${db}_restoring_\\d{8}_\\d{6} was dropped; the database was not changed$`));
    expect(await databasesLike(`${db}_restoring_%`)).toEqual([]);
    expect(diffFingerprints(before, await fingerprint(db))).toEqual([]);
  });

  it('during the check after the swap: the rollback still runs to the end and the previous database is back', async () => {
    const db = await createDatabase('frs_cancel_live');
    made.push(db);
    const config = testConfig({ database: db });
    const filename = (await (await served(config)).start(backupDatabase, { cleanup_old: false }).then((h) => h.result())).filename;
    await withAdmin((c) => c.query("UPDATE tenants SET name = name || ' (edited)'"), db);
    const before = await fingerprint(db);
    const real = createActivities({ config });
    const slow = thenWaitForCancel(real.verifyLiveDatabase);
    const server = await served(config, { verifyLiveDatabase: slow.activity });
    const handle = await server.start(restoreDatabase, { backup_filename: filename, confirm_restore: true, create_pre_restore_backup: false });
    await slow.reached;
    await handle.cancel();
    const result: RestoreResult = await handle.result();
    expect(result).toMatchObject({ status: 'rolled_back', strategy: 'swap', error: { type: 'RestoreCancelled' }, rollback: { strategy: 'swap_back', verification: { ok: true, swapped_back: true } } });
    expect(diffFingerprints(before, await fingerprint(db))).toEqual([]);
  });
});

describe('disaster recovery onto a server where the database does not exist yet', () => {
  it('"fbb restore <file> --yes" creates it in one command: restored beside, checked, renamed in; no pre-restore backup, and the result says so', async () => {
    const source = await createDatabase('frs_lost');
    made.push(source);
    const atBackup = await fingerprint(source);
    const dir = testConfig().backup.dir;
    const filename = (await (await served(testConfig({ database: source, backupDir: dir }))).start(backupDatabase, { cleanup_old: false }).then((h) => h.result())).filename;
    // The new server: a database name nobody created.
    const fresh = uniqueName('frs_new');
    made.push(fresh);
    expect(await databasesLike(fresh)).toEqual([]);
    const onServer = onTemporal(testConfig({ database: fresh, backupDir: dir }));
    await served(onServer);

    const out = captured();
    const env = {
      DATABASE_URL: `postgres://${onServer.database.user}@${onServer.database.host}:${onServer.database.port}/${fresh}`,
      BACKUP_DIR: dir,
      TEMPORAL_ADDRESS: temporalInfo.address,
      TEMPORAL_NAMESPACE: temporalInfo.namespace,
      TEMPORAL_TASK_QUEUE: onServer.temporal.taskQueue,
    };
    const code = await runCli(['restore', filename, '--yes', '--json'], { env, stdout: out.stdout, stderr: out.stderr });
    expect(out.text().stderr).not.toMatch(/DatabaseUnreachable/);
    const result = JSON.parse(out.text().stdout) as RestoreResult;
    expect(result).toMatchObject({ status: 'success', strategy: 'create', pre_restore_backup: null, aside_database: null, rollback: null, error: null, verification: { ok: true } });
    expect(code).toBe(0);
    expect(diffFingerprints(atBackup, await fingerprint(fresh))).toEqual([]);
    expect(await databasesLike(`${fresh}_%`)).toEqual([]);
    // Nothing was backed up: only the restored backup and its manifest are in the directory.
    expect(fs.readdirSync(dir).filter((f) => !f.startsWith('.')).sort()).toEqual([filename, manifestName(filename)]);
  });
});
