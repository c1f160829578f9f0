import fs from 'node:fs';
import path from 'node:path';

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
