import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/client/cli';
import { LOCAL_NOTICE } from '../src/client/runner';
import type { DoctorReport } from '../src/doctor/report';
import { createDatabase, dropDatabase, tempDir, testConfig } from './helpers';

let db: string;
beforeAll(async () => {
  db = await createDatabase('cli');
});
afterAll(async () => {
  await dropDatabase(db);
});

/** The environment a user would set for the test database. */
function userEnv(overrides: Record<string, string> = {}): NodeJS.ProcessEnv {
  const c = testConfig({ database: db });
  return {
    PGHOST: c.database.host,
    PGPORT: String(c.database.port),
    PGUSER: c.database.user,
    PGPASSWORD: c.database.password,
    PGDATABASE: c.database.database,
    PG_BIN_DIR: c.pgBinDir,
    BACKUP_DIR: tempDir(),
    TEMPORAL_ADDRESS: '127.0.0.1:1',
    ...overrides,
  };
}

async function fbb(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (d: Buffer) => (stdout += d.toString()));
  err.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await runCli(args, { stdout: out, stderr: err, env });
  return { code, stdout, stderr };
}

describe('fbb doctor', () => {
  it('--local --json prints the report and exits 0 when every check passes', async () => {
    const { code, stdout, stderr } = await fbb(['doctor', '--local', '--json'], userEnv());
    const report = JSON.parse(stdout) as DoctorReport;
    expect(report.status).toBe('ok');
    expect(report.checks.map((c) => [c.name, c.status])).toEqual([
      ['database', 'ok'], ['pg_dump', 'ok'], ['pg_restore', 'ok'], ['psql', 'ok'], ['pgvector_server', 'ok'],
      ['pgvector_database', 'ok'], ['backup_dir', 'ok'], ['s3', 'skip'], ['temporal', 'skip'],
    ]);
    expect(stderr).toContain(LOCAL_NOTICE);
    expect(code).toBe(0);
  });

  it('--local prints one line per check with the hint under a failure, and exits 1', async () => {
    const { code, stdout } = await fbb(['doctor', '--local'], userEnv({ PGPASSWORD: 'wrong-password' }));
    expect(stdout).toMatch(/^FAIL {2}database {11}cannot connect to postgres@127\.0\.0\.1:\d+\/fbb_cli_\w+: password authentication failed for user "postgres"$/m);
    expect(stdout).toMatch(/^ {25}-> check the password in DATABASE_URL or PGPASSWORD$/m);
    expect(stdout).toMatch(/\n\n1 check\(s\) failed: fix them before relying on backups\n$/);
    expect(stdout).not.toContain('wrong-password');
    expect(code).toBe(1);
  });

  it('without --local and no Temporal server, exits 3 and says how to go on', async () => {
    const { code, stderr } = await fbb(['doctor'], userEnv());
    expect(stderr).toMatch(/^fbb: cannot connect to Temporal at 127\.0\.0\.1:1: .*add --local to run in this process\n$/s);
    expect(code).toBe(3);
  });

  it('exits 2 with every bad variable named when the configuration is invalid', async () => {
    const { code, stderr } = await fbb(['doctor', '--local'], userEnv({ PGPORT: 'x', BACKUP_PREFIX: 'bad prefix' }));
    expect(stderr).toContain('PGPORT="x": Invalid input: expected number, received NaN (example: PGPORT=5432)');
    expect(stderr).toContain('BACKUP_PREFIX="bad prefix": must be letters, digits, "_" or "-" (example: BACKUP_PREFIX=family_brain)');
    expect(code).toBe(2);
  });

  it('exits 2 on an unknown command or flag', async () => {
    expect((await fbb(['backupp'], userEnv())).code).toBe(2);
    const flag = await fbb(['doctor', '--loca'], userEnv());
    expect(flag.stderr).toContain("error: unknown option '--loca'");
    expect(flag.code).toBe(2);
  });

  it('--help shows examples that are real invocations', async () => {
    const { code, stdout } = await fbb(['doctor', '--help'], userEnv());
    expect(stdout).toContain('$ fbb doctor --local');
    expect(stdout).toContain('$ fbb doctor --json');
    expect(code).toBe(0);
  });
});
