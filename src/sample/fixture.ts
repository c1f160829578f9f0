import fs from 'node:fs';
import path from 'node:path';
import type { ClientBase } from 'pg';
import { sampleRowsSql } from './sampleRows';

/** Options for the sample database; `scale` multiplies row counts (1 = small test size, a few hundred rows per big table, ~1-3 MB). */
export interface SampleOptions {
  scale?: number;
  seed?: number;
}

/** Table names the sample creates, in the `public` schema. */
export const SAMPLE_TABLES: readonly string[] = Object.freeze([
  'tenants',
  'users',
  'family_members',
  'family_documents',
  'document_chunks',
  'tags',
  'document_tags',
  'chat_sessions',
  'chat_messages',
  'ai_usage',
  'system_logs',
  'reminders',
  'api_keys',
  'settings',
  'expenses',
]);

/** Role names the sample grants privileges to (created cluster-wide with IF NOT EXISTS semantics). */
export const SAMPLE_ROLES: readonly string[] = Object.freeze(['family_brain_app']);

const APP_ROLE = 'family_brain_app';

/** The SQL (schema + deterministic data) that creates the sample database contents in an empty database. */
export function sampleDatabaseSql(options: SampleOptions = {}): string {
  return [schemaSql(), roleSql(), sampleRowsSql(options), grantSql()].join('\n\n') + '\n';
}

/** Runs sampleDatabaseSql in the database `client` is connected to (one transaction). */
export async function loadSampleDatabase(client: ClientBase, options: SampleOptions = {}): Promise<void> {
  const sql = sampleDatabaseSql(options);
  // Committed on its own so concurrent loads into other databases never wait on an uncommitted CREATE ROLE.
  await client.query(roleSql());
  await client.query('BEGIN');
  try {
    await client.query(sql);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** The sample schema, from sample-schema.sql beside this file's source (dist/ has no copy). */
function schemaSql(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return fs.readFileSync(path.join(dir, 'src', 'sample', 'sample-schema.sql'), 'utf8');
}

/** Creates the application role once per cluster, tolerating concurrent loads into other databases. */
function roleSql(): string {
  return `DO $role$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${APP_ROLE}') THEN
    BEGIN
      CREATE ROLE ${APP_ROLE} NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL;
    END;
  END IF;
END;
$role$;`;
}

function grantSql(): string {
  return [
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${APP_ROLE};`,
    `GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${APP_ROLE};`,
  ].join('\n');
}
