import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runCli } from '../src/client/cli';
import { LOCAL_NOTICE } from '../src/client/localRunner';
import { BACKUP_FORMATS } from '../src/backup/naming';
import type { DoctorReport } from '../src/doctor/report';
import type { BackupResult } from '../src/workflows/backupDatabase';
import { captured, createDatabase, dropDatabase, NO_TEMPORAL_SERVER, testConfig, userEnvFor } from './helpers';


let db: string;
beforeAll(async () => {
  db = await createDatabase('cli');
});
afterAll(async () => {
  await dropDatabase(db);
});

/** The environment a user would set for the test database. */
function userEnv(overrides: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...userEnvFor(testConfig({ database: db })),
    ...NO_TEMPORAL_SERVER,
    ...overrides,
  };
}

async function fbb(args: string[], env: NodeJS.ProcessEnv, answers?: string[]): Promise<{ code: number; stdout: string; stderr: string; asked: string[] }> {
  const io = captured();
  const asked: string[] = [];
  const prompt = answers && (async (q: string) => (asked.push(q), answers.shift() ?? ''));
  const code = await runCli(args, { stdout: io.stdout, stderr: io.stderr, env, ...(prompt ? { prompt } : {}) });
  return { code, ...io.text(), asked };
}

describe('fbb doctor', () => {
  it('--local --json prints the report and exits 0 when every check passes', async () => {
    const { code, stdout, stderr } = await fbb(['doctor', '--local', '--json'], userEnv());
    const report = JSON.parse(stdout) as DoctorReport;
    expect(report.status).toBe('ok');
    expect(report.checks.map((c) => [c.name, c.status])).toEqual([
      ['database', 'ok'], ['pg_dump', 'ok'], ['pg_restore', 'ok'], ['psql', 'ok'], ['zstd', 'ok'], ['temporal_cli', 'ok'], ['lock', 'ok'], ['leftovers', 'ok'], ['notifications', 'skip'], ['role_dump', 'ok'], ['verify_target', 'ok'], ['wal_level', 'ok'], ['wal_replication_role', 'ok'], ['wal_pg_hba', 'ok'], ['wal_senders', 'ok'], ['wal_slot', 'ok'], ['pgvector_server', 'ok'],
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

describe('fbb backup', () => {
  it('--local --json makes a verified backup and prints the result in the guide\'s shape', async () => {
    const env = userEnv();
    const { code, stdout, stderr } = await fbb(['backup', '--local', '--json', '--type', 'weekly'], env);
    expect(stderr).toContain(LOCAL_NOTICE);
    expect(stderr).toMatch(new RegExp(`fbb: backup backup-${db}-weekly-\\d{8}T\\d{6}Z started`));
    const result = JSON.parse(stdout) as BackupResult;
    expect(Object.keys(result)).toEqual(
      expect.arrayContaining(['status', 'filename', 'size_mb', 'tables_backed_up', 'total_rows', 'table_details', 'sha256', 'verified', 'uploaded', 'pruned', 'duration_ms']),
    );
    expect(result).toMatchObject({ status: 'success', backup_type: 'weekly', verified: { ok: true } });
    expect(fs.existsSync(path.join(env.BACKUP_DIR!, result.filename))).toBe(true);
    expect(code).toBe(0);
  });

  it('--local without the Temporal CLI exits 2, says how to install it and makes no backup', async () => {
    const env = userEnv();
    vi.stubEnv('TEMPORAL_CLI', '/nonexistent/temporal');
    try {
      const { code, stdout, stderr } = await fbb(['backup', '--local', '--json'], env);
      expect(stderr).toContain(
        'fbb: --local runs on a throwaway Temporal server, which needs the Temporal CLI: no Temporal CLI found (TEMPORAL_CLI=/nonexistent/temporal does not exist); run "bash scripts/install-deps.sh" to install the pinned version, or set TEMPORAL_CLI to a temporal binary (the Docker image has it)\n',
      );
      expect(JSON.parse(stdout)).toMatchObject({ error: { type: 'TemporalCliMissing' } });
      expect(fs.readdirSync(env.BACKUP_DIR!)).toEqual([]);
      expect(code).toBe(2);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('prints a human summary', async () => {
    const { code, stdout } = await fbb(['backup', '--local', '--no-cleanup'], userEnv());
    expect(stdout).toMatch(/^backup family_brain_manual_\d{8}_\d{6}\.sql\.gz: verified\n {2}size {6}[\d.]+ MB \(sha256 [0-9a-f]{12}…\)\n {2}tables {4}15 tables, [\d,]+ rows; every count matched in a restored copy\n/);
    expect(stdout).toMatch(/\n {2}uploaded {2}no\n {2}pruned {4}nothing\n {2}took {6}[\d.]+ s\n$/);
    expect(code).toBe(0);
  });

  it('--dry-run says what it would do and writes nothing', async () => {
    const env = userEnv();
    const { code, stdout } = await fbb(['backup', '--local', '--dry-run'], env);
    expect(stdout).toMatch(/^dry run: would write family_brain_manual_\d{8}_\d{6}\.sql\.gz\n/);
    expect(stdout).toMatch(/nothing was written or deleted\n$/);
    expect(fs.readdirSync(env.BACKUP_DIR!)).toEqual([]);
    expect(code).toBe(0);
  });

  // A wrong password is not retried; a refused connection is, with real backoff under --local (see backup.test.ts).
  it('exits 1 with the named error and a next step when the database refuses the password', async () => {
    const { code, stderr } = await fbb(['backup', '--local'], userEnv({ PGPASSWORD: 'wrong' }));
    expect(stderr).toMatch(/fbb: backup backup-\w+-manual-\d{8}T\d{6}Z failed: DatabaseUnreachable: cannot connect to database "\w+" at 127\.0\.0\.1:\d+: password authentication failed for user "postgres"; check the password/);
    expect(stderr).toMatch(/See "fbb doctor --local" for the environment checks\.\n$/);
    expect(code).toBe(1);
  });

  it('--format picks the file format, and BACKUP_FORMAT is the default', async () => {
    const env = userEnv({ BACKUP_FORMAT: 'plain_zstd' });
    const zstd = await fbb(['backup', '--local', '--json', '--no-cleanup'], env);
    expect(JSON.parse(zstd.stdout)).toMatchObject({ status: 'success', filename: expect.stringMatching(/^family_brain_manual_\d{8}_\d{6}\.sql\.zst$/), verified: { ok: true } });
    expect(zstd.code).toBe(0);
    const gzip = await fbb(['backup', '--local', '--json', '--no-cleanup', '--format', 'plain_gzip'], env);
    expect((JSON.parse(gzip.stdout) as BackupResult).filename).toMatch(/\.sql\.gz$/);
    expect(gzip.code).toBe(0);
  });

  it('offers every format the naming module knows, and exits 2 on another', async () => {
    const help = await fbb(['backup', '--help'], userEnv());
    for (const [format, ext] of Object.entries(BACKUP_FORMATS)) expect(help.stdout).toContain(`${format} (${ext})`);
    const { code, stderr } = await fbb(['backup', '--local', '--format', 'tar'], userEnv());
    expect(stderr).toContain(`error: option '--format <format>' argument 'tar' is invalid. Allowed choices are ${Object.keys(BACKUP_FORMATS).join(', ')}.`);
    expect(stderr).toContain('(run "fbb backup --help" for usage and examples)');
    expect(code).toBe(2);
  });

  it('exits 2 on a backup type it does not know', async () => {
    const { code, stderr } = await fbb(['backup', '--local', '--type', 'hourly'], userEnv());
    expect(stderr).toContain("error: option '--type <type>' argument 'hourly' is invalid. Allowed choices are daily, weekly, monthly, manual.");
    expect(code).toBe(2);
  });
});

describe('fbb list', () => {
  it('--local prints a table of backups, newest first, marking Windmill-era files', async () => {
    const env = userEnv();
    await fbb(['backup', '--local', '--type', 'daily'], env);
    fs.writeFileSync(path.join(env.BACKUP_DIR!, 'family_brain_daily_20251208_020000.sql.gz'), 'old');
    const { code, stdout } = await fbb(['list', '--local'], env);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^FILE +TYPE +CREATED \(UTC\) +SIZE MB +STATE +ROWS +WHERE$/);
    expect(lines[1]).toMatch(/^family_brain_daily_\d{8}_\d{6}\.sql\.gz +daily +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +[\d.]+ +verified +[\d,]+ +local$/);
    expect(lines[2]).toMatch(/^family_brain_daily_20251208_020000\.sql\.gz +daily +2025-12-08 07:00:00 +0\.00 +no manifest +- +local$/);
    expect(code).toBe(0);
  });

  it('--json gives the catalogue, and --include-s3 without a bucket is bad input', async () => {
    const env = userEnv();
    const { code, stdout } = await fbb(['list', '--local', '--json'], env);
    expect(JSON.parse(stdout)).toEqual({ backups: [], aside_databases: [], leftovers: [], warnings: [] });
    expect(code).toBe(0);
    const s3 = await fbb(['list', '--local', '--include-s3'], env);
    expect(s3.stderr).toMatch(/fbb: list failed: S3NotConfigured: include_s3 was asked for, but S3_BUCKET is not set/);
    expect(s3.code).toBe(2);
  });
});

describe('fbb restore', () => {
  /** A database of its own with one verified backup in a backup directory of its own. */
  async function withBackup(label: string): Promise<{ env: NodeJS.ProcessEnv; file: string; database: string }> {
    const database = await createDatabase(label);
    const env = userEnv({ PGDATABASE: database });
    const { stdout } = await fbb(['backup', '--local', '--json'], env);
    return { env, file: (JSON.parse(stdout) as BackupResult).filename, database };
  }

  it('--local --yes restores without asking and prints the result', async () => {
    const { env, file, database } = await withBackup('cli_rst_yes');
    const { code, stdout, asked } = await fbb(['restore', file, '--local', '--yes'], env, []);
    expect(asked).toEqual([]);
    expect(stdout).toMatch(new RegExp(`^restore of ${database} from ${file.replace(/\./g, '\\.')}: success\n {2}pre-restore backup +family_brain_pre_restore_\\d{8}_\\d{6}\\.sql\\.gz\n {2}strategy +swap\n {2}verification +15 tables match\n {2}previous database +${database}_pre_restore_\\d{8}_\\d{6} \\(kept`));
    expect(code).toBe(0);
  });

  it('asks for the database name, and a wrong answer cancels with nothing changed (exit 5)', async () => {
    const { env, file, database } = await withBackup('cli_rst_ask');
    const { code, stdout, stderr, asked } = await fbb(['restore', file, '--local', '--json'], env, ['not-the-name']);
    expect(stderr).toContain('fbb: pre-restore backup: made once you confirm, right before the database is changed (none if the database does not exist yet)');
    // The prompt says what the backup is: its source database, its time and its size.
    expect(asked).toEqual([expect.stringMatching(new RegExp(`^Type the database name \\(${database}\\) to replace it with ${file.replace(/\./g, '\\.')} \\(backup of ${database}, made \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z, [\\d.]+ (KiB|MiB)\\): $`))]);
    expect(JSON.parse(stdout)).toMatchObject({ status: 'cancelled', error: { type: 'RestoreCancelled' } });
    expect(code).toBe(5);
    const confirmed = await fbb(['restore', file, '--local', '--json'], env, [database]);
    expect(JSON.parse(confirmed.stdout)).toMatchObject({ status: 'success', confirmed_by: expect.stringContaining('@') });
    expect(confirmed.code).toBe(0);
  });

  it('refuses a --local restore that nobody can confirm, before starting anything (exit 2)', async () => {
    const { code, stderr } = await fbb(['restore', 'family_brain_daily_20251208_020000.sql.gz', '--local'], userEnv());
    expect(stderr).toBe('fbb: a --local restore needs a terminal to confirm at: run it in one, or add --yes to confirm in advance\n');
    expect(code).toBe(2);
  });

  it('reports a bad file name as bad input (exit 2)', async () => {
    const { code, stderr } = await fbb(['restore', '../etc/passwd', '--local', '--yes'], userEnv());
    expect(stderr).toMatch(/failed: InvalidBackupName: "\.\.\/etc\/passwd" is not a backup file name/);
    expect(code).toBe(2);
  });

  it('explains that a --local run cannot be signalled from another process, and that confirm needs an ID', async () => {
    // A --local restore waits for its answer at the prompt of the process that runs it (see "asks for the database name").
    const local = await fbb(['restore', 'confirm', 'restore-x-1', '--local', '--json'], userEnv());
    expect(local.stderr).toBe(
      "fbb: a --local run lives only inside the process that started it, so restore-x-1 cannot be reached from here; confirm at that process's prompt, or run restores without --local on a Temporal worker\n",
    );
    // --json: the same failure on stdout, for scripts (issue 12).
    expect(JSON.parse(local.stdout)).toMatchObject({ status: 'error', error: { type: 'Error', message: expect.stringContaining('cannot be reached from here') }, exit_code: 2 });
    expect(local.code).toBe(2);
    const noId = await fbb(['restore', 'cancel'], userEnv());
    expect(noId.stderr).toBe('fbb: fbb restore cancel needs the restore\'s workflow ID: fbb restore cancel <workflow-id> ("fbb history --type restore" lists them)\n');
    expect(noId.code).toBe(2);
  });
});

describe('fbb status', () => {
  it('needs Temporal and says so (exit 3)', async () => {
    const { code, stderr } = await fbb(['status', 'restore-x-1'], userEnv());
    expect(stderr).toMatch(/^fbb: cannot connect to Temporal at 127\.0\.0\.1:1/);
    expect(code).toBe(3);
  });
});

describe('fbb schedules', () => {
  it('needs a schedule name for pause/unpause/trigger/delete, and knows its actions (exit 2)', async () => {
    const noName = await fbb(['schedules', 'pause'], userEnv());
    expect(noName.stderr).toBe('fbb: fbb schedules pause needs daily, weekly, monthly, drill, basebackup_full or basebackup_incremental, got nothing; for example "fbb schedules pause daily"\n');
    expect(noName.code).toBe(2);
    const badName = await fbb(['schedules', 'trigger', 'hourly'], userEnv());
    expect(badName.stderr).toBe('fbb: fbb schedules trigger needs daily, weekly, monthly, drill, basebackup_full or basebackup_incremental, got "hourly"; for example "fbb schedules trigger daily"\n');
    const badAction = await fbb(['schedules', 'remove', 'daily'], userEnv());
    expect(badAction.stderr).toBe('fbb: unknown action "remove"; use one of apply, list, pause, unpause, trigger, delete\n');
    expect(badAction.code).toBe(2);
  });

  it('apply needs Temporal and says so (exit 3)', async () => {
    const { code, stderr } = await fbb(['schedules', 'apply'], userEnv());
    expect(stderr).toMatch(/^fbb: cannot connect to Temporal at 127\.0\.0\.1:1/);
    expect(code).toBe(3);
  });
});
