import path from 'node:path';
import { execa } from 'execa';
import type { BackupFormat } from '../../backup/naming';
import { check, type CheckResult } from '../../doctor/report';
import { findToolCandidates } from '../clientTools';
import { chooseClientTools } from '../pgToolChoice';
import { parseToolVersion, pgToolPath, type PgTool } from '../pgTools';

const TOOLS: PgTool[] = ['pg_dump', 'pg_restore', 'psql'];

/**
 * Which client programs the activities will run against this server and why (the same choice they
 * make: the server's major, else the lowest newer one found), each checked to run; zstd must exist
 * when the backup format needs it, and should to restore .sql.zst files.
 */
export async function checkClientTools(pgBinDir: string | undefined, serverMajor: number | undefined, format: BackupFormat): Promise<CheckResult[]> {
  return Promise.all([...(await checkPgTools(pgBinDir, serverMajor)), checkZstd(format === 'plain_zstd')]);
}

async function checkPgTools(pgBinDir: string | undefined, serverMajor: number | undefined): Promise<CheckResult[]> {
  if (serverMajor === undefined) {
    return Promise.all(TOOLS.map(async (tool) => check(tool, 'warn', `${await describeTool(pgToolPath(tool, pgBinDir))}; the server version is unknown, so which tools fit is too`, 'fix the database check first')));
  }
  const choice = chooseClientTools(await findToolCandidates(pgBinDir), serverMajor);
  if (!choice.ok) return TOOLS.map((tool) => check(tool, 'fail', choice.reason, choice.fix));
  return Promise.all(TOOLS.map((tool) => checkTool(tool, path.join(choice.chosen.binDir, tool), choice.reason)));
}

async function describeTool(file: string): Promise<string> {
  const run = await execa(file, ['--version'], { reject: false, timeout: 10_000 });
  const version = run.exitCode === 0 ? parseToolVersion(run.stdout) : undefined;
  return version === undefined ? `${file} did not run` : `${file} is version ${version.version}`;
}

async function checkZstd(needed: boolean): Promise<CheckResult> {
  const run = await execa('zstd', ['--version'], { reject: false, timeout: 10_000 });
  if (run.failed || run.exitCode !== 0) {
    const why = needed ? 'BACKUP_FORMAT is plain_zstd, so every backup needs it' : '.sql.zst backups cannot be made or restored without it';
    return check('zstd', needed ? 'fail' : 'warn', `zstd is not on PATH; ${why}`, needed ? 'install zstd (Debian: apt-get install zstd) or set BACKUP_FORMAT=plain_gzip' : 'install zstd (Debian: apt-get install zstd)');
  }
  return check('zstd', 'ok', run.stdout.trim().replace(/^\*\*\*\s*/, '').replace(/\s*\*\*\*$/, ''));
}

async function checkTool(tool: PgTool, file: string, why: string): Promise<CheckResult> {
  const run = await execa(file, ['--version'], { reject: false, timeout: 10_000 });
  if (run.failed || run.exitCode !== 0) {
    return check(tool, 'fail', `${file} did not run (${run.code ?? `exit ${String(run.exitCode)}`}); chosen because ${why}`, 'install the complete PostgreSQL client package of that major, or set PG_BIN_DIR');
  }
  return check(tool, 'ok', `${file} ${parseToolVersion(run.stdout)?.version ?? run.stdout.trim()}; chosen: ${why}`);
}
