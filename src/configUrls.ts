// The PostgreSQL URLs of the configuration (DATABASE_URL, VERIFY_TARGET) read into connection
// settings, and the configuration as it may be shown: passwords and credentials replaced.
import { parse as parseConnectionString } from 'pg-connection-string';
import type { Config, DatabaseConfig } from './config';
import type { Parsed } from './settings';

/** A postgres:// URL's parts; sslmode is read here, as libpq means it (pg-connection-string would warn that it reads it differently). */
function parsePostgresUrl(raw: string): { host: string; port: number; user?: string; password?: string; database?: string; sslmode?: string } {
  const sslmode = /[?&]sslmode=([^&]*)/.exec(raw)?.[1];
  const url = parseConnectionString(raw.replace(/([?&])sslmode=[^&]*&?/, '$1').replace(/[?&]$/, ''));
  const port = url.port ? Number(url.port) : 5432;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`port "${url.port}" is not a number from 1 to 65535`);
  return { host: url.host || 'localhost', port, user: url.user || undefined, password: url.password || undefined, database: url.database || undefined, sslmode };
}

/** The database to back up: DATABASE_URL when set (PGUSER/PGPASSWORD fill what it leaves out), else the PG* settings. */
export function databaseFrom(p: Parsed): DatabaseConfig {
  if (p.DATABASE_URL !== undefined) {
    const url = parsePostgresUrl(p.DATABASE_URL);
    return {
      host: url.host,
      port: url.port,
      user: url.user ?? p.PGUSER ?? 'postgres',
      password: url.password ?? p.PGPASSWORD,
      database: url.database ?? 'family_brain',
      sslmode: url.sslmode ?? p.PGSSLMODE,
      maintenanceDatabase: p.PG_MAINTENANCE_DB,
    };
  }
  return {
    host: p.PGHOST,
    port: p.PGPORT,
    user: p.PGUSER,
    password: p.PGPASSWORD,
    database: p.PGDATABASE,
    sslmode: p.PGSSLMODE,
    maintenanceDatabase: p.PG_MAINTENANCE_DB,
  };
}

/** The user's verification server from its URL: its own user and password only (never PGUSER/PGPASSWORD of the source), database `postgres` unless named. */
export function verifyServerFrom(raw: string): DatabaseConfig {
  const url = parsePostgresUrl(raw);
  const database = url.database ?? 'postgres';
  return { host: url.host, port: url.port, user: url.user ?? 'postgres', password: url.password, database, sslmode: url.sslmode, maintenanceDatabase: database };
}

/** Replaces the password in a scheme://user:password@host URL with ***. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:).*@/i, '$1***@');
}

/**
 * DATABASE_URL as it may be shown: redactUrl for a scheme://user:password@host URL; any other
 * value may hold a password anywhere (postgres:user:pw@host, key=value pairs), so it is not shown
 * unless it has no ":", "@" or "=" to hide one behind.
 */
export function redactDatabaseUrl(url: string): string {
  if (url.includes('://') || !/[:@=]/.test(url)) return redactUrl(url);
  return '<not shown: not a postgres://user:password@host URL, so a password in it cannot be told apart>';
}

/** The config as it may be printed or logged: no password, no credentials. */
export function redactConfig(config: Config, env: NodeJS.ProcessEnv = process.env): Record<string, unknown> {
  return {
    ...config,
    database: { ...config.database, password: config.database.password === undefined ? undefined : '***' },
    temporal: { ...config.temporal, apiKey: config.temporal.apiKey === undefined ? undefined : '***' },
    ...(config.verify?.server === undefined ? {} : { verify: { ...config.verify, server: { ...config.verify.server, password: config.verify.server.password === undefined ? undefined : '***' } } }),
    // A webhook URL often carries its token in the path or query: only the host is shown.
    notify: { ...config.notify, webhookUrls: config.notify.webhookUrls.map((u) => `${new URL(u).host} (rest not shown)`) },
    ...(config.tracing === undefined ? {} : { tracing: { endpoint: redactUrl(config.tracing.endpoint) } }),
    s3:
      config.s3 === undefined
        ? undefined
        : { ...config.s3, credentials: env.AWS_ACCESS_KEY_ID ? 'AWS_ACCESS_KEY_ID=*** (environment)' : 'AWS SDK default chain' },
  };
}
