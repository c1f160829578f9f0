// Cluster roles travel with a backup: the dump records the roles the database uses (attributes
// and memberships, from pg_roles and pg_auth_members; password hashes from pg_authid only into an
// encrypted backup), and a restore onto a server that lacks them recreates them as they were.
import fs from 'node:fs/promises';
import path from 'node:path';
import { escapeIdentifier as quote, type Client } from 'pg';
import type { CreatedRole } from '../backup/createdRoles';
import type { ClusterRoles, EncryptionInfo, RoleDefinition } from '../backup/manifest';
import { manifestName, parseManifest } from '../backup/manifest';
import type { Config } from '../config';
import { decryptText, encryptText } from './encryption';

/**
 * The roles `referenced` (owners, grantees) name, with every role they are members of and every
 * member of theirs, transitively; built-in pg_* roles are left out. Passwords (pg_authid, readable
 * by superusers only) are recorded, encrypted to the backup's recipients, only when `encryption` is set.
 */
export async function recordClusterRoles(client: Client, referenced: string[], encryption: EncryptionInfo | null): Promise<ClusterRoles> {
  const { rows } = await client.query<{ name: string; superuser: boolean; createdb: boolean; createrole: boolean; inherit: boolean; login: boolean; replication: boolean; bypassrls: boolean; connection_limit: number; valid_until: Date | null; member_of: { role: string; admin_option: boolean }[] | null }>(
    `WITH RECURSIVE linked(oid) AS (
       SELECT oid FROM pg_roles WHERE rolname = ANY($1)
       UNION
       SELECT CASE WHEN m.member = l.oid THEN m.roleid ELSE m.member END
         FROM pg_auth_members m JOIN linked l ON m.member = l.oid OR m.roleid = l.oid
     )
     SELECT r.rolname AS name, r.rolsuper AS superuser, r.rolcreatedb AS createdb, r.rolcreaterole AS createrole,
            r.rolinherit AS inherit, r.rolcanlogin AS login, r.rolreplication AS replication, r.rolbypassrls AS bypassrls,
            r.rolconnlimit AS connection_limit, r.rolvaliduntil AS valid_until,
            (SELECT json_agg(json_build_object('role', g.rolname, 'admin_option', m.admin_option) ORDER BY g.rolname)
               FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
              WHERE m.member = r.oid) AS member_of
       FROM pg_roles r JOIN (SELECT DISTINCT oid FROM linked) l ON l.oid = r.oid
      WHERE r.rolname !~ '^pg_'
      ORDER BY r.rolname`,
    [referenced],
  );
  const roles: RoleDefinition[] = rows.map((r) => ({ ...r, valid_until: r.valid_until === null ? null : new Date(r.valid_until).toISOString(), member_of: r.member_of ?? [] }));
  if (encryption === null) return { roles, passwords_age: null, note: 'the backup is not encrypted, so passwords were not recorded: recreated LOGIN roles need ALTER ROLE ... PASSWORD' };
  let hashes: { rolname: string; rolpassword: string }[];
  // In a savepoint: the dump's snapshot transaction must survive a refused read.
  await client.query('SAVEPOINT fbb_roles');
  try {
    hashes = (await client.query<{ rolname: string; rolpassword: string }>('SELECT rolname, rolpassword FROM pg_authid WHERE rolname = ANY($1) AND rolpassword IS NOT NULL', [roles.map((r) => r.name)])).rows;
    await client.query('RELEASE SAVEPOINT fbb_roles');
  } catch (err) {
    await client.query('ROLLBACK TO SAVEPOINT fbb_roles');
    if ((err as { code?: string }).code !== '42501') throw err;
    return { roles, passwords_age: null, note: 'pg_authid was not readable by the backup user (it needs superuser), so passwords were not recorded: recreated LOGIN roles need ALTER ROLE ... PASSWORD' };
  }
  const passwords = Object.fromEntries(hashes.map((h) => [h.rolname, h.rolpassword]));
  return { roles, passwords_age: await encryptText(encryption.recipients, JSON.stringify(passwords)), note: null };
}


/** The comment a restore leaves on each role it creates: a retried attempt knows them by it. */
export const createdByComment = (filename: string) => `fbb: created by the restore of ${filename}`;

/**
 * Creates the recorded roles this server lacks, with their attributes, password hashes (when the
 * backup carries them; decrypted with BACKUP_AGE_IDENTITY_FILE) and memberships; roles that exist
 * are left as they are. Attributes only a superuser may grant (SUPERUSER, REPLICATION, BYPASSRLS)
 * are left out when the restoring user is not one. Run it inside the caller's transaction: the
 * roles and their memberships then exist together or not at all. Roles an earlier attempt of
 * the same restore created (their comment says so) count as created: their recorded memberships
 * that are missing are granted, and they are reported.
 */
export async function recreateRoles(config: Config, client: Client, recorded: ClusterRoles, filename: string): Promise<CreatedRole[]> {
  const names = recorded.roles.map((r) => r.name);
  const mark = createdByComment(filename);
  const existing = (await client.query<{ rolname: string; note: string | null }>("SELECT rolname, shobj_description(oid, 'pg_authid') AS note FROM pg_roles WHERE rolname = ANY($1)", [names])).rows;
  const present = new Set(existing.map((r) => r.rolname));
  const ours = new Set(existing.filter((r) => r.note === mark).map((r) => r.rolname));
  const missing = recorded.roles.filter((r) => !present.has(r.name));
  const me = (await client.query<{ rolsuper: boolean }>('SELECT rolsuper FROM pg_roles WHERE rolname = current_user')).rows[0];
  const passwords: Record<string, string> = missing.length + ours.size === 0 || recorded.passwords_age === null ? {} : (JSON.parse(await decryptText(config, recorded.passwords_age, `the role passwords recorded with backup "${filename}"`)) as Record<string, string>);
  for (const role of missing) {
    const options = [
      role.login ? 'LOGIN' : 'NOLOGIN',
      role.inherit ? 'INHERIT' : 'NOINHERIT',
      role.createdb ? 'CREATEDB' : 'NOCREATEDB',
      role.createrole ? 'CREATEROLE' : 'NOCREATEROLE',
      ...(me?.rolsuper ? [role.superuser ? 'SUPERUSER' : 'NOSUPERUSER', role.replication ? 'REPLICATION' : 'NOREPLICATION', role.bypassrls ? 'BYPASSRLS' : 'NOBYPASSRLS'] : []),
      `CONNECTION LIMIT ${Number(role.connection_limit)}`,
      ...(role.valid_until === null ? [] : [`VALID UNTIL ${client.escapeLiteral(role.valid_until)}`]),
      // A stored hash (SCRAM-SHA-256$… or md5…) is taken as is: the password itself never exists here.
      ...(passwords[role.name] === undefined ? [] : [`PASSWORD ${client.escapeLiteral(passwords[role.name]!)}`]),
    ];
    await client.query(`CREATE ROLE ${quote(role.name)} ${options.join(' ')}`);
    await client.query(`COMMENT ON ROLE ${quote(role.name)} IS ${client.escapeLiteral(mark)}`);
    ours.add(role.name);
  }
  for (const role of recorded.roles) {
    for (const m of role.member_of) {
      // Only memberships a role this restore created takes part in: existing roles' memberships are not ours to change.
      if (!ours.has(role.name) && !ours.has(m.role)) continue;
      const have = await client.query('SELECT 1 FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles u ON u.oid = a.member WHERE g.rolname = $1 AND u.rolname = $2', [m.role, role.name]);
      if (have.rowCount === 0) await client.query(`GRANT ${quote(m.role)} TO ${quote(role.name)}${m.admin_option ? ' WITH ADMIN OPTION' : ''}`);
    }
  }
  return recorded.roles.filter((r) => ours.has(r.name)).map((r) => ({ name: r.name, login: r.login, password: r.login && passwords[r.name] !== undefined }));
}

/**
 * Creates the roles a restore beside the live database needs, in ONE transaction on `client`:
 * those recorded with the backup as they were (unless recreate_roles false), any other missing one
 * NOLOGIN without password; none at all with create_roles false (a partial restore's default).
 */
export async function createRestoreRoles(config: Config, client: Client, prepared: { filename: string; roles_missing: string[]; recreate_roles?: boolean; create_roles?: false }): Promise<CreatedRole[]> {
  if (prepared.create_roles === false) return [];
  await client.query('BEGIN');
  try {
    const recorded = prepared.recreate_roles === false ? null : await recordedRoles(config, prepared.filename);
    const created = recorded === null ? [] : await recreateRoles(config, client, recorded, prepared.filename);
    const mark = createdByComment(prepared.filename);
    for (const role of prepared.roles_missing) {
      const { rows } = await client.query<{ note: string | null }>("SELECT shobj_description(oid, 'pg_authid') AS note FROM pg_roles WHERE rolname = $1", [role]);
      if (rows.length === 0) {
        await client.query(`CREATE ROLE ${quote(role)} NOLOGIN`);
        await client.query(`COMMENT ON ROLE ${quote(role)} IS ${client.escapeLiteral(mark)}`);
      }
      if ((rows.length === 0 || rows[0]!.note === mark) && !created.some((c) => c.name === role)) created.push({ name: role, login: false, password: false });
    }
    await client.query('COMMIT');
    return created;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** The roles recorded with a backup in BACKUP_DIR (its manifest); null for backups made before roles were recorded. */
export async function recordedRoles(config: Config, filename: string): Promise<ClusterRoles | null> {
  const text = await fs.readFile(path.join(config.backup.dir, manifestName(filename)), 'utf8').catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  });
  return text === undefined ? null : (parseManifest(text, manifestName(filename)).cluster_roles ?? null);
}
