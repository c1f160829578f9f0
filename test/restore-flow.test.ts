// Issue 21: a restore's flow on the real Temporal dev server with a real Worker, real PostgreSQL,
// pg_dump, psql and age: when the pre-restore backup is taken and what a rollback returns to (item 3),
// partial restores with encryption on (item 5), the roles a restore creates (item 6), and an
// in-place restore behind application sessions (item 9). The in-place path runs as a real role
// without CREATEDB that owns its database, as on managed PostgreSQL.
import path from 'node:path';
import fs from 'node:fs';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type pg from 'pg';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createActivities } from '../src/activities';
import { manifestName } from '../src/backup/manifest';
import { runCli } from '../src/client/cli';
import { formatRestoreResult } from '../src/client/commands/restore';
import { formatPartialResult } from '../src/client/commands/restorePartial';
import type { Config } from '../src/config';
import { diffFingerprints } from './compare';
import { backupDatabase, confirmRestore, restoreDatabase, restoreTenant, statusQuery } from '../src/workflows';
import type { RestoreResult } from '../src/workflows/restoreDatabase';
import { slowBinDir } from './durability';
import { eventually } from './eventually';
import { ageKeygen, captured, createDatabase, fingerprint, runActivity, testConfig, uniqueName, userEnvFor, withAdmin } from './helpers';
import { managedDatabase, type ManagedDatabase } from './managed';
import { onTemporal, startTestWorker, testClient, type TestWorker } from './temporal';

vi.setConfig({ testTimeout: 300_000, hookTimeout: 120_000 });

const workers: TestWorker[] = [];
const databases: string[] = [];
const roles: string[] = [];
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await withAdmin(async (c) => {
    for (const d of databases) await c.query(`DROP DATABASE IF EXISTS ${d} WITH (FORCE)`);
    const { rows } = await c.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'fbb\\_flow%' AND strpos(datname, $1) > 0", [`_${process.pid}_`]);
    for (const { datname } of rows) await c.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    for (const r of roles) await c.query(`DROP ROLE IF EXISTS ${r}`).catch(() => undefined);
  });
});

const workflowId = (label: string) => uniqueName(label).replace(/_/g, '-');

/** A real Worker for `config` (activities replaced by `overrides`) on a task queue of its own. */
async function workerFor(config: Config, overrides: Record<string, unknown> = {}): Promise<Config> {
  const onServer = onTemporal(config);
  workers.push(await startTestWorker(onServer, overrides));
  return onServer;
}

/** managedDatabase, dropped with its role after the file. */
async function managed(label: string): Promise<ManagedDatabase> {
  const m = await managedDatabase(label);
  databases.push(m.db);
  roles.push(m.role);
  return m;
}

/** A verified backup of `config`'s database, made by backupDatabase on a real Worker. */
async function backupOf(config: Config): Promise<string> {
  const onServer = await workerFor(config);
  const client = await testClient();
  const result = await client.workflow.execute(backupDatabase, { taskQueue: onServer.temporal.taskQueue, workflowId: workflowId('flow-b'), args: [{ cleanup_old: false }] });
  return result.filename;
}

/** verifyLiveDatabase that reports a mismatch the first time (the check after the restore), then checks for real (the rollback's). */
function failingFirstCheck(config: Config) {
  const real = createActivities({ config });
  let checks = 0;
  return async (expected: Record<string, number> | null, extensions: string[]) => {
    const check = await real.verifyLiveDatabase(expected, extensions);
    return ++checks === 1 ? { ...check, ok: false } : check;
  };
}

const notes = (db: string) => withAdmin(async (c) => (await c.query<{ body: string }>('SELECT body FROM notes ORDER BY id')).rows.map((r) => r.body), db);

describe('item 3: the pre-restore backup is taken after the confirmation, right before the change', () => {
  it('a write made while the restore awaited confirmation survives a rollback in place, and the result says what the rollback returned to', async () => {
    const m = await managed('flow_late');
    const filename = await backupOf(m.adminConfig);
    await withAdmin((c) => c.query('DELETE FROM notes WHERE id % 2 = 0'), m.db);
    const onServer = await workerFor(m.roleConfig, { verifyLiveDatabase: failingFirstCheck(m.roleConfig) });
    const client = await testClient();
    const handle = await client.workflow.start(restoreDatabase, { taskQueue: onServer.temporal.taskQueue, workflowId: workflowId('flow-late'), args: [{ backup_filename: filename }] });
    const waiting = await eventually('the restore waits for confirmation', () => handle.query(statusQuery), (s) => s.phase === 'awaiting_confirmation', 120_000);
    // The application keeps writing while the restore waits for a person.
    await withAdmin((c) => c.query("INSERT INTO notes (body) VALUES ('written while the restore waited')"), m.db);
    const before = await fingerprint(m.db);
    await handle.signal(confirmRestore, { confirmed_by: 'test' });
    const result: RestoreResult = await handle.result();

    expect(result).toMatchObject({ status: 'rolled_back', strategy: 'in_place', rollback: { strategy: 'pre_restore_backup', verification: { ok: true } } });
    expect(await notes(m.db)).toContain('written while the restore waited');
    expect(diffFingerprints(before, await fingerprint(m.db))).toEqual([]);
    // Made once confirmed, not while the restore waited.
    expect(waiting.pre_restore_backup).toBeNull();
    const pre = result.pre_restore_backup!;
    expect(pre).toMatch(/^family_brain_pre_restore_\d{8}_\d{6}\.sql\.gz$/);
    expect(result.rollback!.returned_to).toBe(
      `the pre-restore backup ${pre}, dumped from ${result.pre_restore_backup_at}: the database as it was when that dump began; anything written after it (during the restore) is not in it`,
    );
    expect(formatRestoreResult(result, m.db)).toMatch(new RegExp(`returned to +the pre-restore backup ${pre.replace(/\./g, '\\.')}, dumped from`));
  });
});

describe('item 9: an in-place restore behind application sessions', () => {
  /** A session as `server` that read `notes` in a transaction it keeps open: its lock blocks the in-place restore's DROP. */
  async function blocker(server: { host: string; port: number; user: string; password: string }, db: string) {
    const { default: pgModule } = await import('pg');
    const client = new pgModule.Client({ ...server, database: db });
    await client.connect();
    client.on('error', () => undefined);
    await client.query('BEGIN');
    await client.query('SELECT count(*) FROM notes');
    const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    return { client: client as pg.Client, pid };
  }

  it('ends the sessions this role may end, then restores: it does not wait for ever', async () => {
    const m = await managed('flow_busy');
    const atBackup = await fingerprint(m.db);
    const filename = await backupOf(m.adminConfig);
    await withAdmin((c) => c.query('DELETE FROM notes WHERE id % 2 = 0'), m.db);
    const app = await blocker(m.asRole, m.db);
    const onServer = await workerFor({ ...m.roleConfig, restore: { ...m.roleConfig.restore, lockTimeoutSeconds: 2 } });
    const client = await testClient();
    const result = await client.workflow.execute(restoreDatabase, { taskQueue: onServer.temporal.taskQueue, workflowId: workflowId('flow-busy'), args: [{ backup_filename: filename, confirm_restore: true }] });

    expect(result).toMatchObject({ status: 'success', strategy: 'in_place', error: null });
    expect(diffFingerprints(atBackup, await fingerprint(m.db))).toEqual([]);
    await expect(app.client.query('SELECT 1')).rejects.toThrow(/terminat|connection error/);
    await app.client.end().catch(() => undefined);
  });

  it('gives up with DatabaseInUse naming the session it may not end (a superuser\'s), after bounded waits; nothing changed', async () => {
    const m = await managed('flow_held');
    const filename = await backupOf(m.adminConfig);
    await withAdmin((c) => c.query('DELETE FROM notes WHERE id % 2 = 0'), m.db);
    const admin = testConfig().database;
    const app = await blocker({ host: admin.host, port: admin.port, user: admin.user, password: admin.password! }, m.db);
    try {
      const before = await fingerprint(m.db);
      const onServer = await workerFor({ ...m.roleConfig, restore: { ...m.roleConfig.restore, lockTimeoutSeconds: 2 } });
      const client = await testClient();
      const result = await client.workflow.execute(restoreDatabase, { taskQueue: onServer.temporal.taskQueue, workflowId: workflowId('flow-held'), args: [{ backup_filename: filename, confirm_restore: true }] });

      expect(result).toMatchObject({ status: 'failed', strategy: 'in_place', rollback: null, error: { type: 'DatabaseInUse' } });
      const message = result.error!.message;
      expect(message).toContain(`the in-place restore of "${m.db}" waited 3 times 2 s (RESTORE_LOCK_TIMEOUT_SECONDS) for locks held by other sessions and gave up; still connected and not ours to end: `);
      expect(message).toContain(`pid ${app.pid} (user ${admin.user}`);
      expect(message).toContain('; its transaction was rolled back, nothing was changed; stop the application (or end those sessions as a superuser: SELECT pg_terminate_backend(pid)) and restore again');
      expect(diffFingerprints(before, await fingerprint(m.db))).toEqual([]);
      // The application's session was left alone.
      await expect(app.client.query('SELECT 1 AS ok')).resolves.toMatchObject({ rows: [{ ok: 1 }] });
    } finally {
      await app.client.end().catch(() => undefined);
    }
  });
});

const encrypted = (config: Config, key: { file: string; recipient: string }): Config => ({ ...config, backup: { ...config.backup, ageRecipients: [key.recipient], ageIdentityFile: key.file } });

const firstTenant = (db: string) => withAdmin(async (c) => (await c.query<{ id: string }>('SELECT id FROM tenants ORDER BY slug LIMIT 1')).rows[0]!.id, db);

describe('item 5: tenant and table restores with encryption on', () => {
  it('a tenant restore takes an encrypted pre-restore backup (.sql.gz.age) and succeeds', async () => {
    const db = await createDatabase('flow_enc');
    databases.push(db);
    const config = encrypted(testConfig({ database: db }), await ageKeygen());
    const filename = await backupOf(config);
    expect(filename).toMatch(/\.sql\.gz\.age$/);
    const tenant = await firstTenant(db);
    await withAdmin((c) => c.query("UPDATE users SET display_name = display_name || ' (edited)' WHERE tenant_id = $1", [tenant]), db);
    const onServer = await workerFor(config);
    const client = await testClient();
    const result = await client.workflow.execute(restoreTenant, { taskQueue: onServer.temporal.taskQueue, workflowId: workflowId('flow-enc'), args: [{ backup_filename: filename, tenant_id: tenant, confirm_restore: true }] });

    expect(result).toMatchObject({ status: 'success', kind: 'tenant', error: null });
    expect(result.pre_restore_backup).toMatch(/^family_brain_pre_restore_\d{8}_\d{6}\.sql\.gz\.age$/);
    expect(fs.existsSync(path.join(config.backup.dir, result.pre_restore_backup!))).toBe(true);
    const edited = await withAdmin((c) => c.query("SELECT count(*)::int AS n FROM users WHERE display_name LIKE '% (edited)'"), db);
    expect(edited.rows[0]).toEqual({ n: 0 });
  });
});

describe('item 6: the roles a restore creates', () => {
  const roleExists = (role: string) => withAdmin(async (c) => (await c.query<{ login: boolean }>('SELECT rolcanlogin AS login FROM pg_roles WHERE rolname = $1', [role])).rows[0] ?? null);

  it('a tenant restore does not bring back a dropped LOGIN role (RolesMissing, nothing changed) unless asked; asked, it says the role can log in with its recorded password', async () => {
    const db = await createDatabase('flow_roles');
    databases.push(db);
    const alice = uniqueName('alice');
    roles.push(alice);
    await withAdmin((c) => c.query(`CREATE ROLE ${alice} LOGIN PASSWORD 'alice-old-password'`));
    await withAdmin((c) => c.query(`GRANT SELECT ON tenants TO ${alice}`), db);
    // Encrypted: the backup records the role's password hash.
    const config = encrypted(testConfig({ database: db }), await ageKeygen());
    const filename = await backupOf(config);
    await withAdmin((c) => c.query(`REVOKE ALL ON tenants FROM ${alice}`), db);
    await withAdmin((c) => c.query(`DROP ROLE ${alice}`));
    const tenant = await firstTenant(db);
    const before = await fingerprint(db);
    const onServer = await workerFor(config);
    const client = await testClient();
    const run = (extra: Record<string, unknown>) =>
      client.workflow.execute(restoreTenant, { taskQueue: onServer.temporal.taskQueue, workflowId: workflowId('flow-roles'), args: [{ backup_filename: filename, tenant_id: tenant, confirm_restore: true, ...extra }] });

    const refused = await run({}).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(WorkflowFailedError);
    const cause = (refused as WorkflowFailedError).cause?.cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect((cause as ApplicationFailure).type).toBe('RolesMissing');
    expect((cause as ApplicationFailure).message).toContain(`grants to or is owned by role(s) ${alice}, which this server lacks; a tenant or table restore creates no roles unless asked`);
    expect(await roleExists(alice)).toBeNull();
    expect(diffFingerprints(before, await fingerprint(db))).toEqual([]);

    const asked = await run({ recreate_roles: true });
    expect(asked).toMatchObject({ status: 'success', roles_created: [{ name: alice, login: true, password: true }] });
    expect(await roleExists(alice)).toEqual({ login: true });
    expect(formatPartialResult(asked, db)).toMatch(new RegExp(`roles created +${alice} \\(LOGIN, with the password hash recorded in the backup\\)`));
  });

  it('the roles and their memberships are created in one transaction: a membership that cannot be granted leaves no role behind; a retry after a committed attempt grants what is recorded and missing', async () => {
    const db = await createDatabase('flow_roletx', false);
    databases.push(db);
    const [bob, team, ghost] = [uniqueName('bob'), uniqueName('team'), uniqueName('ghost')];
    roles.push(bob, team, ghost);
    await withAdmin(async (c) => {
      await c.query(`CREATE ROLE ${team} NOLOGIN`);
      await c.query(`CREATE ROLE ${bob} LOGIN IN ROLE ${team}`);
    });
    await withAdmin((c) => c.query(`CREATE TABLE t (id int); GRANT SELECT ON t TO ${bob}`), db);
    const config = testConfig({ database: db });
    const filename = await backupOf(config);
    await withAdmin((c) => c.query(`REVOKE ALL ON t FROM ${bob}`), db);
    await withAdmin((c) => c.query(`DROP ROLE ${bob}; DROP ROLE ${team}`));
    // The recorded memberships also name a role that is neither on the server nor recorded: its GRANT fails.
    const manifestFile = path.join(config.backup.dir, manifestName(filename));
    const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as { cluster_roles: { roles: { name: string; member_of: { role: string; admin_option: boolean }[] }[] } };
    manifest.cluster_roles.roles.find((r) => r.name === bob)!.member_of.push({ role: ghost, admin_option: false });
    fs.writeFileSync(manifestFile, JSON.stringify(manifest));
    const acts = createActivities({ config });
    const prepared = await runActivity(acts.prepareRestore, filename, 'local');
    const target = uniqueName('flow_roletx_copy');

    await expect(runActivity(acts.restoreIntoNewDatabase, prepared, target)).rejects.toThrow(new RegExp(`role "${ghost}" does not exist`));
    expect(await roleExists(bob)).toBeNull();
    expect(await roleExists(team)).toBeNull();

    // An earlier attempt committed bob (it says so in its comment), then died before granting: the retry completes him.
    await withAdmin(async (c) => {
      await c.query(`CREATE ROLE ${ghost} NOLOGIN; CREATE ROLE ${team} NOLOGIN; CREATE ROLE ${bob} LOGIN`);
      await c.query(`COMMENT ON ROLE ${bob} IS 'fbb: created by the restore of ${filename}'`);
    });
    const done = await runActivity(acts.restoreIntoNewDatabase, prepared, target);
    expect(done.roles_created).toEqual([bob]);
    const member = await withAdmin((c) =>
      c.query<{ rolname: string }>('SELECT g.rolname FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles u ON u.oid = a.member WHERE u.rolname = $1 ORDER BY 1', [bob]),
    );
    expect(member.rows.map((r) => r.rolname)).toEqual([ghost, team].sort());
  });

  it('the CLI says what a created role may do, not "(NOLOGIN, no password)" for every one', () => {
    const result = {
      status: 'success',
      phase: 'done',
      restored_from: 'family_brain_daily_20261201_020000.sql.gz.age',
      backup_source: 'local',
      pre_restore_backup: null,
      strategy: 'create',
      verification: null,
      rollback: null,
      aside_database: null,
      roles_created: ['alice', 'family_brain_app'],
      roles_created_detail: [
        { name: 'alice', login: true, password: true },
        { name: 'family_brain_app', login: false, password: false },
      ],
      confirmed_by: 'input: confirm_restore',
      confirm_by: null,
      error: null,
      duration_ms: 1000,
    } as RestoreResult;
    expect(formatRestoreResult(result, 'family_brain')).toMatch(/roles created +alice \(LOGIN, with the password hash recorded in the backup\), family_brain_app \(NOLOGIN\)\n/);
  });
});

/** The attributes each activity of a run was scheduled with, by activity type (the last one of each). */
async function scheduledAttributes(handle: { fetchHistory(): Promise<{ events?: { activityTaskScheduledEventAttributes?: unknown }[] | null }> }) {
  type Scheduled = { activityType?: { name?: string }; retryPolicy?: { maximumAttempts?: number }; scheduleToCloseTimeout?: { seconds?: { toString(): string } } };
  const events = (await handle.fetchHistory()).events ?? [];
  const byType = new Map<string, Scheduled>();
  for (const e of events) {
    const a = e.activityTaskScheduledEventAttributes as Scheduled | undefined;
    if (a?.activityType?.name) byType.set(a.activityType.name, a);
  }
  return byType;
}

describe('item 16: what a cancelled or failed swap reports, and how hard its rollback tries', () => {
  it('a cancel that lands while the copy is loaded (the load finishes anyway) reports "cancelled" and that no swap happened, not "rolled_back"', async () => {
    const db = await createDatabase('flow_cancel');
    databases.push(db);
    const config = testConfig({ database: db });
    const filename = await backupOf(config);
    const before = await fingerprint(db);
    const real = createActivities({ config });
    let loading: () => void = () => undefined;
    const loadingStarted = new Promise<void>((r) => (loading = r));
    // A load that neither heartbeats nor hears the cancellation: it finishes, and its result arrives after the cancel.
    const restoreIntoNewDatabase = async (...args: Parameters<typeof real.restoreIntoNewDatabase>) => {
      loading();
      await new Promise((r) => setTimeout(r, 3_000));
      return real.restoreIntoNewDatabase(...args);
    };
    const onServer = await workerFor(config, { restoreIntoNewDatabase });
    const client = await testClient();
    const handle = await client.workflow.start(restoreDatabase, { taskQueue: onServer.temporal.taskQueue, workflowId: workflowId('flow-cancel'), args: [{ backup_filename: filename, confirm_restore: true }] });
    await loadingStarted;
    await handle.cancel();
    const result: RestoreResult = await handle.result();

    expect(result).toMatchObject({ status: 'cancelled', error: { type: 'RestoreCancelled' }, rollback: { strategy: 'swap_back', verification: { swapped_back: false } } });
    expect(result.error!.message).toMatch(/^cancelled before the swap took place; the restored copy fbb_flow_cancel_\d+_\d+_restoring_\d{8}_\d{6} was dropped; the database was not changed$/);
    expect(result.rollback!.returned_to).toMatch(/^the database as it was: the swap never happened, and the restored copy .* was dropped$/);
    expect(diffFingerprints(before, await fingerprint(db))).toEqual(RECORD_ROW);
    // The rollback is the last line of defence: it retries without a limit on attempts, for a day.
    const rollback = (await scheduledAttributes(handle)).get('rollbackSwap')!;
    expect(rollback.retryPolicy?.maximumAttempts ?? 0).toBe(0);
    expect(rollback.scheduleToCloseTimeout?.seconds?.toString()).toBe(String(24 * 3600));
  });

  it('a swap whose counts never came back (the worker died after the renames) is rolled back and checked against the counts of the database set aside', async () => {
    const db = await createDatabase('flow_swapdied');
    databases.push(db);
    const config = testConfig({ database: db });
    const filename = await backupOf(config);
    await withAdmin((c) => c.query('DELETE FROM chat_messages WHERE id % 3 = 0'), db);
    const real = createActivities({ config });
    const swapDatabases = async (names: { live: string; incoming: string; aside: string }) => {
      await real.swapDatabases(names);
      throw ApplicationFailure.create({ type: 'WorkerLost', message: 'simulated: the worker died after the swap', nonRetryable: true });
    };
    const onServer = await workerFor(config, { swapDatabases });
    const client = await testClient();
    const result: RestoreResult = await client.workflow.execute(restoreDatabase, { taskQueue: onServer.temporal.taskQueue, workflowId: workflowId('flow-swapdied'), args: [{ backup_filename: filename, confirm_restore: true }] });

    expect(result).toMatchObject({ status: 'rolled_back', error: { type: 'WorkerLost' }, rollback: { strategy: 'swap_back', verification: { ok: true, swapped_back: true } } });
    const live = await withAdmin(async (c) => Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM chat_messages')).rows[0]!.n), db);
    // A check with expectations: each table's count before the rename back, compared after it.
    expect(result.rollback!.verification.tables.chat_messages).toEqual({ expected: live, actual: live });
  });
});

/** The difference one backup's system_logs record makes in the sample database (the pre-restore backup's). */
const RECORD_ROW = [expect.stringMatching(/^table public\.system_logs: row count (\d+) vs \d+$/), expect.stringMatching(/^sequence public\.system_logs_id_seq: last value \d+ vs \d+$/)];

describe('item 15: fbb restore cancel reads back what the restore made of its signal', () => {
  it('fbb restore cancel during the pre-restore backup (after confirmation) is answered by the workflow: cancelled before the restore began, nothing changed', async () => {
    const db = await createDatabase('flow_race');
    databases.push(db);
    const base = testConfig({ database: db });
    const filename = await backupOf(base);
    const before = await fingerprint(db);
    // A pre-restore backup that takes a few seconds: the cancel arrives while it runs. The CLI sends
    // the cancelRestore Update (no query-then-signal race left): the workflow itself answers.
    const config = await workerFor({ ...base, pgBinDir: slowBinDir(base.pgBinDir!, 'pg_dump', 4) });
    const client = await testClient();
    const id = workflowId('flow-race');
    const handle = await client.workflow.start(restoreDatabase, { taskQueue: config.temporal.taskQueue, workflowId: id, args: [{ backup_filename: filename, confirm_restore: true }] });
    await eventually('the pre-restore backup runs', () => handle.query(statusQuery), (s) => s.phase === 'pre_backup', 120_000);
    const io = captured();
    const env = { TEMPORAL_ADDRESS: config.temporal.address, TEMPORAL_NAMESPACE: config.temporal.namespace, TEMPORAL_TASK_QUEUE: config.temporal.taskQueue, ...userEnvFor(config) };
    const code = await runCli(['restore', 'cancel', id], { stdout: io.stdout, stderr: io.stderr, env });

    expect(io.text().stdout).toBe(`cancelled ${id}: the restore is now in phase done (status cancelled); follow it with: fbb status ${id}\n`);
    expect(code).toBe(0);
    const result: RestoreResult = await handle.result();
    expect(result).toMatchObject({ status: 'cancelled', error: { type: 'RestoreCancelled' }, cancel_requested_by: expect.stringContaining('@') });
    expect(diffFingerprints(before, await fingerprint(db))).toEqual(RECORD_ROW);
  });
});
