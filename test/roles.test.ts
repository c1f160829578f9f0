// Cluster roles recorded with a backup and recreated by a restore, through the real workflows on
// the Temporal dev server and real PostgreSQL (roles dropped from the cluster, as on a new server).
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifestName, type BackupManifest } from '../src/backup/manifest';
import type { Config } from '../src/config';
import { diffFingerprints } from './compare';
import { startPgCluster } from '../src/sample/pgCluster';
import { backupDatabase, restoreDatabase } from '../src/workflows';
import { createDatabase, dropDatabase, fingerprint, tempDir, testConfig, uniqueName, withAdmin, withServer } from './helpers';
import { onTemporal, startTestWorker, testClient } from './temporal';

const suffix = uniqueName('r').toLowerCase();
const OWNER = `app_owner_${suffix}`;
const READERS = `readers_${suffix}`;
const ALICE = `alice_${suffix}`;
const WRITER = `writer_${suffix}`;
const ROLES = [ALICE, OWNER, READERS, WRITER].sort();
let db: string;
let config: Config;

const workflowId = (label: string) => uniqueName(label).replace(/_/g, '-');

async function onWorker<T>(cfg: Config, fn: (taskQueue: string) => Promise<T>): Promise<T> {
  const worker = await startTestWorker(onTemporal(cfg));
  try {
    return await fn(worker.taskQueue);
  } finally {
    await worker.stop();
  }
}

/** The roles as pg_roles, pg_auth_members and pg_authid describe them. */
async function rolesState() {
  return withAdmin(async (c) => ({
    roles: (
      await c.query(
        `SELECT rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, rolbypassrls, rolconnlimit, rolvaliduntil, rolpassword
           FROM pg_authid WHERE rolname = ANY($1) ORDER BY rolname`,
        [ROLES],
      )
    ).rows,
    members: (
      await c.query(
        `SELECT g.rolname AS role, u.rolname AS member, m.admin_option FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
          WHERE u.rolname = ANY($1) ORDER BY 1, 2`,
        [ROLES],
      )
    ).rows,
  }));
}

/** Removes the roles from the cluster, as a brand-new server lacks them: their objects in `db` (and its copies set aside by restores) go to the superuser first. */
async function dropRoles(): Promise<void> {
  const databases = await withAdmin((c) => c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [`${db}%`]));
  for (const { datname } of databases.rows) {
    await withAdmin(async (c) => {
      for (const r of ROLES) await c.query(`DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${r}') THEN REASSIGN OWNED BY ${r} TO CURRENT_USER; DROP OWNED BY ${r}; END IF; END $$`);
    }, datname);
  }
  await withAdmin(async (c) => {
    for (const r of ROLES) await c.query(`DROP ROLE IF EXISTS ${r}`);
  });
}

/** Logs in as `user` with `password` over TCP, where the test clusters check scram-sha-256 passwords; the error's SQLSTATE, or 'ok'. */
async function login(server: { host: string; port: number }, user: string, password: string, database: string): Promise<string> {
  const client = new pg.Client({ host: server.host, port: server.port, user, password, database });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return 'ok';
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function restore(input: Record<string, unknown>, cfg: Config = config): Promise<Record<string, unknown>> {
  const client = await testClient();
  return onWorker(cfg, (taskQueue) =>
    client.workflow.execute(restoreDatabase, { taskQueue, workflowId: workflowId('roles-restore'), args: [{ confirm_restore: true, create_pre_restore_backup: false, ...input }] }) as Promise<unknown> as Promise<Record<string, unknown>>,
  );
}

let key: { file: string; recipient: string };

beforeAll(async () => {
  const keyFile = path.join(tempDir('agekey'), 'key.txt');
  await execa('age-keygen', ['-o', keyFile]);
  key = { file: keyFile, recipient: (await execa('age-keygen', ['-y', keyFile])).stdout.trim() };
  db = await createDatabase('roles_src');
  await withAdmin(async (c) => {
    await c.query(`CREATE ROLE ${OWNER} NOLOGIN CREATEDB`);
    await c.query(`CREATE ROLE ${READERS} NOLOGIN NOINHERIT`);
    await c.query(`CREATE ROLE ${ALICE} LOGIN PASSWORD 'alice-secret-pw' CONNECTION LIMIT 3 VALID UNTIL '2031-01-01 00:00:00+00'`);
    await c.query(`CREATE ROLE ${WRITER} LOGIN CREATEROLE PASSWORD 'writer-pw' IN ROLE ${READERS}`);
    await c.query(`GRANT ${READERS} TO ${ALICE} WITH ADMIN OPTION`);
  });
  await withAdmin(async (c) => {
    await c.query(`CREATE TABLE household_notes (id int PRIMARY KEY, body text); INSERT INTO household_notes VALUES (1, 'a'), (2, 'b')`);
    await c.query(`ALTER TABLE household_notes OWNER TO ${OWNER}`);
    await c.query(`GRANT SELECT ON household_notes TO ${READERS}; GRANT INSERT ON household_notes TO ${WRITER}`);
  }, db);
  config = testConfig({ database: db });
  config = { ...config, backup: { ...config.backup, ageRecipients: [key.recipient], ageIdentityFile: key.file } };
});
afterAll(async () => {
  await dropDatabase(db);
  await withAdmin(async (c) => {
    for (const d of (await c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [`${db}%`])).rows) await c.query(`DROP DATABASE IF EXISTS ${d.datname} WITH (FORCE)`);
  });
  await withAdmin(async (c) => {
    for (const r of ROLES) await c.query(`DROP ROLE IF EXISTS ${r}`);
  }).catch(() => undefined);
});

describe('cluster roles', () => {
  let filename: string;
  let before: Awaited<ReturnType<typeof rolesState>>;
  let atBackup: Awaited<ReturnType<typeof fingerprint>>;

  it('an encrypted backup records the roles the database uses (owner, grantees, their groups and members) and their passwords only encrypted', async () => {
    before = await rolesState();
    expect(before.roles).toHaveLength(4);
    atBackup = await fingerprint(db);
    const client = await testClient();
    const result = await onWorker(config, (taskQueue) => client.workflow.execute(backupDatabase, { taskQueue, workflowId: workflowId('roles-backup'), args: [{ backup_type: 'manual', cleanup_old: false }] }));
    filename = result.filename;
    const text = fs.readFileSync(path.join(config.backup.dir, manifestName(filename)), 'utf8');
    const manifest = JSON.parse(text) as BackupManifest;
    expect(manifest.cluster_roles!.roles.map((r) => r.name).filter((n) => ROLES.includes(n))).toEqual(ROLES);
    expect(manifest.cluster_roles!.roles.find((r) => r.name === ALICE)).toEqual({
      name: ALICE, superuser: false, createdb: false, createrole: false, inherit: true, login: true, replication: false, bypassrls: false, connection_limit: 3,
      valid_until: '2031-01-01T00:00:00.000Z', member_of: [{ role: READERS, admin_option: true }],
    });
    expect(manifest.cluster_roles!.passwords_age).toMatch(/^-----BEGIN AGE ENCRYPTED FILE-----/);
    expect(manifest.cluster_roles!.note).toBeNull();
    // Neither the hash nor anything like it is readable in the manifest.
    expect(text).not.toContain('SCRAM-SHA-256');
    expect(text).not.toContain(before.roles.find((r: { rolname: string }) => r.rolname === ALICE)!.rolpassword as string);
  });

  it('a restore onto a cluster without the roles recreates them as they were: attributes, memberships, password hashes', async () => {
    expect(filename).toBeDefined();
    await dropRoles();
    expect((await rolesState()).roles).toEqual([]);
    const result = await restore({ backup_filename: filename });
    expect(result).toMatchObject({ status: 'success' });
    expect([...(result.roles_created as string[])].sort()).toEqual(ROLES);
    // The same SCRAM verifiers: the same passwords log in (the test cluster trusts every local login, so a login would prove nothing here).
    expect(await rolesState()).toEqual(before);
    expect(await login(config.database, ALICE, 'alice-secret-pw', db)).toBe('ok');
    expect(await login(config.database, ALICE, 'wrong-pw', db)).toBe('28P01');
    expect(diffFingerprints(atBackup, await fingerprint(db))).toEqual([]);
    const grants = await withAdmin((c) => c.query<{ grantee: string; privilege_type: string }>(`SELECT grantee, privilege_type FROM information_schema.role_table_grants WHERE table_name = 'household_notes' AND grantee = ANY($1) ORDER BY 1, 2`, [[READERS, WRITER]]), db);
    expect(grants.rows).toEqual([{ grantee: READERS, privilege_type: 'SELECT' }, { grantee: WRITER, privilege_type: 'INSERT' }].sort((a, b) => a.grantee.localeCompare(b.grantee)));
  });

  it('a restore onto a brand-new server (no roles, an empty database) brings the roles back, and alice logs in with her password', async () => {
    expect(filename).toBeDefined();
    const server = await startPgCluster();
    try {
      await withServer(server, 'postgres', (c) => c.query(`CREATE DATABASE ${db}`));
      const target: Config = { ...config, database: { ...config.database, host: server.host, port: server.port, user: server.user, password: server.password }, pgBinDir: server.binDir };
      const result = await restore({ backup_filename: filename }, target);
      expect(result).toMatchObject({ status: 'success' });
      // With the sample database's own roles, which this server lacked too.
      expect(result.roles_created).toEqual(expect.arrayContaining(ROLES));
      expect(await login(server, ALICE, 'alice-secret-pw', db)).toBe('ok');
      expect(await login(server, WRITER, 'writer-pw', db)).toBe('ok');
      expect(await login(server, ALICE, 'writer-pw', db)).toBe('28P01');
      const members = await withServer(server, 'postgres', (c) => c.query(`SELECT g.rolname AS role, u.rolname AS member, m.admin_option FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = ANY($1) ORDER BY 1, 2`, [ROLES]));
      expect(members.rows).toEqual(before.members);
    } finally {
      await server.stop();
    }
  });

  it('with recreate_roles: false, missing roles come back as before this feature: NOLOGIN, no password, no memberships', async () => {
    expect(filename).toBeDefined();
    await dropRoles();
    const result = await restore({ backup_filename: filename, recreate_roles: false });
    expect(result).toMatchObject({ status: 'success' });
    const after = await rolesState();
    // Only the roles the dump names (owner, grantees) are created; alice, a member only, is not.
    expect(after.roles.map((r: { rolname: string }) => r.rolname)).toEqual([OWNER, READERS, WRITER].sort());
    for (const r of after.roles as { rolcanlogin: boolean; rolpassword: string | null }[]) expect(r).toMatchObject({ rolcanlogin: false, rolpassword: null });
    expect(after.members).toEqual([]);
  });

  it('a backup by a user who may not read pg_authid records the roles without passwords, says why, and still verifies', async () => {
    const user = `bkp_${suffix}`;
    const database = `${user}_db`;
    await withAdmin((c) => c.query(`CREATE ROLE ${user} LOGIN CREATEDB PASSWORD 'bkp-pw'`));
    try {
      await withAdmin((c) => c.query(`CREATE DATABASE ${database} OWNER ${user}`));
      const self = { ...config.database, user, password: 'bkp-pw' };
      await withServer(self, database, (c) => c.query(`CREATE TABLE chores (id int PRIMARY KEY, what text); INSERT INTO chores VALUES (1, 'dishes')`));
      const cfg: Config = { ...config, database: { ...self, database }, backup: { ...config.backup, dir: tempDir('bkp') } };
      const client = await testClient();
      const result = await onWorker(cfg, (taskQueue) => client.workflow.execute(backupDatabase, { taskQueue, workflowId: workflowId('roles-nosuper'), args: [{ backup_type: 'manual', cleanup_old: false }] }));
      expect(result).toMatchObject({ status: 'success', verified: { ok: true }, table_details: { chores: 1 } });
      const manifest = JSON.parse(fs.readFileSync(path.join(cfg.backup.dir, manifestName(result.filename)), 'utf8')) as BackupManifest;
      expect(manifest.cluster_roles).toMatchObject({ passwords_age: null, note: 'pg_authid was not readable by the backup user (it needs superuser), so passwords were not recorded: recreated LOGIN roles need ALTER ROLE ... PASSWORD' });
      expect(manifest.cluster_roles!.roles.map((r) => r.name)).toContain(user);
    } finally {
      await withAdmin((c) => c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));
      await withAdmin(async (c) => {
        for (const d of (await c.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'fbb_verify_%' AND pg_get_userbyid(datdba) = $1", [user])).rows) await c.query(`DROP DATABASE IF EXISTS ${d.datname} WITH (FORCE)`);
        await c.query(`DROP ROLE IF EXISTS ${user}`);
      });
    }
  });

  it('an unencrypted backup records attributes and memberships but no passwords, and says so', async () => {
    const plain = { ...config, backup: { ...config.backup, ageRecipients: [], ageIdentityFile: undefined } };
    const client = await testClient();
    const result = await onWorker(plain, (taskQueue) => client.workflow.execute(backupDatabase, { taskQueue, workflowId: workflowId('roles-plain'), args: [{ backup_type: 'manual', cleanup_old: false }] }));
    expect(result.filename).toMatch(/\.sql\.gz$/);
    const manifest = JSON.parse(fs.readFileSync(path.join(plain.backup.dir, manifestName(result.filename)), 'utf8')) as BackupManifest;
    expect(manifest.cluster_roles).toMatchObject({ passwords_age: null, note: 'the backup is not encrypted, so passwords were not recorded: recreated LOGIN roles need ALTER ROLE ... PASSWORD' });
    expect(manifest.encryption).toBeNull();
  });
});
