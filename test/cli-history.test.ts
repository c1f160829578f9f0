// `fbb history` from Temporal's visibility after real runs on the dev server and real Workers, in a
// namespace of this file's own (so the runs listed are exactly the ones made here); `fbb history
// --local` and `--workflow-id` under --local after real runs in this process: the records these read are the real ones.
import fs from 'node:fs';
import path from 'node:path';
import Long from 'long';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/client/cli';
import type { HistoryEntry } from '../src/client/history/entry';
import type { Config } from '../src/config';
import type { BackupResult } from '../src/workflows/backupDatabase';
import type { RestoreResult } from '../src/workflows/restoreDatabase';
import { eventually } from './eventually';
import { captured, createDatabase, dropDatabase, NO_TEMPORAL_SERVER, testConfig, uniqueName, withAdmin, userEnvFor } from './helpers';
import { onTemporal, startTestWorker, temporalInfo, testClient, type TestWorker } from './temporal';

const databases: string[] = [];
const roles: string[] = [];
const workers: TestWorker[] = [];
afterAll(async () => {
  for (const worker of workers) await worker.stop();
  for (const db of databases) await dropDatabase(db);
  for (const role of roles) await withAdmin((c) => c.query(`DROP ROLE IF EXISTS ${role}`));
});

/** A database of its own (the sample contents, system_logs included) and the environment a user would set for it. */
async function freshEnv(label: string, sample = true): Promise<{ env: NodeJS.ProcessEnv; database: string }> {
  const database = await createDatabase(label, sample ? {} : false);
  databases.push(database);
  const env = {
    ...userEnvFor(testConfig({ database })),
    TEMPORAL_ADDRESS: '127.0.0.1:1',
  };
  return { env, database };
}

async function fbb(args: string[], env: NodeJS.ProcessEnv, answers?: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = captured();
  const prompt = answers && (async () => answers.shift() ?? '');
  const code = await runCli(args, { stdout: io.stdout, stderr: io.stderr, env, ...(prompt ? { prompt } : {}) });
  return { code, ...io.text() };
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const ENTRY_KEYS = ['workflow_id', 'run_id', 'kind', 'status', 'started_at', 'closed_at', 'summary', 'error', 'source'].sort();

/** A new namespace on the dev server, empty until this file runs something in it. */
async function newNamespace(label: string): Promise<string> {
  const namespace = uniqueName(label).replace(/_/g, '-');
  await (await testClient()).workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: { seconds: Long.fromNumber(24 * 3600) } });
  return namespace;
}

/** A role that may dump but not create the scratch database a backup is verified in: a real, quick failure. */
async function roleWithoutCreatedb(): Promise<string> {
  const role = uniqueName('nocreatedb');
  roles.push(role);
  await withAdmin((c) => c.query(`CREATE ROLE ${role} LOGIN NOCREATEDB PASSWORD 'pw'; GRANT pg_read_all_data, pg_write_all_data TO ${role}`));
  return role;
}

describe('fbb history on Temporal (visibility of a namespace of its own, real runs on real workers)', () => {
  let env: NodeJS.ProcessEnv;
  let config: Config;
  let ok: BackupResult;
  let waiting: RestoreResult;

  beforeAll(async () => {
    const database = await createDatabase('hist_tmp');
    databases.push(database);
    config = onTemporal(testConfig({ database }));
    config.temporal = { ...config.temporal, namespace: await newNamespace('hist') };
    env = userEnv(config);
    workers.push(await startTestWorker(config));
  });

  /** The environment of a user whose fbb talks to the dev server on `c`'s namespace and task queue. */
  function userEnv(c: Config): NodeJS.ProcessEnv {
    return {
      TEMPORAL_ADDRESS: temporalInfo.address,
      TEMPORAL_NAMESPACE: c.temporal.namespace,
      TEMPORAL_TASK_QUEUE: c.temporal.taskQueue,
      ...userEnvFor(c),
    };
  }

  /** `fbb history --json` once visibility (which lags a run's close a little) shows what `done` wants. */
  const historyWhen = (args: string[], done: (entries: HistoryEntry[]) => boolean) =>
    eventually(`fbb history ${args.join(' ')}`, async () => JSON.parse((await fbb(['history', '--json', ...args], env)).stdout) as HistoryEntry[], done);

  it('says so when there are no runs yet', async () => {
    const { code, stdout } = await fbb(['history'], env);
    expect(stdout).toBe('no backup or restore runs on Temporal yet: make one with "fbb backup"\n');
    expect(code).toBe(0);
    expect(JSON.parse((await fbb(['history', '--json'], env)).stdout)).toEqual([]);
  });

  it('--json lists a verified backup, a failed one and a restore waiting for confirmation, newest first, with their results', async () => {
    const made = await fbb(['backup', '--type', 'daily', '--workflow-id', 'hist-ok', '--json'], env);
    expect(made.code).toBe(0);
    ok = JSON.parse(made.stdout) as BackupResult;
    const weak = onTemporal(testConfig({ database: config.database.database }));
    weak.temporal = { ...weak.temporal, namespace: config.temporal.namespace };
    weak.database = { ...weak.database, user: await roleWithoutCreatedb(), password: 'pw' };
    workers.push(await startTestWorker(weak));
    const failed = await fbb(['backup', '--workflow-id', 'hist-failed'], userEnv(weak));
    expect(failed.code).toBe(1);
    const restore = await fbb(['restore', ok.filename, '--workflow-id', 'hist-restore', '--json'], env);
    expect(restore.code).toBe(0);
    waiting = JSON.parse(restore.stdout) as RestoreResult;

    const entries = await historyWhen([], (e) => e.map((x) => x.status).join() === 'running,failed,completed');
    const ISO_ = expect.stringMatching(ISO);
    const RUN = expect.stringMatching(/^[\da-f-]{36}$/);
    expect(entries).toEqual([
      { workflow_id: 'hist-restore', run_id: RUN, kind: 'restore', status: 'running', started_at: ISO_, closed_at: null, summary: null, error: null, source: 'temporal' },
      {
        workflow_id: 'hist-failed', run_id: RUN, kind: 'backup', status: 'failed', started_at: ISO_, closed_at: ISO_, summary: null,
        error: { type: 'ScratchDatabaseUnavailable', message: expect.stringMatching(/^cannot create the scratch database fbb_verify_\w+ to verify the backup \(permission denied to create database\); grant CREATEDB to /) },
        source: 'temporal',
      },
      {
        workflow_id: 'hist-ok', run_id: RUN, kind: 'backup', status: 'completed', started_at: ISO_, closed_at: ISO_,
        summary: { filename: ok.filename, backup_type: 'daily', size_mb: ok.size_mb, total_rows: ok.total_rows, verified: true, dry_run: false },
        error: null, source: 'temporal',
      },
    ] satisfies HistoryEntry[]);
    expect(entries[0]!.started_at! > entries[1]!.started_at! && entries[1]!.started_at! > entries[2]!.started_at!).toBe(true);
  });

  it('--type and --limit pick the runs', async () => {
    const newestBackup = JSON.parse((await fbb(['history', '--type', 'backup', '--limit', '1', '--json'], env)).stdout) as HistoryEntry[];
    expect(newestBackup.map((e) => [e.workflow_id, e.status])).toEqual([['hist-failed', 'failed']]);
    const backups = JSON.parse((await fbb(['history', '--type', 'backup', '--json'], env)).stdout) as HistoryEntry[];
    expect(backups.map((e) => e.workflow_id)).toEqual(['hist-failed', 'hist-ok']);
    const restores = JSON.parse((await fbb(['history', '--type', 'restore', '--json'], env)).stdout) as HistoryEntry[];
    expect(restores.map((e) => [e.workflow_id, e.status])).toEqual([['hist-restore', 'running']]);
  });

  it('prints a table that answers "did last night\'s backup work?"', async () => {
    const { code, stdout } = await fbb(['history', '--type', 'backup'], env);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^STARTED \(UTC\) +FINISHED \(UTC\) +KIND +RESULT +WORKFLOW ID +DETAILS$/);
    expect(lines[1]).toMatch(/^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +){2}backup +FAILED +hist-failed +ScratchDatabaseUnavailable: cannot create the scratch database /);
    expect(lines[2]).toMatch(new RegExp(`^(\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d +){2}backup +verified +hist-ok +${ok.filename.replace(/\./g, '\\.')}, ${ok.size_mb} MB, ${ok.total_rows.toLocaleString('en-US')} rows$`));
    expect(lines).toHaveLength(3);
    expect(code).toBe(0);
  });

  it('shows how a restore ended once it was cancelled', async () => {
    expect((await fbb(['restore', 'cancel', 'hist-restore'], env)).code).toBe(0);
    const [restore] = await historyWhen(['--type', 'restore'], (e) => e[0]?.status === 'completed');
    expect(restore).toMatchObject({
      workflow_id: 'hist-restore',
      status: 'completed',
      summary: { restore_status: 'cancelled', restored_from: ok.filename, pre_restore_backup: waiting.pre_restore_backup, verified: null },
      error: { type: 'RestoreCancelled', message: expect.stringMatching(/^cancelled by .+; the database was not changed$/) },
    });
    const table = await fbb(['history', '--type', 'restore'], env);
    // Cancelled while it waited: the pre-restore backup is made only once confirmed, so there is none.
    expect(table.stdout).toMatch(/ restore +cancelled +hist-restore +from family_brain_daily_\d{8}_\d{6}\.sql\.gz; RestoreCancelled: cancelled by /);
  });

  it('without a Temporal server exits 3 and says how to go on', async () => {
    const { code, stderr } = await fbb(['history'], { ...env, ...NO_TEMPORAL_SERVER });
    expect(stderr).toMatch(/^fbb: cannot connect to Temporal at 127\.0\.0\.1:1: .*add --local to run in this process\n$/s);
    expect(code).toBe(3);
  });
});

describe('fbb history --local', () => {
  let env: NodeJS.ProcessEnv;
  let database: string;
  let backup: BackupResult;
  let failedFile: string;

  beforeAll(async () => {
    ({ env, database } = await freshEnv('hist'));
    const made = await fbb(['backup', '--local', '--json', '--type', 'daily', '--workflow-id', 'nightly-1'], env);
    expect(made.code).toBe(0);
    backup = JSON.parse(made.stdout) as BackupResult;
    // A real failure: a user without CREATEDB can dump, but the backup cannot be verified, and the run records that.
    const role = uniqueName('nocreatedb');
    roles.push(role);
    await withAdmin((c) => c.query(`CREATE ROLE ${role} LOGIN NOCREATEDB PASSWORD 'pw'; GRANT pg_read_all_data, pg_write_all_data TO ${role}`));
    const failed = await fbb(['backup', '--local', '--workflow-id', 'nightly-2'], { ...env, PGUSER: role, PGPASSWORD: 'pw' });
    expect(failed.stderr).toContain('cannot create the scratch database');
    expect(failed.code).toBe(1);
    failedFile = /backup (family_brain_manual_\d{8}_\d{6}\.sql\.gz) failed/.exec((await withAdmin((c) => c.query<{ message: string }>("SELECT message FROM system_logs WHERE level = 'error' AND details->>'workflow_id' = 'nightly-2'"), database)).rows[0]!.message)![1]!;
  });

  it('--json lists the runs system_logs recorded, newest first, in the same shape as from Temporal', async () => {
    const { code, stdout, stderr } = await fbb(['history', '--local', '--json'], env);
    const entries = JSON.parse(stdout) as HistoryEntry[];
    expect(entries.map((e) => Object.keys(e).sort())).toEqual([ENTRY_KEYS, ENTRY_KEYS]);
    const [failed, ok] = entries as [HistoryEntry, HistoryEntry];
    expect(failed).toMatchObject({ workflow_id: 'nightly-2', run_id: null, kind: 'backup', status: 'failed', started_at: null, summary: null, source: 'system_logs' });
    expect(failed.error?.message).toMatch(new RegExp(`^backup ${failedFile.replace(/\./g, '\\.')} failed: .+`));
    expect(ok).toEqual({
      workflow_id: 'nightly-1',
      run_id: null,
      kind: 'backup',
      status: 'completed',
      started_at: expect.stringMatching(ISO),
      closed_at: expect.stringMatching(ISO),
      summary: { filename: backup.filename, backup_type: 'daily', size_mb: backup.size_mb, total_rows: backup.total_rows, verified: true, dry_run: false },
      error: null,
      source: 'system_logs',
    });
    expect(Date.parse(ok.closed_at!) - Date.parse(ok.started_at!)).toBe(backup.duration_ms);
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });

  it('prints a table with what happened to each run', async () => {
    const { code, stdout } = await fbb(['history', '--local'], env);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^STARTED \(UTC\) +FINISHED \(UTC\) +KIND +RESULT +WORKFLOW ID +DETAILS$/);
    expect(lines[1]).toMatch(new RegExp(`^- +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d +backup +FAILED +nightly-2 +ScratchDatabaseUnavailable: backup ${failedFile.replace(/\./g, '\\.')} failed: cannot create the scratch database `));
    expect(lines[2]).toMatch(new RegExp(`^(\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d +){2}backup +verified +nightly-1 +${backup.filename.replace(/\./g, '\\.')}, [\\d.]+ MB, [\\d,]+ rows$`));
    expect(lines).toHaveLength(3);
    expect(code).toBe(0);
  });

  it('--limit and --type pick the runs', async () => {
    const one = JSON.parse((await fbb(['history', '--local', '--json', '--limit', '1'], env)).stdout) as HistoryEntry[];
    expect(one.map((e) => e.workflow_id)).toEqual(['nightly-2']);
    const restores = await fbb(['history', '--local', '--type', 'restore'], env);
    expect(restores.stdout).toBe('no restore runs recorded in system_logs yet: make one with "fbb backup --local"\n');
    expect(restores.code).toBe(0);
    expect(JSON.parse((await fbb(['history', '--local', '--type', 'restore', '--json'], env)).stdout)).toEqual([]);
  });

  it('records nothing of a restore cancelled at the prompt (its pre-restore backup is made only once confirmed), and shows a restore by its pre-restore backup row', async () => {
    const { env: own, database: db } = await freshEnv('hist_rst');
    const made = JSON.parse((await fbb(['backup', '--local', '--json'], own)).stdout) as BackupResult;
    // Answering with the wrong name cancels before any pre-restore backup: nothing is written, nothing recorded.
    const cancelled = await fbb(['restore', made.filename, '--local', '--workflow-id', 'restore-drill-1'], own, ['not-the-name']);
    expect(cancelled.stdout).toMatch(/\n {2}reason +RestoreCancelled: cancelled by .+; the database was not changed\n {2}took +[\d.]+ s\n {2}next +nothing was changed; run the restore again when you are sure\n$/);
    expect(cancelled.code).toBe(5);
    expect(JSON.parse((await fbb(['history', '--local', '--json', '--type', 'restore'], own)).stdout)).toEqual([]);
    // A restore that got as far as its pre-restore backup left that backup's row, as the backup pipeline writes it.
    await withAdmin(async (c) => {
      await c.query("INSERT INTO system_logs (level, source, message, details) VALUES ('info', 'backup', 'backup family_brain_pre_restore_20261124_050000.sql.gz verified and stored', $1)", [
        JSON.stringify({ workflow_id: 'restore-drill-1', filename: 'family_brain_pre_restore_20261124_050000.sql.gz', backup_type: 'pre_restore', size_mb: 2, total_rows: 10, verified: { ok: true }, duration_ms: 1000 }),
      ]);
    }, db);
    const { code, stdout } = await fbb(['history', '--local', '--json', '--type', 'restore'], own);
    expect(JSON.parse(stdout)).toEqual([
      {
        workflow_id: 'restore-drill-1',
        run_id: null,
        kind: 'restore',
        status: 'unknown',
        started_at: expect.stringMatching(ISO),
        closed_at: null,
        summary: { restore_status: null, restored_from: null, pre_restore_backup: 'family_brain_pre_restore_20261124_050000.sql.gz', verified: null },
        error: null,
        source: 'system_logs',
      },
    ]);
    expect(code).toBe(0);
    const table = await fbb(['history', '--local', '--type', 'restore'], own);
    expect(table.stdout).toMatch(/ restore +unknown +restore-drill-1 +pre-restore backup family_brain_pre_restore_20261124_050000\.sql\.gz; the restore's own outcome is not recorded in system_logs\n$/);
    const backups = JSON.parse((await fbb(['history', '--local', '--json', '--type', 'backup'], own)).stdout) as HistoryEntry[];
    expect(backups.map((e) => [e.kind, e.status])).toEqual([['backup', 'completed']]);
  });

  it("reads a restore's own row (with restored_from, as restoreDatabase's result) in place of its pre-restore backup's", async () => {
    const { env: own, database: db } = await freshEnv('hist_rrow');
    // restoreDatabase does not write such a row yet; this is the shape history reads when it does.
    await withAdmin(async (c) => {
      await c.query("INSERT INTO system_logs (level, source, message, details) VALUES ('info', 'backup', 'backup family_brain_pre_restore_20261124_050000.sql.gz verified and stored', $1)", [
        JSON.stringify({ filename: 'family_brain_pre_restore_20261124_050000.sql.gz', backup_type: 'pre_restore', size_mb: 2, total_rows: 10, verified: { ok: true }, duration_ms: 1000 }),
      ]);
      await c.query("INSERT INTO system_logs (level, source, message, details) VALUES ('info', 'backup', 'restore rolled back', $1)", [
        JSON.stringify({ workflow_id: 'restore-x', status: 'rolled_back', restored_from: 'family_brain_daily_20261123_020000.sql.gz', pre_restore_backup: 'family_brain_pre_restore_20261124_050000.sql.gz', verification: { ok: false }, error: { type: 'RestoreVerificationFailed', message: 'mismatch' }, duration_ms: 5000 }),
      ]);
    }, db);
    const entries = JSON.parse((await fbb(['history', '--local', '--json'], own)).stdout) as HistoryEntry[];
    expect(entries).toEqual([
      expect.objectContaining({
        workflow_id: 'restore-x',
        kind: 'restore',
        status: 'completed',
        summary: { restore_status: 'rolled_back', restored_from: 'family_brain_daily_20261123_020000.sql.gz', pre_restore_backup: 'family_brain_pre_restore_20261124_050000.sql.gz', verified: false },
        error: { type: 'RestoreVerificationFailed', message: 'mismatch' },
      }),
    ]);
  });

  it('says what to do when the database has no system_logs table (exit 1)', async () => {
    const { env: own, database: db } = await freshEnv('hist_nolog', false);
    const { code, stdout, stderr } = await fbb(['history', '--local'], own);
    expect(stdout).toBe('');
    expect(stderr).toBe(
      `fbb: database "${db}" has no system_logs table, so runs record nothing there and there is no history to show; ` +
        'create it (level text, source text, message text, details jsonb, created_at timestamptz DEFAULT now()), or run on a Temporal worker and use "fbb history" without --local\n',
    );
    expect(code).toBe(1);
  });

  it('says what to do when the database cannot be reached (exit 1)', async () => {
    const { code, stderr } = await fbb(['history', '--local'], { ...env, PGPASSWORD: 'wrong' });
    expect(stderr).toMatch(/^fbb: cannot read the runs recorded in system_logs: cannot connect to database "\w+" at 127\.0\.0\.1:\d+: password authentication failed for user "postgres"; check the password in DATABASE_URL or PGPASSWORD\n$/);
    expect(code).toBe(1);
  });

  it('refuses a bad --limit or --type before reading anything (exit 2)', async () => {
    const limit = await fbb(['history', '--local', '--limit', '0'], env);
    expect(limit.stderr).toContain("error: option '--limit <n>' argument '0' is invalid. expected a whole number from 1 to 1000, e.g. --limit 5.");
    expect(limit.stderr).toContain('(run "fbb history --help" for usage and examples)');
    expect(limit.code).toBe(2);
    const type = await fbb(['history', '--local', '--type', 'backups'], env);
    expect(type.stderr).toContain("error: option '--type <type>' argument 'backups' is invalid. Allowed choices are backup, restore, drill.");
    expect(type.code).toBe(2);
  });
});

describe('fbb backup --local --workflow-id', () => {
  it('run again with the same ID returns the first run\'s result and makes no second backup', async () => {
    const { env } = await freshEnv('wfid');
    const first = await fbb(['backup', '--local', '--json', '--workflow-id', 'nightly-2026-11-24'], env);
    expect(first.stderr).toContain('fbb: backup nightly-2026-11-24 started\n');
    const again = await fbb(['backup', '--local', '--json', '--workflow-id', 'nightly-2026-11-24'], env);
    expect(again.stderr).toMatch(/fbb: backup nightly-2026-11-24 already finished \(at \d{4}-\d\d-\d\dT[\d:.]+Z\); showing its result, no second backup was made\n/);
    expect(JSON.parse(again.stdout)).toEqual(JSON.parse(first.stdout));
    expect(again.code).toBe(0);
    expect(fs.readdirSync(env.BACKUP_DIR!).filter((f) => f.endsWith('.sql.gz'))).toHaveLength(1);
    const human = await fbb(['backup', '--local', '--workflow-id', 'nightly-2026-11-24'], env);
    expect(human.stdout).toMatch(/^backup family_brain_manual_\d{8}_\d{6}\.sql\.gz: verified\n/);
    // The ID now names a backup: a restore may not take it.
    const restore = await fbb(['restore', (JSON.parse(first.stdout) as BackupResult).filename, '--local', '--yes', '--workflow-id', 'nightly-2026-11-24'], env);
    expect(restore.stderr).toContain('fbb: workflow ID nightly-2026-11-24 belongs to a backupDatabase run, not restoreDatabase; nothing was started; choose another --workflow-id\n');
    expect(restore.code).toBe(2);
  });

  it('refuses to start while a run with the ID holds the lock in another process (exit 1)', async () => {
    const { env, database } = await freshEnv('wfid_busy');
    const since = new Date().toISOString();
    fs.writeFileSync(path.join(env.BACKUP_DIR!, `.${database}.lock`), `${JSON.stringify({ workflow_id: 'nightly-busy', kind: 'backup', since })}\n`);
    const { code, stderr } = await fbb(['backup', '--local', '--workflow-id', 'nightly-busy'], env);
    expect(stderr).toContain(
      `fbb: backup nightly-busy is already running in another process (since ${since}); nothing was started; wait for it to finish, then run this again for its result, or see "fbb history --local"\n`,
    );
    expect(code).toBe(1);
    expect(fs.readdirSync(env.BACKUP_DIR!)).toEqual([`.${database}.lock`]);
  });

  it('does not run a restore again under the same ID', async () => {
    const { env } = await freshEnv('wfid_rst');
    const made = JSON.parse((await fbb(['backup', '--local', '--json'], env)).stdout) as BackupResult;
    const first = await fbb(['restore', made.filename, '--local', '--yes', '--workflow-id', 'restore-drill-2'], env);
    expect(first.code).toBe(0);
    const again = await fbb(['restore', made.filename, '--local', '--yes', '--workflow-id', 'restore-drill-2'], env);
    expect(again.stderr).toMatch(
      /fbb: restore restore-drill-2 already ran here \(its pre-restore backup family_brain_pre_restore_\d{8}_\d{6}\.sql\.gz was made at [\dT:.-]+Z\), and a restore's outcome is not recorded, so it is not run again; nothing was started; see "fbb history --local --type restore", and to restore again use another --workflow-id\n$/,
    );
    expect(again.code).toBe(2);
  });
});
