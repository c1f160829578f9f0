import { execa } from 'execa';
import { check, type CheckResult } from '../../doctor/report';
import { parseToolVersion, pgToolPath, type PgTool } from '../pgTools';

const TOOLS: PgTool[] = ['pg_dump', 'pg_restore', 'psql'];

/** Each client program must exist and be at least the server's major version (pg_dump refuses newer servers). */
export async function checkClientTools(pgBinDir: string | undefined, serverMajor: number | undefined): Promise<CheckResult[]> {
  return Promise.all(TOOLS.map((tool) => checkTool(tool, pgToolPath(tool, pgBinDir), serverMajor)));
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
