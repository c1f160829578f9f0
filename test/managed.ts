// A database as on managed PostgreSQL, on the shared test cluster: owned by a role that may log in
// but not create databases (nor roles), so a restore takes the in-place path. For the issue 21 tests.
import type { Config } from '../src/config';
import { tempDir, testConfig, uniqueName, withAdmin, withServer } from './helpers';

/** What managedDatabase made: the database, its role, a client login as that role, configs for the admin and the role. */
export interface ManagedDatabase {
  db: string;
  role: string;
  asRole: { host: string; port: number; user: string; password: string };
  dir: string;
  /** A superuser in `dir`: where the backups to restore are made (a scratch database may be created). */
  adminConfig: Config;
  /** The role without CREATEDB, same database and directory. */
  roleConfig: Config;
}

/** Creates a role without CREATEDB owning a new database with one table (`notes`, 100 rows); the caller drops both (names start with fbb_). */
export async function managedDatabase(label: string): Promise<ManagedDatabase> {
  const admin = testConfig();
  const role = uniqueName(`${label}_owner`);
  const db = uniqueName(label);
  await withAdmin(async (c) => {
    await c.query(`CREATE ROLE ${role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '${admin.database.password}'`);
    await c.query(`CREATE DATABASE ${db} OWNER ${role}`);
  });
  const asRole = { host: admin.database.host, port: admin.database.port, user: role, password: admin.database.password! };
  await withServer(asRole, db, (c) => c.query("CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL); INSERT INTO notes (body) SELECT 'note ' || g FROM generate_series(1, 100) g"));
  const dir = tempDir(label.replace(/_/g, '-'));
  const adminConfig = testConfig({ database: db, backupDir: dir });
  return { db, role, asRole, dir, adminConfig, roleConfig: asRoleOf(adminConfig, role) };
}

/** `config` logging in as `role` (the test cluster's password). */
export function asRoleOf(config: Config, role: string): Config {
  return { ...config, database: { ...config.database, user: role } };
}

/** Drops the managed databases' roles (after their databases). */
export async function dropRoles(roles: string[]): Promise<void> {
  await withAdmin(async (c) => {
    for (const r of roles) await c.query(`DROP ROLE IF EXISTS ${r}`).catch(() => undefined);
  });
}
