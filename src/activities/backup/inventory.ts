import { Context } from '@temporalio/activity';
import type { ClientBase } from 'pg';
import { pausePoint } from '../pausePoint';
import { tableFailure } from '../db';
import { every } from '../stream';
import type { ExtensionInfo } from '../../backup/manifest';

/** Ordinary tables whose rows pg_dump writes: not system schemas, not owned by an extension. */
export const TABLES_SQL = `
SELECT n.nspname AS schema, c.relname AS name, format('%I.%I', n.nspname, c.relname) AS quoted
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r'
  AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C"`;

/** The key of a table in table_details: bare name in public (as the guide shows), schema.name elsewhere. */
export function tableKey(schema: string, name: string): string {
  return schema === 'public' ? name : `${schema}.${name}`;
}

/**
 * Exact row count of every table, in the client's current snapshot. Inside an activity it
 * heartbeats every 5 s meanwhile: counting a very large table can outlast the heartbeat timeout.
 * A caller that heartbeats itself while counting (the dump) turns that off.
 */
export async function countRows(client: ClientBase, options: { heartbeat?: boolean } = {}): Promise<Record<string, number>> {
  // Test hook (FBB_TEST_PAUSE_AT="count <database>"): stops a worker as it starts counting a database, e.g. the live one after a swap.
  if (process.env.FBB_TEST_PAUSE_AT?.startsWith('count ')) await pausePoint(`count ${(await client.query<{ d: string }>('SELECT current_database() AS d')).rows[0]!.d}`);
  const tables = await client.query<{ schema: string; name: string; quoted: string }>(TABLES_SQL);
  const counts: Record<string, number> = {};
  let done = 0;
  const beat = options.heartbeat ?? true;
  const stop = every(5_000, () => beat && heartbeat({ step: 'count', tables_counted: done, tables: tables.rows.length }));
  try {
    for (const t of tables.rows) {
      const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${t.quoted}`).catch((err: unknown) => {
        throw tableFailure(err, `${t.schema}.${t.name}`);
      });
      counts[tableKey(t.schema, t.name)] = Number(rows[0]?.n ?? 0);
      done++;
    }
  } finally {
    stop();
  }
  return counts;
}

/** Heartbeats when running in an activity; a no-op elsewhere (scripts, tests of pure code). */
function heartbeat(details: unknown): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    // Not in an activity.
  }
}

/** Extensions installed in the database (plpgsql, which every database has, left out). */
export async function listExtensions(client: ClientBase): Promise<ExtensionInfo[]> {
  const { rows } = await client.query<ExtensionInfo>("SELECT extname AS name, extversion AS version FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY extname");
  return rows;
}

/** The server's version string, e.g. "15.20 (Debian 15.20-0+deb12u1)". */
export async function serverVersion(client: ClientBase): Promise<string> {
  const { rows } = await client.query<{ v: string }>("SELECT current_setting('server_version') AS v");
  return rows[0]?.v ?? 'unknown';
}

/** Total of all counts. */
export function totalRows(counts: Record<string, number>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

// Roles that own or are granted something in this database; PUBLIC (grantee 0) is not a role.
const ROLES_SQL = `
WITH user_ns AS (SELECT oid FROM pg_namespace WHERE nspname !~ '^pg_' AND nspname <> 'information_schema'),
refs AS (
  SELECT relowner AS r FROM pg_class WHERE relnamespace IN (SELECT oid FROM user_ns)
  UNION SELECT nspowner FROM pg_namespace WHERE oid IN (SELECT oid FROM user_ns)
  UNION SELECT proowner FROM pg_proc WHERE pronamespace IN (SELECT oid FROM user_ns)
  UNION SELECT typowner FROM pg_type WHERE typnamespace IN (SELECT oid FROM user_ns)
  UNION SELECT (aclexplode(relacl)).grantee FROM pg_class WHERE relacl IS NOT NULL AND relnamespace IN (SELECT oid FROM user_ns)
  UNION SELECT (aclexplode(nspacl)).grantee FROM pg_namespace WHERE nspacl IS NOT NULL AND oid IN (SELECT oid FROM user_ns)
  UNION SELECT (aclexplode(proacl)).grantee FROM pg_proc WHERE proacl IS NOT NULL AND pronamespace IN (SELECT oid FROM user_ns)
  UNION SELECT defaclrole FROM pg_default_acl
  UNION SELECT (aclexplode(defaclacl)).grantee FROM pg_default_acl
)
SELECT rolname FROM pg_roles WHERE oid IN (SELECT r FROM refs) ORDER BY rolname`;

/** Cluster roles the database's objects refer to (owners and grantees). */
export async function referencedRoles(client: ClientBase): Promise<string[]> {
  const { rows } = await client.query<{ rolname: string }>(ROLES_SQL);
  return rows.map((r) => r.rolname);
}
