import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../src/config';
import { createActivities } from '../src/activities';
import type { CheckResult, DoctorReport } from '../src/doctor/report';
import { startPgCluster, type PgCluster } from '../src/sample/pgCluster';
import { checkEnvironment } from '../src/workflows';
import { runCli } from '../src/client/cli';
import { TEMPORAL_CLI_VERSION } from '../src/temporalCli';
import { captured, createDatabase, dropDatabase, tempDir, testConfig, uniqueName, withEmptyPath } from './helpers';
import { onTemporal, startTestWorker, temporalInfo, testClient } from './temporal';

let sampleDb: string;

beforeAll(async () => {
  sampleDb = await createDatabase('doctor');
});
afterAll(async () => {
  await dropDatabase(sampleDb);
});

/**
 * Runs the real checkEnvironment workflow on the dev server, on a Worker whose real activities work on
 * `config` as given (its Temporal settings included: the temporal check looks at them, not at the test server).
 */
async function doctor(config: Config, mode: 'local' | 'temporal' = 'local'): Promise<DoctorReport> {
  const worker = await startTestWorker(onTemporal(config), createActivities({ config }));
  try {
    const client = await testClient();
    return await client.workflow.execute(checkEnvironment, { args: [{ mode }], taskQueue: worker.taskQueue, workflowId: uniqueName('doctor') });
  } finally {
    await worker.stop();
  }
}

function find(report: DoctorReport, name: string): CheckResult {
  const found = report.checks.find((c) => c.name === name);
  if (found === undefined) throw new Error(`no check named ${name} in ${JSON.stringify(report.checks.map((c) => c.name))}`);
  return found;
}

describe('fbb doctor (checkEnvironment)', () => {
  it('reports every check as ok against the sample database, with S3 configured', async () => {
    const report = await doctor(testConfig({ database: sampleDb, s3: true }));
    expect(report.checks.map((c) => c.name)).toEqual([
      'database', 'pg_dump', 'pg_restore', 'psql', 'zstd', 'temporal_cli', 'lock', 'leftovers', 'notifications', 'role_dump', 'verify_target', 'wal_level', 'wal_replication_role', 'wal_pg_hba', 'wal_senders', 'wal_slot', 'pgvector_server', 'pgvector_database', 'backup_dir', 's3', 'temporal',
    ]);
    const notOk = report.checks.filter((c) => c.status !== 'ok' && c.name !== 'temporal' && c.name !== 'notifications');
    expect(notOk).toEqual([]);
    expect(find(report, 'notifications')).toEqual({ name: 'notifications', status: 'skip', detail: 'NOTIFY_WEBHOOK_URL is not set: failed runs show only in "fbb history"' });
    expect(find(report, 'database').detail).toMatch(/PostgreSQL 15\.\d+/);
    expect(find(report, 'pgvector_server').detail).toMatch(/pgvector 0\.8\.\d/);
    expect(find(report, 'backup_dir').detail).toMatch(/writable; [\d.]+ [KMGT]?i?B free/);
    expect(find(report, 'temporal')).toEqual({ name: 'temporal', status: 'skip', detail: 'not checked: --local runs on a throwaway Temporal server of its own, not on TEMPORAL_ADDRESS' });
    expect(report.status).toBe('ok');
  });

  it('fails the database check with a hint on a wrong password', async () => {
    const report = await doctor(testConfig({ database: sampleDb, password: 'not-the-password' }));
    expect(report.status).toBe('fail');
    expect(find(report, 'database')).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/password authentication failed for user "postgres"/),
      hint: 'check the password in DATABASE_URL or PGPASSWORD',
    });
    expect(JSON.stringify(report)).not.toContain('not-the-password');
  });

  it('fails the database check with a hint when the database does not exist', async () => {
    const report = await doctor(testConfig({ database: 'no_such_family_db' }));
    expect(find(report, 'database')).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/database "no_such_family_db" does not exist/),
      hint: expect.stringMatching(/createdb no_such_family_db/),
    });
  });

  it('fails the pgvector check with a hint on a server without pgvector', async () => {
    let bare: PgCluster | undefined;
    try {
      bare = await startPgCluster({ withoutExtensions: ['vector'] });
      const config = testConfig();
      config.database = { ...config.database, host: bare.host, port: bare.port, password: bare.password, database: 'postgres' };
      const report = await doctor(config);
      expect(find(report, 'database').status).toBe('ok');
      expect(find(report, 'pgvector_server')).toMatchObject({ status: 'fail', hint: expect.stringMatching(/install pgvector on the database server/) });
      expect(report.status).toBe('fail');
    } finally {
      await bare?.stop();
    }
  });

  it('warns when the database itself does not use pgvector', async () => {
    const report = await doctor(testConfig({ database: 'postgres' }));
    expect(find(report, 'pgvector_server').status).toBe('ok');
    expect(find(report, 'pgvector_database')).toMatchObject({ status: 'warn', hint: expect.stringMatching(/CREATE EXTENSION vector/) });
  });

  it('fails the backup directory check with a hint when the directory cannot be written', async () => {
    // A path below a regular file cannot be created, even by root (tests may run as root, which ignores modes).
    const file = path.join(tempDir(), 'not-a-directory');
    fs.writeFileSync(file, '');
    const report = await doctor(testConfig({ database: sampleDb, backupDir: path.join(file, 'backups') }));
    expect(find(report, 'backup_dir')).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/^cannot write to .*not-a-directory\/backups \(ENOTDIR/),
      hint: expect.stringMatching(/set BACKUP_DIR to a writable directory/),
    });
  });

  it('fails the S3 check with a hint when the endpoint is unreachable', async () => {
    const config = testConfig({ database: sampleDb, s3: true });
    config.s3 = { ...config.s3!, endpoint: 'http://127.0.0.1:1' };
    const report = await doctor(config);
    expect(find(report, 's3')).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/^cannot reach the bucket at s3:\/\/family-brain-backups\/.* at http:\/\/127\.0\.0\.1:1/),
      hint: expect.stringMatching(/check S3_ENDPOINT/),
    });
  });

  it('fails the zstd check when BACKUP_FORMAT is plain_zstd and zstd is not installed, and only warns otherwise', async () => {
    await withEmptyPath(async () => {
      const zstdConfig = testConfig({ database: sampleDb });
      zstdConfig.backup.format = 'plain_zstd';
      const needed = find(await doctor(zstdConfig), 'zstd');
      expect(needed).toMatchObject({ status: 'fail', hint: 'install zstd (Debian: apt-get install zstd) or set BACKUP_FORMAT=plain_gzip' });
      expect(needed.detail).toMatch(/zstd is not on PATH; BACKUP_FORMAT is plain_zstd/);
      expect(find(await doctor(testConfig({ database: sampleDb })), 'zstd')).toMatchObject({ status: 'warn' });
    });
  });

  it('skips S3 when no bucket is configured', async () => {
    const report = await doctor(testConfig({ database: sampleDb }));
    expect(find(report, 's3')).toMatchObject({ status: 'skip' });
  });

  it('reports the Temporal CLI it found, with its version', async () => {
    const check = find(await doctor(testConfig({ database: sampleDb })), 'temporal_cli');
    expect(check.status).toBe('ok');
    expect(check.detail).toMatch(new RegExp(`^temporal version ${TEMPORAL_CLI_VERSION.replace(/\./g, '\\.')} \\(Server [\\d.]+, UI [\\d.]+\\) at /.+/temporal$`));
  });

  it('warns, without failing, and says how to install the Temporal CLI when TEMPORAL_CLI names a missing file', async () => {
    const saved = process.env.TEMPORAL_CLI;
    process.env.TEMPORAL_CLI = '/nonexistent/temporal';
    try {
      const report = await doctor(testConfig({ database: sampleDb }));
      expect(find(report, 'temporal_cli')).toEqual({
        name: 'temporal_cli',
        status: 'warn',
        detail: 'no Temporal CLI found (TEMPORAL_CLI=/nonexistent/temporal does not exist); it is needed only to run a Temporal dev server on this machine (npm run demo, a server without Docker)',
        hint: 'run "bash scripts/install-deps.sh" to install the pinned version, or set TEMPORAL_CLI to a temporal binary',
      });
      expect(report.status).toBe('warn');
    } finally {
      if (saved === undefined) delete process.env.TEMPORAL_CLI;
      else process.env.TEMPORAL_CLI = saved;
    }
  });

  it('passes the Temporal check against the dev server', async () => {
    const report = await doctor(onTemporal(testConfig({ database: sampleDb })), 'temporal');
    expect(find(report, 'temporal')).toEqual({ name: 'temporal', status: 'ok', detail: `Temporal answers at ${temporalInfo.address} (namespace default)` });
  });

  it('fails the Temporal check with a hint when not in local mode and nothing listens at the address', async () => {
    const report = await doctor(testConfig({ database: sampleDb }), 'temporal');
    const check = find(report, 'temporal');
    expect(check).toMatchObject({ status: 'fail', hint: expect.stringMatching(/^start it \(docker compose up -d, or temporal server start-dev\), fix TEMPORAL_ADDRESS\/TEMPORAL_NAMESPACE .*, or run with --local$/) });
    expect(check.detail).toMatch(/^Temporal does not answer at 127\.0\.0\.1:1 \(namespace default\) \(no TLS\): /);
    expect(report.status).toBe('fail');
  });

  it('fails the Temporal check, saying how to create it, when the server has no such namespace', async () => {
    const config = onTemporal(testConfig({ database: sampleDb }));
    config.temporal = { ...config.temporal, namespace: 'no-such-namespace' };
    const check = find(await doctor(config, 'temporal'), 'temporal');
    expect(check).toMatchObject({
      status: 'fail',
      hint: `fix TEMPORAL_NAMESPACE, or create the namespace (temporal operator namespace create --namespace no-such-namespace --address ${temporalInfo.address})`,
    });
    expect(check.detail).toMatch(new RegExp(`^Temporal answers at ${temporalInfo.address.replace(/\./g, '\\.')}, but it has no namespace "no-such-namespace": .*no-such-namespace`));
  });

  it('checks Temporal with TLS and the API key when they are set, and never shows the key', async () => {
    const config = testConfig({ database: sampleDb });
    config.temporal = { ...config.temporal, apiKey: 'tcld-secret-api-key-0123456789', tls: undefined };
    const check = find(await doctor(config, 'temporal'), 'temporal');
    expect(check.status).toBe('fail');
    expect(check.detail).toContain('(TLS, API key)');
    expect(JSON.stringify(check)).not.toContain('tcld-secret-api-key');
  });
});

describe('fbb doctor on a Temporal worker', () => {
  /** The environment of a user whose fbb talks to the dev server on `taskQueue`. */
  function userEnv(taskQueue: string): NodeJS.ProcessEnv {
    const c = testConfig({ database: sampleDb });
    return {
      TEMPORAL_ADDRESS: temporalInfo.address,
      TEMPORAL_TASK_QUEUE: taskQueue,
      PGHOST: c.database.host,
      PGPORT: String(c.database.port),
      PGUSER: c.database.user,
      PGPASSWORD: c.database.password,
      PGDATABASE: sampleDb,
      PG_BIN_DIR: c.pgBinDir,
      BACKUP_DIR: c.backup.dir,
    };
  }

  async function fbb(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
    const io = captured();
    const code = await runCli(args, { stdout: io.stdout, stderr: io.stderr, env });
    return { code, ...io.text() };
  }

  it('runs every check on the worker, Temporal and the Temporal CLI included, and exits 0', async () => {
    const config = onTemporal(testConfig({ database: sampleDb }));
    const worker = await startTestWorker(config);
    try {
      const { code, stdout, stderr } = await fbb(['doctor', '--json'], userEnv(config.temporal.taskQueue));
      const report = JSON.parse(stdout) as DoctorReport;
      expect(report.checks.filter((c) => c.status !== 'ok' && c.status !== 'skip')).toEqual([]);
      expect(find(report, 'temporal')).toEqual({ name: 'temporal', status: 'ok', detail: `Temporal answers at ${temporalInfo.address} (namespace default)` });
      expect(find(report, 'temporal_cli').detail).toMatch(/^temporal version /);
      expect(stderr).toBe('');
      expect(code).toBe(0);
    } finally {
      await worker.stop();
    }
  });

  it('with no worker polling the task queue, exits 3 at once and says to start one; nothing is started', async () => {
    const taskQueue = onTemporal(testConfig()).temporal.taskQueue;
    const { code, stdout, stderr } = await fbb(['doctor', '--workflow-id', `doctor-${taskQueue}`], userEnv(taskQueue));
    expect(stderr).toBe(
      `fbb: no worker is polling task queue "${taskQueue}" on Temporal at ${temporalInfo.address} (namespace default); ` +
        'start one with "npm run worker" (with the same TEMPORAL_TASK_QUEUE), or add --local to run in this process; nothing was started\n',
    );
    expect(stdout).toBe('');
    expect(code).toBe(3);
    const status = await fbb(['status', `doctor-${taskQueue}`], userEnv(taskQueue));
    expect(status.stderr).toMatch(/^fbb: no workflow doctor-\S+ on Temporal at /);
  });
});
