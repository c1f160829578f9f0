// Issue 21 items 2, 14 and 16 (--table with quotes): bad input refused before anything runs, and
// quoted table names accepted as SQL reads them; on the real dev server with real Workers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/client/cli';
import { applicationFailureOf } from '../src/client/failures';
import type { Config } from '../src/config';
import { parseQualifiedName } from '../src/partial/input';
import { diffFingerprints } from './compare';
import { backupDatabase, checkEnvironment, listBackups, restoreDrill, restoreTable, restoreTenant } from '../src/workflows';
import { temporalDriver, type Runner } from './drivers';
import { captured, createDatabase, dropDatabasesLike, fingerprint, testConfig, uniqueName, userEnvFor, withAdmin } from './helpers';
import { onTemporal, startTestWorker, temporalInfo, type TestWorker } from './temporal';

const driver = temporalDriver();
const workflowId = (label: string) => uniqueName(label).replace(/_/g, '-');
const QUOTED = '"second schema"."My ""Quoted"" Table"';

let db: string;
let config: Config;
let runner: Runner;
let filename: string;
beforeAll(async () => {
  db = await createDatabase('rin');
  await withAdmin(async (c) => {
    await c.query('CREATE SCHEMA "second schema"');
    await c.query(`CREATE TABLE ${QUOTED} (id int PRIMARY KEY, body text)`);
    await c.query(`INSERT INTO ${QUOTED} VALUES (1, 'one'), (2, 'two'), (3, 'three')`);
  }, db);
  config = testConfig({ database: db });
  runner = await driver.runner(config);
  filename = (await runner.execute(backupDatabase, { args: [{ cleanup_old: false }], workflowId: workflowId('rin-backup') })).filename;
});
afterAll(async () => {
  await driver.release();
  await dropDatabasesLike('fbb_rin');
});

const innermost = applicationFailureOf;

describe('fbb restore --table --as', () => {
  let worker: TestWorker;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    const onServer = onTemporal(config);
    worker = await startTestWorker(onServer);
    env = { ...userEnvFor(onServer), TEMPORAL_ADDRESS: temporalInfo.address, TEMPORAL_NAMESPACE: temporalInfo.namespace, TEMPORAL_TASK_QUEUE: onServer.temporal.taskQueue };
  });
  afterAll(() => worker.stop());

  it.each([
    ['empty', '', '"as" must be a new table name (e.g. reminders_from_backup), or with quotes as in SQL ("My Schema"."My Table"), got ""'],
    ['blank', '   ', '"as" must be a new table name (e.g. reminders_from_backup), or with quotes as in SQL ("My Schema"."My Table"), got "   "'],
    ['in a system schema', 'pg_catalog.evil', '"as" may not name a table in PostgreSQL\'s own schema pg_catalog, got "pg_catalog.evil"'],
  ])('%s is refused before anything starts: exit 2, the live table unchanged', async (_what, as, problem) => {
    await withAdmin((c) => c.query("UPDATE tenants SET name = name || ' (after the backup)'"), db);
    const before = await fingerprint(db);
    const io = captured();
    const code = await runCli(['restore', filename, '--table', 'public.tenants', '--as', as, '--yes', '--json'], { stdout: io.stdout, stderr: io.stderr, env });
    expect(code).toBe(2);
    expect(io.text().stderr).toContain(`InvalidRestoreInput: invalid restore input: ${problem}. Nothing was changed.`);
    expect(diffFingerprints(before, await fingerprint(db))).toEqual([]);
  });
});

describe('bad input to the workflows', () => {
  it('restoreTable refuses a system schema in "table" or "as" before any activity', async () => {
    for (const input of [{ table: 'public.tenants', as: 'pg_catalog.evil' }, { table: 'information_schema.tables' }]) {
      const handle = await runner.start(restoreTable, { args: [{ backup_filename: filename, confirm_restore: true, ...input }], workflowId: workflowId('rin-sys') });
      const failure = innermost(await handle.result().catch((e: unknown) => e));
      expect(failure?.type).toBe('InvalidRestoreInput');
      expect(failure?.message).toMatch(/^invalid restore input: "(as|table)" may not name a table in PostgreSQL's own schema (pg_catalog|information_schema), got /);
      expect(handle.attempts()).toEqual([]);
    }
  });

  it('restoreTenant refuses an id that is not of the tenants\' key type at once, in its first step, without retrying', async () => {
    const before = await fingerprint(db);
    const handle = await runner.start(restoreTenant, { args: [{ backup_filename: filename, tenant_id: "x' OR 1=1 --", confirm_restore: true }], workflowId: workflowId('rin-tenant') });
    const failure = innermost(await handle.result().catch((e: unknown) => e));
    expect(failure?.type).toBe('InvalidRestoreInput');
    expect(failure?.nonRetryable).toBe(true);
    expect(failure?.message).toBe(
      'tenant id "x\' OR 1=1 --" is not a uuid, the type of public.tenants.id (the tenants\' key): invalid input syntax for type uuid: "x\' OR 1=1 --"; nothing was changed; check the id (SELECT id FROM public.tenants)',
    );
    expect(handle.attempts()).toEqual(['backupSettings:completed', 'acquireBackupLock:completed', 'prepareRestore:failed', 'releaseBackupLock:completed']);
    expect(diffFingerprints(before, await fingerprint(db))).toEqual([]);
  });

  it.each([
    ['listBackups', 'local', 'InvalidInput', 'invalid listBackups input: expected a JSON object, got "local". Nothing was run. Example input: {"include_s3": true}'],
    ['listBackups', { include_s3: 'yes', bogus: 1 }, 'InvalidInput', 'invalid listBackups input: "include_s3" must be true or false, got "yes"; unknown key "bogus" (known: include_s3). Nothing was run. Example input: {"include_s3": true}'],
    ['restoreDrill', 'local', 'InvalidInput', 'invalid restoreDrill input: expected a JSON object, got "local". Nothing was run. Example input: {"source": "local"}'],
    ['restoreDrill', { source: 'ftp', when: 'now' }, 'InvalidInput', 'invalid restoreDrill input: "source" must be one of "local", "s3", got "ftp"; unknown key "when" (known: source). Nothing was run. Example input: {"source": "local"}'],
    ['checkEnvironment', { mode: 'remote' }, 'InvalidInput', 'invalid checkEnvironment input: "mode" must be one of "local", "temporal", got "remote". Nothing was run. Example input: {"mode": "temporal", "notify_test": false}'],
    ['backupDatabase', null, 'InvalidBackupInput', 'invalid backup input: expected a JSON object, got null. Nothing was backed up. Example input: {"backup_type": "manual", "upload_to_s3": false, "cleanup_old": true, "dry_run": false}'],
  ] as const)('%s with input %j fails with %s before any activity', async (name, input, type, message) => {
    const workflow = { listBackups, restoreDrill, checkEnvironment, backupDatabase }[name];
    const handle = await runner.start(workflow as typeof listBackups, { args: [input as never], workflowId: workflowId('rin-input') });
    const failure = innermost(await handle.result().catch((e: unknown) => e));
    expect(failure?.type).toBe(type);
    expect(failure?.nonRetryable).toBe(true);
    expect(failure?.message).toBe(message);
    expect(handle.attempts()).toEqual([]);
  });
});

describe('--table with quoted identifiers', () => {
  it(`restoreTable restores ${QUOTED}, read as SQL reads it`, async () => {
    const atBackup = await fingerprint(db);
    await withAdmin((c) => c.query(`DELETE FROM ${QUOTED} WHERE id = 2`), db);
    const result = await runner.execute(restoreTable, { args: [{ backup_filename: filename, table: QUOTED, confirm_restore: true, create_pre_restore_backup: false }], workflowId: workflowId('rin-quoted') });
    expect(result).toMatchObject({ status: 'success', target: QUOTED, error: null });
    const rows = await withAdmin((c) => c.query<{ id: number; body: string }>(`SELECT id, body FROM ${QUOTED} ORDER BY id`), db);
    expect(rows.rows).toEqual([
      { id: 1, body: 'one' },
      { id: 2, body: 'two' },
      { id: 3, body: 'three' },
    ]);
    expect(diffFingerprints(atBackup, await fingerprint(db)).filter((d) => d.includes('My "Quoted" Table'))).toEqual([]);
  });
});

describe('table names as SQL reads them', () => {
  it.each([
    ['public.reminders', { schema: 'public', name: 'reminders' }],
    ['Public.Reminders', { schema: 'public', name: 'reminders' }],
    ['reminders', { schema: null, name: 'reminders' }],
    [QUOTED, { schema: 'second schema', name: 'My "Quoted" Table' }],
    ['"a.b"', { schema: null, name: 'a.b' }],
    ['', undefined],
    ['   ', undefined],
    ['a.b.c', undefined],
    ['"unclosed', undefined],
    ['""', undefined],
    ['public. reminders', undefined],
  ])('%j reads as %j', (text, expected) => {
    expect(parseQualifiedName(text)).toEqual(expected);
  });
});
