// Issue 28: backups made with the application's own role (no superuser, no CREATEDB; vector created
// by the superuser at setup) are verified on a PostgreSQL the worker runs, and restores, tenant
// restores and drills work; the production server never gets a scratch database. Real servers and
// workflows on the real Temporal dev server; the worker's server is a real PostgreSQL 15 with pgvector.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import pg from 'pg';
import { applicationFailureOf } from '../src/client/failures';
import { createDoctorActivities } from '../src/activities/doctor';
import { clusterAnswers, clusterPaths } from '../src/activities/verifyServer/cluster';
import { ensureLocalServer, stopLocalServers } from '../src/activities/verifyServer/server';
import { openScratchServer } from '../src/activities/verifyServer/target';
import { cleanLeftovers } from '../src/activities/backup/prune';
import { scratchName } from '../src/activities/backup/verify';
import { drillScratchName } from '../src/activities/drill';
import { lockKeys } from '../src/activities/scratchClaim';
import { manifestName } from '../src/backup/manifest';
import { parseBackupName } from '../src/backup/naming';
import type { Config, VerifyConfig } from '../src/config';
import { loadSampleDatabase } from '../src/sample/fixture';
import { startPgCluster, type PgCluster } from '../src/sample/pgCluster';
import { backupDatabase, restoreDatabase, restoreDrill, restoreTenant } from '../src/workflows';
import { diffFingerprints } from './compare';
import { createAppOwnedDatabase, fingerprint, runActivity, tempDir, testConfig, uniqueName, withAdmin, withServer } from './helpers';
import { onTemporal, startTestWorker, testClient, type TestWorker } from './temporal';
import { notOf, of, tenantHashes } from './tenantHashes';

vi.setConfig({ testTimeout: 300_000, hookTimeout: 180_000 });

/** A directory the postgres user can reach (the test runs as root; mkdtemp makes it 0700). */
function serverDirFor(label: string): string {
  const dir = tempDir(label);
  fs.chmodSync(dir, 0o755);
  return dir;
}

const serverDir = serverDirFor('verify-server');
const worker: VerifyConfig = { target: 'worker', serverDir, idleMs: 600_000, fallback: 'none' };
const workers: TestWorker[] = [];
const roles: string[] = [];
const databases: string[] = [];
let throwaway: PgCluster | undefined;

// Every database the production server had while the tests ran whose name is one of our scratch names.
const seenOnProduction = new Set<string>();
let watching: NodeJS.Timeout | undefined;
let watcher: pg.Client | undefined;

let app: { role: string; db: string; config: Config };

beforeAll(async () => {
  const admin = testConfig();
  // As every pgvector guide sets it up: the superuser creates the extension, the application's role owns the rest.
  const { role, db, password } = await createAppOwnedDatabase('vs_app');
  roles.push(role);
  databases.push(db);
  await withServer({ ...admin.database, user: role, password }, db, (c) => loadSampleDatabase(c));
  const base = testConfig({ database: db });
  app = { role, db, config: onTemporal({ ...base, database: { ...base.database, user: role }, verify: worker }) };
  workers.push(await startTestWorker(app.config));

  watcher = new pg.Client({ host: admin.database.host, port: admin.database.port, user: admin.database.user, password: admin.database.password, database: 'postgres' });
  await watcher.connect();
  const poll = async () => {
    const { rows } = await watcher!.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'fbb_verify_%' OR datname LIKE 'fbb_drill_%' OR datname LIKE $1", [`${db}_partial_%`]);
    for (const r of rows) seenOnProduction.add(r.datname);
    watching = setTimeout(() => void poll().catch(() => undefined), 50);
  };
  await poll();
});

afterAll(async () => {
  clearTimeout(watching);
  await watcher?.end();
  await Promise.all(workers.map((w) => w.stop()));
  await stopLocalServers();
  fs.rmSync(serverDir, { recursive: true, force: true });
  await throwaway?.stop();
  await withAdmin(async (c) => {
    for (const d of databases) await c.query(`DROP DATABASE IF EXISTS ${d} WITH (FORCE)`);
    for (const r of roles) await c.query(`DROP ROLE IF EXISTS ${r}`);
  });
});

const wfId = (label: string) => uniqueName(label).replace(/_/g, '-');

async function execute<A extends unknown[], R>(config: Config, workflow: (...args: A) => Promise<R>, ...args: A): Promise<R> {
  const client = await testClient();
  return client.workflow.execute(workflow, { taskQueue: config.temporal.taskQueue, workflowId: wfId('vs'), args });
}

/** The worker's own server, as its superuser. */
async function onWorkerServer<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ host: clusterPaths(path.join(serverDir, 'pg15')).socketDir, port: 5432, user: 'postgres', database: 'postgres' });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

describe('VERIFY_TARGET=worker: the application role, without superuser or CREATEDB', () => {
  it('the role may not create a database on production at all', async () => {
    const asRole = { ...app.config.database, password: app.config.database.password! };
    await expect(withServer(asRole, app.db, (c) => c.query('CREATE DATABASE fbb_vs_probe'))).rejects.toMatchObject({ code: '42501' });
  });

  it('makes a verified backup, restored and counted on the worker\'s own PostgreSQL, where the roles the dump names were created NOLOGIN', async () => {
    const result = await execute(app.config, backupDatabase, { cleanup_old: false });
    expect(result).toMatchObject({ status: 'success', verified: { ok: true } });
    const manifest = JSON.parse(fs.readFileSync(path.join(app.config.backup.dir, manifestName(result.filename)), 'utf8'));
    expect(manifest).toMatchObject({ status: 'verified', verification: { ok: true, method: 'restore_during_dump' } });
    expect(await clusterAnswers(clusterPaths(path.join(serverDir, 'pg15')))).toBe(true);
    const created = await onWorkerServer((c) => c.query<{ rolname: string; rolcanlogin: boolean }>('SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname = ANY($1) ORDER BY rolname', [[app.role, 'family_brain_app']]));
    expect(created.rows).toEqual([{ rolname: 'family_brain_app', rolcanlogin: false }, { rolname: app.role, rolcanlogin: false }].sort((a, b) => a.rolname.localeCompare(b.rolname)));
    // Nothing is left on the worker's server either.
    const left = await onWorkerServer((c) => c.query("SELECT datname FROM pg_database WHERE datname LIKE 'fbb_%'"));
    expect(left.rows).toEqual([]);
  });

  it('verifies after the dump too (BACKUP_VERIFY=after_dump), and a custom-format backup', async () => {
    const config: Config = { ...app.config, backup: { ...app.config.backup, verify: 'after_dump' } };
    const plain = await execute(config, backupDatabase, { cleanup_old: false });
    expect(plain).toMatchObject({ status: 'success', verified: { ok: true } });
    const custom = await execute(app.config, backupDatabase, { cleanup_old: false, format: 'custom' });
    expect(custom).toMatchObject({ status: 'success', verified: { ok: true } });
    expect(JSON.parse(fs.readFileSync(path.join(app.config.backup.dir, manifestName(custom.filename)), 'utf8'))).toMatchObject({ status: 'verified', verification: { method: 'restore' } });
  });

  it('restores in place, with a pre-restore backup that is restore-verified on the worker\'s server', async () => {
    const backup = await execute(app.config, backupDatabase, { cleanup_old: false });
    const atBackup = await fingerprint(app.db);
    await withAdmin((c) => c.query("DELETE FROM chat_messages WHERE id IN (SELECT id FROM chat_messages LIMIT 5); UPDATE settings SET value = '\"x\"' WHERE key = (SELECT min(key) FROM settings)"), app.db);
    const result = await execute(app.config, restoreDatabase, { backup_filename: backup.filename, confirm_restore: true });
    expect(result).toMatchObject({ status: 'success', strategy: 'in_place', error: null, verification: { ok: true } });
    expect(result.notes ?? []).toEqual([]);
    expect(JSON.parse(fs.readFileSync(path.join(app.config.backup.dir, manifestName(result.pre_restore_backup!)), 'utf8'))).toMatchObject({ status: 'verified' });
    // The restore records itself in system_logs afterwards: one row more there.
    expect(diffFingerprints(atBackup, await fingerprint(app.db)).filter((d) => !d.includes('system_logs'))).toEqual([]);
  });

  it('restores one tenant from a copy of the backup loaded on the worker\'s server, and drills the newest backup there', async () => {
    const backup = await execute(app.config, backupDatabase, { cleanup_old: false });
    const tenants = (await withAdmin((c) => c.query<{ id: string }>('SELECT id FROM tenants ORDER BY slug'), app.db)).rows.map((r) => r.id);
    const [a, b] = tenants;
    const atBackup = await tenantHashes(app.db);
    await withAdmin(async (c) => {
      for (const t of [a!, b!]) await c.query("UPDATE users SET display_name = display_name || ' changed' WHERE tenant_id = $1", [t]);
    }, app.db);
    const changed = await tenantHashes(app.db);
    const result = await execute(app.config, restoreTenant, { backup_filename: backup.filename, tenant_id: a!, confirm_restore: true, create_pre_restore_backup: true });
    expect(result).toMatchObject({ status: 'success', error: null });
    expect(of(await tenantHashes(app.db), a!)).toEqual(of(atBackup, a!));
    expect(notOf(await tenantHashes(app.db), a!)).toEqual(notOf(changed, a!));
    const copies = await onWorkerServer((c) => c.query('SELECT datname FROM pg_database WHERE datname LIKE $1', [`${app.db}_partial_%`]));
    expect(copies.rows).toEqual([]);

    const drill = await execute(app.config, restoreDrill, { source: 'local' });
    expect(drill).toMatchObject({ status: 'passed', samples_missing: [] });
  });

  it('the leftover sweep drops the scratch databases no run claims on the worker\'s server (a killed verification\'s, of this deployment or another), and keeps one a running verification claims', async () => {
    const file = fs.readdirSync(app.config.backup.dir).find((f) => f.endsWith('.sql.gz'))!;
    const left = scratchName(app.config, file);
    const other = 'fbb_verify_00000000000000000000';
    const running = 'fbb_verify_11111111111111111111';
    const socket = clusterPaths(path.join(serverDir, 'pg15')).socketDir;
    await onWorkerServer(async (c) => {
      for (const d of [left, other, running]) await c.query(`CREATE DATABASE ${d}`);
    });
    try {
      // A running verification's claim: a session holding its advisory lock in the maintenance database.
      await onWorkerServer(async (holder) => {
        await holder.query('SELECT pg_advisory_lock($1, $2)', lockKeys(running));
        const found = await runActivity(() => cleanLeftovers(app.config, { dryRun: false, before: new Date() }));
        const onWorker = found.filter((l) => l.name.includes(socket));
        expect(onWorker.map((l) => l.name).sort()).toEqual([`${other} (on ${socket})`, `${left} (on ${socket})`].sort());
        expect(onWorker.every((l) => l.kind === 'scratch_database' && l.removed)).toBe(true);
      });
      const there = await onWorkerServer((c) => c.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'fbb_verify_%'"));
      expect(there.rows.map((r) => r.datname)).toEqual([running]);
    } finally {
      await onWorkerServer((c) => c.query(`DROP DATABASE IF EXISTS ${running}`));
    }
  });

  it('production never had a scratch database: not while any of the runs above went on', () => {
    // Other test files verify on the shared cluster at the same time: only this deployment's names count (they hash its directory, database and file).
    const files = fs.readdirSync(app.config.backup.dir).filter((f) => parseBackupName(f) !== undefined);
    expect(files.length).toBeGreaterThan(4);
    const ours = new Set(files.flatMap((f) => [scratchName(app.config, f), drillScratchName(app.config, f)]));
    expect([...seenOnProduction].filter((name) => ours.has(name) || name.startsWith(`${app.db}_partial_`))).toEqual([]);
  });
});

describe('a verification server that lacks an extension the database uses', () => {
  it('fails the backup with VerifyServerLacksExtensions naming it (VERIFY_TARGET=<url>), and verifies on the source with VERIFY_FALLBACK=source', async () => {
    throwaway = await startPgCluster({ withoutExtensions: ['vector'] });
    const url: VerifyConfig = {
      ...worker,
      target: 'server',
      server: { host: throwaway.host, port: throwaway.port, user: throwaway.user, password: throwaway.password, database: 'postgres', sslmode: undefined, maintenanceDatabase: 'postgres' },
    };
    const config = onTemporal({ ...app.config, verify: url, backup: { ...app.config.backup, dir: tempDir('vs-missing') } });
    workers.push(await startTestWorker(config));
    const failed = await execute(config, backupDatabase, { cleanup_old: false }).then(
      () => undefined,
      (err: unknown) => err,
    );
    const failure = applicationFailureOf(failed)!;
    expect(failure?.type).toBe('VerifyServerLacksExtensions');
    expect(failure.message).toMatch(new RegExp(`^the verification server at 127\\.0\\.0\\.1:${throwaway.port} \\(VERIFY_TARGET\\) lacks the extension vector that backup "family_brain_manual_\\d{8}_\\d{6}\\.sql\\.gz" needs, so it cannot be restored there to verify it; install vector .*set VERIFY_FALLBACK=source`));
    // Nothing of the backup was restored on that server.
    const there = await withServer(throwaway, 'postgres', (c) => c.query("SELECT datname FROM pg_database WHERE datname LIKE 'fbb_%'"));
    expect(there.rows).toEqual([]);

    // Allowed to fall back, as a role that may create databases there (the superuser here): verified on the source.
    const admin = testConfig({ database: app.db });
    const fallback = onTemporal({ ...admin, verify: { ...url, fallback: 'source' } });
    workers.push(await startTestWorker(fallback));
    const ok = await execute(fallback, backupDatabase, { cleanup_old: false });
    expect(ok).toMatchObject({ status: 'success', verified: { ok: true } });
  });
});

describe('fbb doctor for the application role', () => {
  const checks = async (config: Config) => {
    const report = await runActivity(() => createDoctorActivities(config).checkDatabaseAndTools());
    return Object.fromEntries(report.filter((c) => ['role_dump', 'verify_target', 'wal_replication_role'].includes(c.name)).map((c) => [c.name, c]));
  };

  it('says the role can dump, that verification runs on the worker\'s own server, and that it lacks REPLICATION for the WAL archive', async () => {
    const found = await checks(app.config);
    expect(found.role_dump).toEqual({ name: 'role_dump', status: 'ok', detail: `${app.role} can dump every table of "${app.db}" (owner or granted SELECT on every table)` });
    expect(found.verify_target).toMatchObject({ status: 'ok', detail: expect.stringMatching(/^backups are verified on the worker's own PostgreSQL 15 \(.*\); .* needs no CREATEDB and the database server only serves the dump$/) });
    expect(found.wal_replication_role).toMatchObject({ status: 'warn', detail: `role ${app.role} has no REPLICATION attribute`, hint: expect.stringContaining(`ALTER ROLE ${app.role} REPLICATION`) });
  });

  it('fails verify_target for VERIFY_TARGET=source without CREATEDB, and role_dump for a table the role cannot read', async () => {
    const source = await checks({ ...app.config, verify: { ...worker, target: 'source' } });
    expect(source.verify_target).toEqual({
      name: 'verify_target',
      status: 'fail',
      detail: `VERIFY_TARGET=source: backups are restored on the database server, but ${app.role} may not create databases`,
      hint: `set VERIFY_TARGET=worker (the default: a server of the worker's own), or ALTER ROLE ${app.role} CREATEDB`,
    });
    await withAdmin((c) => c.query('CREATE TABLE public.fbb_vs_secret (id int)'), app.db);
    try {
      const found = await checks(app.config);
      expect(found.role_dump).toMatchObject({ status: 'fail', detail: `${app.role} cannot read 1 table(s) or sequence(s) of "${app.db}": public.fbb_vs_secret; pg_dump would fail`, hint: `back up as the database's owner, or GRANT pg_read_all_data TO ${app.role} (PostgreSQL 14+)` });
    } finally {
      await withAdmin((c) => c.query('DROP TABLE public.fbb_vs_secret'), app.db);
    }
  });
});

describe('the worker\'s server of a major that is not installed', () => {
  it('is a MissingPostgresError naming the install command (openScratchServer turns it into a non-retryable VerifyServerUnavailable)', async () => {
    await expect(ensureLocalServer({ dir: serverDir, major: 14, idleMs: 0 })).rejects.toThrow(
      'PostgreSQL 14 is not installed (looked in /usr/lib/postgresql/14/bin and .tools/postgresql-14/bin); run "bash scripts/install-deps.sh --postgres 14"',
    );
    expect(fs.existsSync(path.join(serverDir, 'pg14'))).toBe(false);
  });
});

describe('a verification server of an older major than the database', () => {
  it('is refused with VerifyServerUnavailable before anything is restored there', async () => {
    const newer = await startPgCluster({ major: 17 });
    try {
      const base = testConfig();
      const config: Config = {
        ...base,
        database: { ...base.database, host: newer.host, port: newer.port, user: newer.user, password: newer.password, database: 'postgres' },
        verify: { ...worker, target: 'server', server: { ...base.database, database: 'postgres' } },
      };
      const failure = await runActivity(() => openScratchServer(config, { filename: 'family_brain_manual_20261205_120000.sql.gz', extensions: [], roles: [] })).then(
        () => undefined,
        (err: unknown) => err as { type?: string; message?: string; nonRetryable?: boolean },
      );
      expect(failure).toMatchObject({
        type: 'VerifyServerUnavailable',
        nonRetryable: true,
        message: `the verification server at ${base.database.host}:${base.database.port} (VERIFY_TARGET) runs PostgreSQL 15, older than the database's 17: a dump restores onto its own major or a newer one; run a PostgreSQL 17 or newer for it, or set VERIFY_TARGET=worker; nothing was restored`,
      });
    } finally {
      await newer.stop();
    }
  });
});
