import fs from 'node:fs';
import path from 'node:path';
import type { DatabaseConfig } from '../config';

/** The PostgreSQL client programs the activities run. */
export type PgTool = 'pg_dump' | 'pg_restore' | 'psql' | 'pg_dumpall';

/**
 * Where a PostgreSQL client program lives: PG_BIN_DIR when set, else the newest Debian
 * versioned directory (/usr/lib/postgresql/N/bin: /usr/bin/psql is a version-picking wrapper),
 * else whatever is on PATH.
 */
export function pgToolPath(tool: PgTool, pgBinDir: string | undefined): string {
  if (pgBinDir !== undefined) return path.join(pgBinDir, tool);
  const found = debianPgBinDirs().map((dir) => path.join(dir, tool)).find((file) => fs.existsSync(file));
  return found ?? tool;
}

/** Debian's versioned PostgreSQL bin directories, newest first. */
export function debianPgBinDirs(root = '/usr/lib/postgresql'): string[] {
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root)
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a))
    .map((v) => path.join(root, v, 'bin'));
}

/** Parses "pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)" into { major: 15, version: '15.20' }. */
export function parseToolVersion(output: string): { major: number; version: string } | undefined {
  const match = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(output);
  if (!match?.[1]) return undefined;
  return { major: Number(match[1]), version: match[2] === undefined ? match[1] : `${match[1]}.${match[2]}` };
}

/** Variables a libpq child inherits; connection settings come from the config only. */
const PASSED_THROUGH = ['HOME', 'LANG', 'LC_ALL', 'PGSSLROOTCERT', 'PGSSLCERT', 'PGSSLKEY', 'PGSSLCRL', 'PGCONNECT_TIMEOUT', 'PGTARGETSESSIONATTRS'];

/** Environment for a libpq child (pg_dump, psql): the password travels here, never in argv. */
export function libpqEnv(db: DatabaseConfig, database: string = db.database, inherit: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  // TLS files and timeouts a user set for libpq still apply; HOME is where libpq finds ~/.postgresql/root.crt.
  for (const name of PASSED_THROUGH) {
    const value = inherit[name];
    if (value !== undefined) env[name] = value;
  }
  Object.assign(env, {
    PGHOST: db.host,
    PGPORT: String(db.port),
    PGUSER: db.user,
    PGDATABASE: database,
    PGAPPNAME: 'family-brain-backup',
  });
  if (db.password !== undefined) env.PGPASSWORD = db.password;
  if (db.sslmode !== undefined) env.PGSSLMODE = db.sslmode;
  return env;
}
