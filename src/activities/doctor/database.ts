import type { DatabaseConfig } from '../../config';
import { check, type CheckResult } from '../../doctor/report';
import { withClient } from '../db';

/** What the database checks learned, for the checks that depend on it. */
export interface ServerFacts {
  serverVersion: string;
  serverMajor: number;
}

/** Connects to the database and reports the server version, or why it could not connect. */
export async function checkDatabase(db: DatabaseConfig): Promise<{ result: CheckResult; facts?: ServerFacts }> {
  const where = `${db.user}@${db.host}:${db.port}/${db.database}`;
  try {
    const facts = await withClient(db, async (client) => {
      const { rows } = await client.query<{ server_version: string; num: string }>(
        "SELECT current_setting('server_version') AS server_version, current_setting('server_version_num') AS num",
      );
      const row = rows[0];
      if (row === undefined) throw new Error('the server returned no version');
      return { serverVersion: row.server_version, serverMajor: Math.floor(Number(row.num) / 10000) };
    });
    return { result: check('database', 'ok', `connected to ${where}, PostgreSQL ${facts.serverVersion}`), facts };
  } catch (err) {
    const { detail, hint } = explainConnectionError(err, db);
    return { result: check('database', 'fail', `cannot connect to ${where}: ${detail}`, hint) };
  }
}

/** Turns a connection error into what happened and what to do about it. */
export function explainConnectionError(err: unknown, db: DatabaseConfig): { detail: string; hint: string } {
  const e = err as { code?: string; message?: string };
  const message = e.message ?? String(err);
  switch (e.code) {
    case '28P01':
      return { detail: `password authentication failed for user "${db.user}"`, hint: 'check the password in DATABASE_URL or PGPASSWORD' };
    case '28000':
      return { detail: message, hint: `allow ${db.user} from this host in the server's pg_hba.conf, or connect as another user (DATABASE_URL/PGUSER)` };
    case '3D000':
      return {
        detail: `database "${db.database}" does not exist`,
        hint: `create it (createdb ${db.database}) or point DATABASE_URL/PGDATABASE at an existing database (psql -l lists them)`,
      };
    case 'ECONNREFUSED':
      return { detail: `nothing accepts connections at ${db.host}:${db.port}`, hint: 'start PostgreSQL, or fix the host and port in DATABASE_URL or PGHOST/PGPORT' };
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return { detail: `host "${db.host}" is not known`, hint: 'fix the host in DATABASE_URL or PGHOST; from a container, use the service name (e.g. "db")' };
    case '57P03':
      return { detail: 'the server is starting up or shutting down', hint: 'wait a moment and run "fbb doctor" again' };
    default:
      if (/timeout/i.test(message)) {
        return { detail: `no answer from ${db.host}:${db.port} within 10 s`, hint: 'check the network path and firewall between this machine and the database' };
      }
      return { detail: message, hint: 'check DATABASE_URL (or PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE)' };
  }
}
