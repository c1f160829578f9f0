// The confirmRestore and cancelRestore Updates on the real Temporal dev server with real Workers:
// each rejection of the validator with its exact message (the workflow's state and history
// unchanged afterwards), the phase an accepted Update answers, and what `fbb restore confirm|cancel`
// report. Full, tenant and table restores.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createActivities } from '../src/activities';
import { runCli } from '../src/client/cli';
import type { Config } from '../src/config';
import { backupDatabase, cancelRestoreUpdate, confirmRestoreUpdate, partialStatusQuery, restoreDatabase, restoreTable, restoreTenant, statusQuery } from '../src/workflows';
import { captured, createDatabase, dropDatabase, testConfig, uniqueName, withAdmin } from './helpers';
import { onTemporal, startTestWorker, temporalInfo, testClient, type TestWorker } from './temporal';

vi.setConfig({ testTimeout: 300_000, hookTimeout: 300_000 });

const workers: TestWorker[] = [];
const databases: string[] = [];
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  const { rows } = await withAdmin((c) => c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname = ANY($1) OR datname LIKE ANY($2)', [databases, databases.map((d) => `${d}_%`)]));
  for (const { datname } of rows) await dropDatabase(datname);
});

/**
 * Test device for timing only: an activity held (before or after the real one runs) until
 * `release()`, heartbeating meanwhile; `reached` resolves when it is held.
 */
function held<A extends unknown[], R>(real: (...args: A) => Promise<R>, when: 'before' | 'after') {
  let arrived!: () => void;
  let released = false;
  const reached = new Promise<void>((resolve) => (arrived = resolve));
  const activity = async (...args: A): Promise<R> => {
    const hold = async () => {
      arrived();
      const ctx = Context.current();
      while (!released) {
        ctx.heartbeat();
        await ctx.sleep(100);
      }
    };
    if (when === 'before') await hold();
    const result = await real(...args);
    if (when === 'after') await hold();
    return result;
  };
  return { activity, reached, release: () => (released = true) };
}

/** The Update's refusal as the client receives it: its type and message. */
async function rejection(sent: Promise<unknown>): Promise<{ type: string | undefined; message: string }> {
  const err = await sent.then(
    () => new Error('the Update was accepted'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
  const cause = (err as WorkflowUpdateFailedError).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  return { type: (cause as ApplicationFailure).type ?? undefined, message: cause!.message };
}

/** What a restore shows and has recorded: its status answer (without the running clock) and its history's length. */
async function snapshot(handle: WorkflowHandle) {
  // restoreDatabase, restoreTenant and restoreTable all answer the query named status.
  const status = await handle.query<{ phase: string; status: string; confirmed_by: string | null; duration_ms: number }>('status');
  return { status: { ...status, duration_ms: 0 }, events: (await handle.fetchHistory()).events?.length };
}

/** `fbb restore confirm|cancel <id>` as a user whose fbb names `database`, on `config`'s task queue. */
async function fbbUpdate(action: 'confirm' | 'cancel', workflowId: string, config: Config, database: string) {
  const io = captured();
  const env = {
    DATABASE_URL: `postgres://${config.database.user}@${config.database.host}:${config.database.port}/${database}`,
    TEMPORAL_ADDRESS: temporalInfo.address,
    TEMPORAL_NAMESPACE: temporalInfo.namespace,
    TEMPORAL_TASK_QUEUE: config.temporal.taskQueue,
  };
  const code = await runCli(['restore', action, workflowId], { env, stdout: io.stdout, stderr: io.stderr });
  return { code, ...io.text() };
}

/** A command line typed at a shell with the pinned `temporal` CLI on PATH, against the dev server. */
async function temporalCli(command: string) {
  const env = {
    HOME: fs.mkdtempSync(path.join(os.tmpdir(), 'fbb-temporal-home-')),
    PATH: `${path.dirname(temporalInfo.cli)}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    TEMPORAL_VERSION_CHECK_DISABLED: '1',
    TEMPORAL_ADDRESS: temporalInfo.address,
    TEMPORAL_NAMESPACE: temporalInfo.namespace,
  };
  const { exitCode, stdout, stderr } = await execa('bash', ['-c', command], { env, extendEnv: false, reject: false, timeout: 60_000 });
  return { exitCode, stdout, stderr };
}

const until = async (what: () => Promise<string>, phase: string) => {
  while ((await what()) !== phase) await new Promise((r) => setTimeout(r, 200));
};

describe('a full restore, confirmed and cancelled by Update', () => {
  let db: string;
  let config: Config;
  let filename: string;
  const real = () => createActivities({ config });
  let validating: ReturnType<typeof held>;
  let checking: ReturnType<typeof held>;
  let handle: WorkflowHandle<typeof restoreDatabase>;
  let id: string;

  beforeAll(async () => {
    db = await createDatabase('rupd');
    databases.push(db);
    config = onTemporal(testConfig({ database: db }));
    validating = held(real().prepareRestore as (...a: unknown[]) => Promise<unknown>, 'before');
    checking = held(real().verifyLiveDatabase as (...a: unknown[]) => Promise<unknown>, 'after');
    workers.push(await startTestWorker(config, { prepareRestore: validating.activity, verifyLiveDatabase: checking.activity }));
    const client = await testClient();
    filename = (await client.workflow.execute(backupDatabase, { taskQueue: config.temporal.taskQueue, workflowId: uniqueName('rupd-backup').replace(/_/g, '-'), args: [{ cleanup_old: false }] })).filename;
    id = uniqueName('rupd-restore').replace(/_/g, '-');
    handle = await client.workflow.start(restoreDatabase, { taskQueue: config.temporal.taskQueue, workflowId: id, args: [{ backup_filename: filename, create_pre_restore_backup: false }] });
    await validating.reached;
  });

  it('a confirmation while the restore still validates is rejected, naming the phase; the workflow is unchanged', async () => {
    const before = await snapshot(handle);
    expect(before.status.phase).toBe('validating');
    expect(await rejection(handle.executeUpdate(confirmRestoreUpdate, { args: [{ confirmed_by: 'ops' }] }))).toEqual({
      type: 'RestoreUpdateRejected',
      message: `confirmRestore rejected: restore ${id}: it is not waiting for confirmation yet (phase validating); the confirmation was not applied; confirm once "fbb status ${id}" shows it awaiting confirmation`,
    });
    expect(await snapshot(handle)).toEqual(before);
    validating.release();
    await until(async () => (await handle.query(statusQuery)).phase, 'awaiting_confirmation');
  });

  it('a confirmation or cancel naming another database is rejected, naming the right one; fbb reports it; the workflow is unchanged', async () => {
    const before = await snapshot(handle);
    const wrong = (update: string, what: string) =>
      `${update} rejected: restore ${id} restores database "${db}", not "elsewhere"; the ${what} was not applied; check the workflow ID ("fbb history --type restore" lists restores), or send database "${db}"`;
    expect(await rejection(handle.executeUpdate(confirmRestoreUpdate, { args: [{ confirmed_by: 'ops', database: 'elsewhere' }] }))).toEqual({ type: 'RestoreUpdateRejected', message: wrong('confirmRestore', 'confirmation') });
    expect(await rejection(handle.executeUpdate(cancelRestoreUpdate, { args: [{ cancelled_by: 'ops', database: 'elsewhere' }] }))).toEqual({ type: 'RestoreUpdateRejected', message: wrong('cancelRestore', 'cancel') });
    expect(await fbbUpdate('confirm', id, config, 'elsewhere')).toEqual({ code: 2, stdout: '', stderr: `fbb: ${wrong('confirmRestore', 'confirmation')}\n` });
    const typed = await temporalCli(`temporal workflow update execute --workflow-id ${id} --name confirmRestore --input '{"confirmed_by": "grace", "database": "elsewhere"}'`);
    expect(typed).toEqual({ exitCode: 1, stdout: '', stderr: `Error: unable to update workflow: ${wrong('confirmRestore', 'confirmation')} (type: RestoreUpdateRejected, retryable: false)` });
    expect(await snapshot(handle)).toEqual(before);
    expect(before.status).toMatchObject({ phase: 'awaiting_confirmation', confirmed_by: null, status: 'running' });
  });

  it('an accepted confirmation answers the phase it moved the restore to; fbb reports the answer', async () => {
    const out = await fbbUpdate('confirm', id, config, db);
    expect(out).toEqual({ code: 0, stderr: '', stdout: `confirmed ${id}: the restore is now in phase restoring (status running); follow it with: fbb status ${id}\n` });
    await checking.reached;
    expect(await handle.query(statusQuery)).toMatchObject({ phase: 'verifying', strategy: 'swap', confirmed_by: expect.stringContaining('@') });
  });

  it('once the swap has begun, a cancel and a second confirmation are rejected; fbb reports it; the restore completes as it would have', async () => {
    const before = await snapshot(handle);
    const late = `cancelRestore rejected: restore ${id} can no longer be cancelled: the swap has begun (phase verifying); if the live database does not check out it puts the previous one back by itself; the cancel was not applied; "fbb status ${id}" shows how it ends`;
    expect(await rejection(handle.executeUpdate(cancelRestoreUpdate, { args: [{ cancelled_by: 'ops' }] }))).toEqual({ type: 'RestoreUpdateRejected', message: late });
    expect(await fbbUpdate('cancel', id, config, db)).toEqual({ code: 2, stdout: '', stderr: `fbb: ${late}\n` });
    expect(await rejection(handle.executeUpdate(confirmRestoreUpdate, { args: [{ confirmed_by: 'ops' }] }))).toEqual({
      type: 'RestoreUpdateRejected',
      message: `confirmRestore rejected: restore ${id}: it is no longer waiting for confirmation (phase verifying, confirmed by ${before.status.confirmed_by!}); the confirmation was not applied; "fbb status ${id}" shows how it goes on`,
    });
    expect(await snapshot(handle)).toEqual(before);
    checking.release();
    expect(await handle.result()).toMatchObject({ status: 'success', strategy: 'swap', error: null, verification: { ok: true } });
  });
});

describe('tenant and table restores, confirmed and cancelled by Update', () => {
  let db: string;
  let config: Config;
  let filename: string;
  let applying: ReturnType<typeof held>;

  beforeAll(async () => {
    db = await createDatabase('rupd_part');
    databases.push(db);
    config = onTemporal(testConfig({ database: db }));
    applying = held(createActivities({ config }).applyPartialRestore as (...a: unknown[]) => Promise<unknown>, 'before');
    workers.push(await startTestWorker(config, { applyPartialRestore: applying.activity }));
    const client = await testClient();
    filename = (await client.workflow.execute(backupDatabase, { taskQueue: config.temporal.taskQueue, workflowId: uniqueName('rupd-pbackup').replace(/_/g, '-'), args: [{ cleanup_old: false }] })).filename;
  });

  it('a tenant restore: another database is rejected; confirmation answers applying; then a cancel is rejected (its transaction has begun), and it completes', async () => {
    const [tenant] = await withAdmin(async (c) => (await c.query<{ id: string }>('SELECT id FROM tenants ORDER BY slug')).rows.map((r) => r.id), db);
    const client = await testClient();
    const id = uniqueName('rupd-tenant').replace(/_/g, '-');
    const handle = await client.workflow.start(restoreTenant, { taskQueue: config.temporal.taskQueue, workflowId: id, args: [{ backup_filename: filename, tenant_id: tenant!, create_pre_restore_backup: false }] });
    await until(async () => (await handle.query(partialStatusQuery)).phase, 'awaiting_confirmation');
    const waiting = await snapshot(handle);
    expect(await rejection(handle.executeUpdate(confirmRestoreUpdate, { args: [{ confirmed_by: 'ops', database: 'elsewhere' }] }))).toEqual({
      type: 'RestoreUpdateRejected',
      message: `confirmRestore rejected: restore ${id} restores database "${db}", not "elsewhere"; the confirmation was not applied; check the workflow ID ("fbb history --type restore" lists restores), or send database "${db}"`,
    });
    expect(await snapshot(handle)).toEqual(waiting);

    expect(await handle.executeUpdate(confirmRestoreUpdate, { args: [{ confirmed_by: 'ops', database: db }] })).toEqual({ phase: 'applying', status: 'running' });
    await applying.reached;
    const inTransaction = await snapshot(handle);
    const late = `cancelRestore rejected: restore ${id} can no longer be cancelled: its transaction has begun (phase applying); it is checked before it commits and rolled back if the check fails; the cancel was not applied; "fbb status ${id}" shows how it ends`;
    expect(await rejection(handle.executeUpdate(cancelRestoreUpdate, { args: [{ cancelled_by: 'ops' }] }))).toEqual({ type: 'RestoreUpdateRejected', message: late });
    expect(await fbbUpdate('cancel', id, config, db)).toEqual({ code: 2, stdout: '', stderr: `fbb: ${late}\n` });
    expect(await snapshot(handle)).toEqual(inTransaction);
    applying.release();
    expect(await handle.result()).toMatchObject({ status: 'success', kind: 'tenant', confirmed_by: 'ops', error: null });
  });

  it('a table restore: an accepted cancel answers done, cancelled, and the restore ends so', async () => {
    const client = await testClient();
    const id = uniqueName('rupd-table').replace(/_/g, '-');
    const handle = await client.workflow.start(restoreTable, { taskQueue: config.temporal.taskQueue, workflowId: id, args: [{ backup_filename: filename, table: 'public.reminders', create_pre_restore_backup: false }] });
    await until(async () => (await handle.query(partialStatusQuery)).phase, 'awaiting_confirmation');
    expect(await handle.executeUpdate(cancelRestoreUpdate, { args: [{ cancelled_by: 'ops', reason: 'wrong table', database: db }] })).toEqual({ phase: 'done', status: 'cancelled' });
    const result = await handle.result();
    expect(result).toMatchObject({ status: 'cancelled', kind: 'table', confirmed_by: null, error: { type: 'RestoreCancelled', message: 'cancelled by ops: wrong table while the plan awaited confirmation; the database was not changed' } });
  });
});
