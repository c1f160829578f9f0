// Bad input from issue 12: settings that must not leak a password, failures a script can read.
import { afterAll, describe, expect, it } from 'vitest';
import { acquireLock } from '../src/activities/backup/lock';
import { connect } from '../src/activities/db';
import { databaseUnreachable } from '../src/activities/failures';
import { runCli } from '../src/client/cli';
import { ConfigError, loadConfig } from '../src/config';
import { captured, createDatabase, dropDatabase, tempDir, testConfig } from './helpers';

function problems(env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('a malformed DATABASE_URL', () => {
  it.each([
    ['postgres:backup:hunter2@db.example/family_brain'],
    ['backup:hunter2@db.example:5432/family_brain'],
    ['host=db.example password=hunter2 dbname=family_brain'],
  ])('without "://" (%s) is reported without its password', (url) => {
    const [problem] = problems({ DATABASE_URL: url });
    expect(problem).toBe(
      'DATABASE_URL="<not shown: not a postgres://user:password@host URL, so a password in it cannot be told apart>": must start with postgres:// or postgresql:// ' +
        '(example: DATABASE_URL=postgres://backup:secret@db.example:5432/family_brain)',
    );
    expect(problem).not.toContain('hunter2');
  });

  it('with an "@" inside the password is reported without any of the password', () => {
    const [problem] = problems({ DATABASE_URL: 'mysql://root:hun@ter2@db/x' });
    expect(problem).toMatch(/^DATABASE_URL="mysql:\/\/root:\*\*\*@db\/x": must start with postgres:\/\//);
    expect(problem).not.toContain('ter2');
  });

  it('that holds no password is shown as typed, so the user sees the mistake', () => {
    expect(problems({ DATABASE_URL: 'localhost' })[0]).toMatch(/^DATABASE_URL="localhost": must start with postgres:\/\//);
  });
});

describe('--json failures', () => {
  const made: string[] = [];
  afterAll(async () => {
    await Promise.all(made.map(dropDatabase));
  });

  async function fbb(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
    const io = captured();
    const code = await runCli(args, { stdout: io.stdout, stderr: io.stderr, env });
    return { code, ...io.text() };
  }

  async function userEnv(): Promise<NodeJS.ProcessEnv> {
    const db = await createDatabase('fin_json', false);
    made.push(db);
    const c = testConfig({ database: db });
    return { PGHOST: c.database.host, PGPORT: String(c.database.port), PGUSER: c.database.user, PGPASSWORD: c.database.password, PGDATABASE: db, PG_BIN_DIR: c.pgBinDir, BACKUP_DIR: tempDir(), TEMPORAL_ADDRESS: '127.0.0.1:1' };
  }

  it('print the error on stdout as JSON too: type, message, next step, exit code', async () => {
    const env = await userEnv();
    const { code, stdout, stderr } = await fbb(['restore', 'family_brain_daily_20200101_020000.sql.gz', '--local', '--yes', '--json'], env);
    expect(code).toBe(1);
    expect(stderr).toContain('BackupNotFound: backup "family_brain_daily_20200101_020000.sql.gz" is not in');
    expect(JSON.parse(stdout)).toEqual({
      status: 'error',
      error: {
        type: 'BackupNotFound',
        message: expect.stringMatching(/^restore .+ failed: BackupNotFound: backup "family_brain_daily_20200101_020000\.sql\.gz" is not in /),
        next: 'The database was not changed. Run "fbb list --local" to pick another backup.',
      },
      exit_code: 1,
    });
  });

  it('print bad configuration as JSON too', async () => {
    const { code, stdout } = await fbb(['list', '--local', '--json'], { PGPORT: 'five' });
    expect(code).toBe(2);
    expect(JSON.parse(stdout)).toMatchObject({ status: 'error', error: { type: 'InvalidConfiguration', message: expect.stringContaining('PGPORT="five"') }, exit_code: 2 });
  });

  it('a restore refused with DatabaseBusy names the run holding the lock and says to wait for it, not to pick another backup', async () => {
    const env = await userEnv();
    const config = { ...testConfig({ database: env.PGDATABASE, backupDir: env.BACKUP_DIR }) };
    await acquireLock(config, { workflow_id: 'backup-held-elsewhere', kind: 'backup' });
    const { code, stdout } = await fbb(['restore', 'family_brain_daily_20200101_020000.sql.gz', '--local', '--yes', '--json'], env);
    expect(code).toBe(1);
    const { error } = JSON.parse(stdout) as { error: { type: string; message: string; next: string } };
    expect(error.type).toBe('DatabaseBusy');
    expect(error.message).toContain('backup-held-elsewhere');
    expect(error.next).toBe('The database was not changed. The run named above holds its lock: wait for it (fbb status <its workflow ID>) and restore again.');
  });
});

describe('connection failures that cannot be transient', () => {
  it.each([
    ['a missing database', { database: 'fbb_no_such_database' }],
    ['sslmode=require against a server without SSL', { sslmode: 'require' }],
    ['a wrong password', { password: 'not-the-password' }],
  ])('%s fails at once (non-retryable DatabaseUnreachable)', async (_what, change) => {
    const base = testConfig();
    const config = { ...base, database: { ...base.database, ...change } };
    const err = await connect(config.database).then(
      () => undefined,
      (e: unknown) => databaseUnreachable(e, config),
    );
    expect(err).toMatchObject({ type: 'DatabaseUnreachable', nonRetryable: true });
  });

  it('a refused connection (a server restarting) is retried', async () => {
    const base = testConfig();
    const config = { ...base, database: { ...base.database, port: 1 } };
    const err = await connect(config.database).catch((e: unknown) => databaseUnreachable(e, config));
    expect(err).toMatchObject({ type: 'DatabaseUnreachable', nonRetryable: false });
  });
});
