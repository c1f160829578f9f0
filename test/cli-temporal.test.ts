// The CLI's Temporal paths on the real dev server (test/globalSetup.ts) with real Workers: a backup on
// a worker, --workflow-id as an idempotency key, a restore confirmed or cancelled from a second fbb,
// fbb status, and what the CLI says when no worker polls the task queue.
import fs from 'node:fs';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/client/cli';
import { ExitCode } from '../src/client/exitCodes';
import { resultWithin } from '../src/client/runner';
import { IDEMPOTENT_START, temporalRunner } from '../src/client/temporalRunner';
import type { StatusReport } from '../src/client/history/entry';
import type { Config } from '../src/config';
import { backupDatabase, baseBackup, restoreDatabase } from '../src/workflows';
import type { BackupResult } from '../src/workflows/backupDatabase';
import type { RestoreResult } from '../src/workflows/restoreDatabase';
import { eventually } from './eventually';
import { captured, createDatabase, dropDatabase, testConfig, uniqueName, withAdmin } from './helpers';
import { onTemporal, startTestWorker, temporalInfo, testClient, type TestWorker } from './temporal';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

const ISO = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z';
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A database with the sample contents, config for it on a task queue of its own, and the environment a user would set. */
async function place(label: string): Promise<{ database: string; config: Config; env: NodeJS.ProcessEnv }> {
  const database = await createDatabase(label);
  cleanups.push(() => dropDatabase(database));
  const config = onTemporal(testConfig({ database }));
  return { database, config, env: userEnv(config) };
}

/** The environment of a user whose fbb talks to the dev server on `config`'s task queue. */
function userEnv(config: Config): NodeJS.ProcessEnv {
  return {
    TEMPORAL_ADDRESS: temporalInfo.address,
    TEMPORAL_NAMESPACE: temporalInfo.namespace,
    TEMPORAL_TASK_QUEUE: config.temporal.taskQueue,
    PGHOST: config.database.host,
    PGPORT: String(config.database.port),
    PGUSER: config.database.user,
    PGPASSWORD: config.database.password,
    PGDATABASE: config.database.database,
    PG_BIN_DIR: config.pgBinDir,
    BACKUP_DIR: config.backup.dir,
  };
}

/** A real worker for `config`, stopped after the file. */
async function worker(config: Config): Promise<TestWorker> {
  const started = await startTestWorker(config);
  cleanups.push(() => started.stop());
  return started;
}

/** Runs fbb in this process; `io.text()` can be read while it runs. */
function fbbRunning(args: string[], env: NodeJS.ProcessEnv) {
  const io = captured();
  const code = runCli(args, { stdout: io.stdout, stderr: io.stderr, env });
  return { code, io };
}

async function fbb(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, io } = fbbRunning(args, env);
  return { code: await code, ...io.text() };
}

const backupFiles = (dir: string) => fs.readdirSync(dir).filter((f) => /\.sql\.gz$/.test(f) && !f.includes('pre_restore'));

describe('fbb backup on a real worker, with --workflow-id as an idempotency key', () => {
  let env: NodeJS.ProcessEnv;
  let config: Config;
  let database: string;

  beforeAll(async () => {
    ({ env, config, database } = await place('cli_tmp'));
    await worker(config);
  });

  it('prints the verified result; the same ID again shows that result and makes no second backup', async () => {
    const first = await fbb(['backup', '--type', 'daily', '--workflow-id', 'nightly-2026-11-24', '--json'], env);
    expect(first.stderr).toBe(`fbb: backup nightly-2026-11-24 started on task queue ${config.temporal.taskQueue}\n`);
    const result = JSON.parse(first.stdout) as BackupResult;
    expect(result).toMatchObject({ status: 'success', dry_run: false, backup_type: 'daily', verified: { ok: true }, uploaded: null });
    expect(result.filename).toMatch(/^family_brain_daily_\d{8}_\d{6}\.sql\.gz$/);
    expect(first.code).toBe(0);

    const again = await fbb(['backup', '--type', 'daily', '--workflow-id', 'nightly-2026-11-24', '--json'], env);
    expect(again.stderr).toMatch(new RegExp(`^fbb: backup nightly-2026-11-24 already finished \\(at ${ISO}\\); showing its result, no second backup was made\n$`));
    expect(JSON.parse(again.stdout)).toEqual(result);
    expect(again.code).toBe(0);
    const human = await fbb(['backup', '--type', 'daily', '--workflow-id', 'nightly-2026-11-24'], env);
    expect(human.stdout).toMatch(new RegExp(`^backup ${esc(result.filename)}: verified\n {2}size +${result.size_mb} MB \\(sha256 ${result.sha256!.slice(0, 12)}…\\)\n`));
    expect(backupFiles(config.backup.dir)).toEqual([result.filename]);

    const status = await fbb(['status', 'nightly-2026-11-24'], env);
    expect(status.stdout).toMatch(
      new RegExp(`^backup nightly-2026-11-24: verified\n {2}started +${ISO}\n {2}finished +${ISO}\n {2}details +${esc(result.filename)}, ${result.size_mb} MB, ${result.total_rows.toLocaleString('en-US')} rows\n$`),
    );
    // The ID names a backup now: a restore may not take it.
    const restore = await fbb(['restore', result.filename, '--yes', '--workflow-id', 'nightly-2026-11-24'], env);
    expect(restore.stderr).toBe('fbb: workflow ID nightly-2026-11-24 belongs to a backupDatabase run, not restoreDatabase; nothing was started; choose another --workflow-id\n');
    expect(restore.code).toBe(2);
  });

  it('the same ID while the first run waits for a worker attaches to that run, and both print its result', async () => {
    const idle = onTemporal(testConfig({ database, backupDir: config.backup.dir }));
    const idleEnv = userEnv(idle);
    const first = fbbRunning(['backup', '--workflow-id', 'nightly-attach', '--json'], idleEnv);
    await eventually('the first fbb started the run', async () => first.io.text().stderr, (s) => s.includes('the backup waits until one does'));
    expect(first.io.text().stderr).toBe(
      `fbb: backup nightly-attach started on task queue ${idle.temporal.taskQueue}\n` +
        `fbb: warning: no worker is polling task queue "${idle.temporal.taskQueue}" on Temporal at ${temporalInfo.address} (namespace default); ` +
        'start one with "npm run worker" (with the same TEMPORAL_TASK_QUEUE), or add --local to run in this process; the backup waits until one does\n',
    );
    const second = fbbRunning(['backup', '--workflow-id', 'nightly-attach', '--json'], idleEnv);
    await eventually('the second fbb found the run', async () => second.io.text().stderr, (s) => s !== '');
    expect(second.io.text().stderr).toMatch(new RegExp(`^fbb: backup nightly-attach was already running \\(since ${ISO}\\); waiting for it instead of starting another\n$`));

    await worker(idle);
    expect([await first.code, await second.code]).toEqual([0, 0]);
    const result = JSON.parse(first.io.text().stdout) as BackupResult;
    expect(JSON.parse(second.io.text().stdout)).toEqual(result);
    expect(backupFiles(config.backup.dir).filter((f) => f.includes('_manual_'))).toEqual([result.filename]);
  });

  it('after a failed run, the same ID starts a new run (what a retry is for)', async () => {
    // A real failure: a worker whose user may dump but not create the scratch database to verify in.
    const role = uniqueName('nocreatedb');
    await withAdmin((c) => c.query(`CREATE ROLE ${role} LOGIN NOCREATEDB PASSWORD 'pw'; GRANT pg_read_all_data, pg_write_all_data TO ${role}`));
    cleanups.push(() => withAdmin((c) => c.query(`DROP ROLE IF EXISTS ${role}`)));
    const weak = onTemporal(testConfig({ database }));
    weak.database = { ...weak.database, user: role, password: 'pw' };
    await worker(weak);

    const failed = await fbb(['backup', '--workflow-id', 'nightly-retry'], { ...env, TEMPORAL_TASK_QUEUE: weak.temporal.taskQueue });
    expect(failed.stderr).toMatch(
      new RegExp(`^fbb: backup nightly-retry started on task queue ${weak.temporal.taskQueue}\nfbb: backup nightly-retry failed: ScratchDatabaseUnavailable: cannot create the scratch database fbb_verify_\\w+ to verify the backup \\(permission denied to create database\\); grant CREATEDB to ${role}, since a backup is only verified by restoring it\nSee "fbb doctor" for the environment checks\\.\n$`),
    );
    expect(failed.code).toBe(1);
    const status = await fbb(['status', 'nightly-retry'], env);
    expect(status.stdout).toMatch(new RegExp(`^backup nightly-retry: FAILED\n {2}started +${ISO}\n {2}finished +${ISO}\n {2}details +ScratchDatabaseUnavailable: cannot create the scratch database `));

    const retried = await fbb(['backup', '--workflow-id', 'nightly-retry', '--json'], env);
    expect(retried.stderr).toBe(`fbb: backup nightly-retry started on task queue ${config.temporal.taskQueue}\n`);
    expect((JSON.parse(retried.stdout) as BackupResult).verified?.ok).toBe(true);
    expect(retried.code).toBe(0);
    expect((await fbb(['status', 'nightly-retry'], env)).stdout).toMatch(/^backup nightly-retry: verified\n/);
  });

  it('the server attaches a start to a running run of another workflow type, so the CLI looks first and refuses', async () => {
    const client = await testClient();
    const idle = onTemporal(testConfig({ database }));
    const handle = await client.workflow.start(backupDatabase, { args: [{ backup_type: 'manual' }], workflowId: 'nightly-other-type', taskQueue: idle.temporal.taskQueue, ...IDEMPOTENT_START });
    cleanups.push(() => handle.terminate('test over').catch(() => undefined));
    // What the server does with IDEMPOTENT_START: the running run's handle, whatever type was asked for.
    const same = await client.workflow.start(restoreDatabase, { args: [{ backup_filename: 'x.sql.gz' }], workflowId: 'nightly-other-type', taskQueue: idle.temporal.taskQueue, ...IDEMPOTENT_START });
    expect(same.firstExecutionRunId).toBe(handle.firstExecutionRunId);
    expect((await same.describe()).type).toBe('backupDatabase');

    const { code, stderr } = await fbb(['restore', 'family_brain_daily_20261123_020000.sql.gz', '--yes', '--workflow-id', 'nightly-other-type'], userEnv(idle));
    expect(stderr).toBe('fbb: workflow ID nightly-other-type belongs to a backupDatabase run, not restoreDatabase; nothing was started; choose another --workflow-id\n');
    expect(code).toBe(2);
    expect((await handle.describe()).runId).toBe(handle.firstExecutionRunId);
  });

  it('the server refuses a start under the ID of a completed run, which the CLI turns into that run\'s result', async () => {
    const client = await testClient();
    // nightly-2026-11-24 completed in the first test; a start that raced past the CLI's look gets this error.
    const start = client.workflow.start(backupDatabase, { args: [{ backup_type: 'daily' }], workflowId: 'nightly-2026-11-24', taskQueue: config.temporal.taskQueue, ...IDEMPOTENT_START });
    await expect(start).rejects.toBeInstanceOf(WorkflowExecutionAlreadyStartedError);
  });
});

describe('a workflow ID stands for one command: another input under it is not attached to', () => {
  // No worker polls these task queues: every run stays running, as a restore waiting for its turn would.
  const idle = () => onTemporal(testConfig({ database: 'family_brain' }));

  it('an explicit --workflow-id that names a run of other input is refused (exit 2) and starts nothing', async () => {
    const config = idle();
    const first = fbbRunning(['restore', 'family_brain_daily_20261123_020000.sql.gz', '--yes', '--workflow-id', 'restore-which-file'], userEnv(config));
    const client = await testClient();
    cleanups.push(async () => {
      await client.workflow.getHandle('restore-which-file').terminate('test over').catch(() => undefined);
      await first.code;
    });
    await eventually('the first restore started', async () => first.io.text().stderr, (s) => s.includes('started'));

    const other = await fbb(['restore', 'family_brain_daily_20261124_020000.sql.gz', '--yes', '--workflow-id', 'restore-which-file'], userEnv(config));
    expect(other.stderr).toBe(
      'fbb: workflow ID restore-which-file names a run started with other input (backup_filename: "family_brain_daily_20261123_020000.sql.gz" there, ' +
        '"family_brain_daily_20261124_020000.sql.gz" here); nothing was started; choose another --workflow-id, or repeat that run\'s command exactly to follow it\n',
    );
    expect(other.code).toBe(2);
    const { executions } = await client.workflowService.listWorkflowExecutions({ namespace: temporalInfo.namespace, query: `WorkflowId = 'restore-which-file'` });
    expect(executions).toHaveLength(1);
  });

  it('a default ID (made from the second) that names another command\'s run moves on to -2, -3; the same input still attaches', async () => {
    const config = idle();
    const runner = temporalRunner(await testClient(), config);
    const id = 'restore-family_brain-20261205T230000Z';
    const start = (file: string) => runner.start(restoreDatabase, { args: [{ backup_filename: file, confirm_restore: true }], workflowId: id, explicitId: false });
    const a = await start('a.sql.gz');
    const b = await start('b.sql.gz');
    const c = await start('c.sql.gz');
    const again = await start('b.sql.gz');
    cleanups.push(async () => {
      const client = await testClient();
      for (const w of [id, `${id}-2`, `${id}-3`]) await client.workflow.getHandle(w).terminate('test over').catch(() => undefined);
    });
    expect([a, b, c, again].map((s) => [s.workflowId, s.existing?.state ?? 'started'])).toEqual([
      [id, 'started'],
      [`${id}-2`, 'started'],
      [`${id}-3`, 'started'],
      [`${id}-2`, 'running'],
    ]);
  });

  it('a default ID that names a run of the same input on another task queue (another installation in the namespace) is not followed: it moves on to -2', async () => {
    const mine = idle();
    const theirs = idle();
    const id = 'basebackup-family_brain-20261206T030000Z';
    const start = (config: Config) => temporalRunner(client, config).start(baseBackup, { args: [{}], workflowId: id, explicitId: false });
    const client = await testClient();
    const other = await start(theirs);
    const own = await start(mine);
    const again = await start(mine);
    cleanups.push(async () => {
      for (const w of [id, `${id}-2`]) await client.workflow.getHandle(w).terminate('test over').catch(() => undefined);
    });
    expect([other, own, again].map((s) => [s.workflowId, s.existing?.state ?? 'started'])).toEqual([
      [id, 'started'],
      [`${id}-2`, 'started'],
      [`${id}-2`, 'running'],
    ]);
    expect((await client.workflow.getHandle(`${id}-2`).describe()).taskQueue).toBe(mine.temporal.taskQueue);
  });
});

describe('fbb restore on a real worker, confirmed or cancelled from a second fbb', () => {
  let env: NodeJS.ProcessEnv;
  let database: string;
  let backup: BackupResult;

  beforeAll(async () => {
    let config: Config;
    ({ env, config, database } = await place('cli_trst'));
    await worker(config);
    const made = await fbb(['backup', '--json'], env);
    expect(made.code).toBe(0);
    backup = JSON.parse(made.stdout) as BackupResult;
    // Made after the backup: a restore of it removes this table, a cancelled one leaves it.
    await withAdmin((c) => c.query('CREATE TABLE made_after_the_backup (note text)'), database);
  });

  const hasMarker = () => withAdmin(async (c) => (await c.query("SELECT to_regclass('public.made_after_the_backup') AS t")).rows[0].t !== null, database);

  /** `fbb status --json` once the run has ended. */
  const whenEnded = (id: string) =>
    eventually(`${id} ended`, async () => JSON.parse((await fbb(['status', id, '--json'], env)).stdout) as StatusReport, (r) => r.status !== 'running');

  it('cancel from a second fbb ends the waiting restore as cancelled, and the database keeps what it had', async () => {
    const id = 'restore-drill-cancel';
    const waiting = await fbb(['restore', backup.filename, '--workflow-id', id, '--json'], env);
    expect(JSON.parse(waiting.stdout)).toMatchObject({ status: 'running', phase: 'awaiting_confirmation' });
    expect(waiting.code).toBe(0);

    const cancel = await fbb(['restore', 'cancel', id], env);
    expect(cancel.stdout).toBe(`cancelled ${id}: the restore is now in phase done (status cancelled); follow it with: fbb status ${id}\n`);
    expect(cancel.code).toBe(0);
    const ended = await whenEnded(id);
    expect(ended).toMatchObject({ status: 'completed', summary: { restore_status: 'cancelled', verified: null }, error: { type: 'RestoreCancelled' } });
    expect(ended.error?.message).toMatch(/^cancelled by .+@.+; the database was not changed$/);

    const result = await fbb(['restore', backup.filename, '--workflow-id', id], env);
    expect(result.stderr).toMatch(new RegExp(`^fbb: restore ${id} already finished \\(at ${ISO}\\); showing its result, nothing was started\n$`));
    expect(result.stdout).toMatch(/\n {2}reason +RestoreCancelled: cancelled by .+; the database was not changed\n/);
    expect(result.code).toBe(5);
    expect(await hasMarker()).toBe(true);
  });

  it('waits for confirmation, status shows how to confirm, and confirm from a second fbb finishes the restore', async () => {
    const id = 'restore-drill-confirm';
    const waiting = await fbb(['restore', backup.filename, '--workflow-id', id, '--json'], env);
    const state = JSON.parse(waiting.stdout) as RestoreResult;
    expect(state).toMatchObject({ status: 'running', phase: 'awaiting_confirmation', restored_from: backup.filename, confirmed_by: null });
    // The pre-restore backup is made once confirmed, right before the change.
    expect(state.pre_restore_backup).toBeNull();
    expect(waiting.stderr).toBe(`fbb: restore ${id} started\nfbb: restore ${id} waits for confirmation until ${state.confirm_by!}: fbb restore confirm ${id} (or fbb restore cancel ${id})\n`);
    expect(waiting.code).toBe(0);

    const status = await fbb(['status', id], env);
    expect(status.stdout).toMatch(
      new RegExp(
        `^restore ${id}: running\n {2}started +${ISO}\n {2}finished +-\n {2}phase +awaiting confirmation\n {2}pre-restore backup +none yet \\(made once confirmed, right before the change\\)\n` +
          ` {2}restoring from +backup of ${database}, made ${ISO}, [\\d.]+ MiB, 15 tables, [\\d,]+ rows; ${database} now holds 16 tables, [\\d,]+ rows\n` +
          ` {2}waiting +until ${esc(state.confirm_by!)}: fbb restore confirm ${id} \\(or fbb restore cancel ${id}\\)\n$`,
      ),
    );
    const json = JSON.parse((await fbb(['status', id, '--json'], env)).stdout) as StatusReport;
    expect(json).toMatchObject({ workflow_id: id, kind: 'restore', status: 'running', workflow_type: 'restoreDatabase', closed_at: null, source: 'temporal', live: { phase: 'awaiting_confirmation' } });

    // The same ID again follows the waiting restore; a backup may not take it.
    const follow = await fbb(['restore', backup.filename, '--workflow-id', id], env);
    expect(follow.stderr).toMatch(new RegExp(`^fbb: restore ${id} was already running \\(since ${ISO}\\); following it instead of starting another\n$`));
    expect(follow.stdout).toMatch(new RegExp(`^restoring from: backup of ${database}, made ${ISO}, [\\d.]+ MiB, 15 tables, [\\d,]+ rows; ${database} now holds 16 tables, [\\d,]+ rows\nrestore ${id} waits for confirmation \\(until ${esc(state.confirm_by!)}\\); pre-restore backup: made once you confirm, right before the database is changed \\(none if the database does not exist yet\\)\nconfirm with: {2}fbb restore confirm ${id}\n`));
    const backupSameId = await fbb(['backup', '--workflow-id', id], env);
    expect(backupSameId.stderr).toBe(`fbb: workflow ID ${id} belongs to a restoreDatabase run, not backupDatabase; nothing was started; choose another --workflow-id\n`);
    expect(backupSameId.code).toBe(2);
    expect(await hasMarker()).toBe(true);

    const confirm = await fbb(['restore', 'confirm', id, '--json'], env);
    // The confirmRestore Update answers with the phase the restore moved to.
    const sent = JSON.parse(confirm.stdout) as { workflow_id: string; update: string; by: string; phase: string; status: string };
    expect(sent).toEqual({ workflow_id: id, update: 'confirmRestore', by: expect.stringContaining('@'), phase: 'pre_backup', status: 'running' });
    expect(confirm.code).toBe(0);
    const ended = await whenEnded(id);
    expect(ended).toMatchObject({ status: 'completed', summary: { restore_status: 'success', restored_from: backup.filename, pre_restore_backup: expect.stringMatching(/^family_brain_pre_restore_\d{8}_\d{6}\.sql\.gz$/), verified: true }, error: null });

    const result = await fbb(['restore', backup.filename, '--workflow-id', id, '--json'], env);
    const restored = JSON.parse(result.stdout) as RestoreResult;
    if (restored.aside_database) cleanups.push(() => dropDatabase(restored.aside_database!));
    expect(restored).toMatchObject({ status: 'success', confirmed_by: sent.by, restored_from: backup.filename });
    expect(result.code).toBe(0);
    expect(await hasMarker()).toBe(false);

    const late = await fbb(['restore', 'confirm', id], env);
    expect(late.stderr).toBe(`fbb: restore ${id} is not running any more (completed); nothing was sent; "fbb status ${id}" shows how it ended\n`);
    expect(late.code).toBe(2);
  });

  it('sends nothing to a backup, or to an ID Temporal does not know (exit 2)', async () => {
    const made = await fbb(['backup', '--workflow-id', 'backup-for-signal'], env);
    expect(made.code).toBe(0);
    const backupRun = await fbb(['restore', 'cancel', 'backup-for-signal'], env);
    expect(backupRun.stderr).toBe('fbb: backup-for-signal is a backupDatabase run, not a restore; nothing was sent; "fbb history --type restore" lists restores\n');
    expect(backupRun.code).toBe(2);
    const unknown = await fbb(['restore', 'confirm', 'restore-nope'], env);
    expect(unknown.stderr).toBe(`fbb: no workflow restore-nope on Temporal at ${temporalInfo.address} (namespace default); "fbb history" lists recent runs with their IDs\n`);
    expect(unknown.code).toBe(2);
  });
});

describe('fbb status', () => {
  it('an unknown ID is bad input and points at fbb history (exit 2)', async () => {
    const { code, stderr } = await fbb(['status', 'restore-nope'], userEnv(onTemporal(testConfig())));
    expect(stderr).toBe(`fbb: no workflow restore-nope on Temporal at ${temporalInfo.address} (namespace default); "fbb history" lists recent runs with their IDs\n`);
    expect(code).toBe(2);
  });

  it('--local explains that a --local run cannot be reached from another process (exit 2)', async () => {
    const { code, stderr } = await fbb(['status', 'backup-x', '--local'], userEnv(onTemporal(testConfig())));
    expect(stderr).toBe(
      'fbb: a --local run lives only inside the process that started it, so backup-x cannot be reached from here; the process that started it shows its progress, and "fbb history --local" shows how runs ended\n',
    );
    expect(code).toBe(2);
  });
});

describe('no worker on the task queue', () => {
  it('a run that gets no result in time ends the wait with a pointer to the worker (exit 3); the run stays on the server', async () => {
    const client = await testClient();
    const taskQueue = uniqueName('tq');
    const handle = await client.workflow.start(backupDatabase, { args: [{ backup_type: 'manual' }], workflowId: uniqueName('no-worker'), taskQueue });
    cleanups.push(() => handle.terminate('test over').catch(() => undefined));
    const err = (await resultWithin(handle.result(), 1_000, taskQueue).catch((e: unknown) => e)) as { message: string; exitCode: number };
    expect({ message: err.message, exitCode: err.exitCode }).toEqual({
      message: `no result after 1 s: is a worker polling task queue "${taskQueue}"? Start one with "npm run worker", or add --local`,
      exitCode: ExitCode.cannotConnect,
    });
    expect((await handle.describe()).status.name).toBe('RUNNING');
  });
});
