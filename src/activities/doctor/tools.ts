import { execa } from 'execa';
import type { BackupFormat } from '../../backup/naming';
import { check, type CheckResult } from '../../doctor/report';
import { parseToolVersion, pgToolPath, type PgTool } from '../pgTools';

const TOOLS: PgTool[] = ['pg_dump', 'pg_restore', 'psql'];

/**
 * Each client program must exist and be at least the server's major version (pg_dump refuses newer
 * servers); zstd must exist when the backup format needs it, and should to restore .sql.zst files.
 */
export async function checkClientTools(pgBinDir: string | undefined, serverMajor: number | undefined, format: BackupFormat): Promise<CheckResult[]> {
  return Promise.all([...TOOLS.map((tool) => checkTool(tool, pgToolPath(tool, pgBinDir), serverMajor)), checkZstd(format === 'plain_zstd')]);
}

async function checkZstd(needed: boolean): Promise<CheckResult> {
  const run = await execa('zstd', ['--version'], { reject: false, timeout: 10_000 });
  if (run.failed || run.exitCode !== 0) {
    const why = needed ? 'BACKUP_FORMAT is plain_zstd, so every backup needs it' : '.sql.zst backups cannot be made or restored without it';
    return check('zstd', needed ? 'fail' : 'warn', `zstd is not on PATH; ${why}`, needed ? 'install zstd (Debian: apt-get install zstd) or set BACKUP_FORMAT=plain_gzip' : 'install zstd (Debian: apt-get install zstd)');
  }
  return check('zstd', 'ok', run.stdout.trim().replace(/^\*\*\*\s*/, '').replace(/\s*\*\*\*$/, ''));
}

async function checkTool(tool: PgTool, file: string, serverMajor: number | undefined): Promise<CheckResult> {
  const install = 'install the PostgreSQL client package matching the server (Debian: postgresql-client-15), or set PG_BIN_DIR';
  const run = await execa(file, ['--version'], { reject: false, timeout: 10_000 });
  if (run.failed || run.exitCode !== 0) {
    return check(tool, 'fail', `${file} did not run (${run.code ?? `exit ${String(run.exitCode)}`})`, install);
  }
  const version = parseToolVersion(run.stdout);
  if (version === undefined) return check(tool, 'warn', `cannot read the version from "${run.stdout}"`, install);
  if (serverMajor === undefined) {
    return check(tool, 'warn', `${file} is version ${version.version}; the server version is unknown`, 'fix the database check first');
  }
  if (version.major < serverMajor) {
    return check(tool, 'fail', `${file} is version ${version.version}, older than the server (${serverMajor})`, install.replace('15', String(serverMajor)));
  }
  return check(tool, 'ok', `${file} ${version.version} (server ${serverMajor})`);
}
