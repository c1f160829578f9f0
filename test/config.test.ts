import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RETENTION } from '../src/backup/retention';
import { libpqEnv } from '../src/activities/pgTools';
import { ConfigError, loadConfig, redactConfig } from '../src/config';
import { settingDefaults } from '../src/settings';

function problems(env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('defaults match the Windmill guide when nothing is set', () => {
    const config = loadConfig({});
    expect(config.database).toEqual({ host: 'localhost', port: 5432, user: 'postgres', password: undefined, database: 'family_brain', sslmode: undefined, maintenanceDatabase: 'postgres' });
    expect(config.backup).toEqual({
      dir: path.resolve('./backups'), prefix: 'family_brain', timezone: 'America/Toronto', format: 'plain_gzip', gzipLevel: 1, zstdLevel: 1, zstdThreads: 0, verify: 'during_dump', retention: DEFAULT_RETENTION, asideDatabaseDays: 7, ageRecipients: [], ageIdentityFile: undefined,
    });
    expect(config.s3).toBeUndefined();
    expect(config.temporal).toEqual({ address: 'localhost:7233', namespace: 'default', taskQueue: 'family-brain-backup', tls: undefined, apiKey: undefined, connectTimeoutMs: 5_000 });
    expect(config.worker).toEqual({
      shutdownGraceMs: 300_000, metricsAddress: undefined, healthAddress: undefined, logFormat: 'text', activityTuning: { heartbeat_timeout_seconds: null, retry_interval_seconds: null },
      versioning: { enabled: true, deploymentName: 'family-brain-backup', buildId: undefined, setCurrent: undefined },
    });
  });

  it('reads the Worker Versioning settings, and rejects a deployment name with a dot and an unknown policy', () => {
    expect(loadConfig({ WORKER_VERSIONING: 'false', WORKER_DEPLOYMENT_NAME: 'fbb-staging', WORKER_BUILD_ID: '2026-12-05.1', WORKER_SET_CURRENT: 'never' }).worker.versioning).toEqual({
      enabled: false, deploymentName: 'fbb-staging', buildId: '2026-12-05.1', setCurrent: 'never',
    });
    expect(problems({ WORKER_DEPLOYMENT_NAME: 'fbb.prod', WORKER_SET_CURRENT: 'sometimes' })).toEqual([
      'WORKER_DEPLOYMENT_NAME="fbb.prod": must be letters, digits, "_" or "-" (no "."), at most 200 (example: WORKER_DEPLOYMENT_NAME=family-brain-backup)',
      'WORKER_SET_CURRENT="sometimes": Invalid option: expected one of "if_none"|"always"|"never" (example: WORKER_SET_CURRENT=never)',
    ]);
  });

  it('reads the worker settings: grace time, metrics and health addresses, log format, activity timeouts', () => {
    const config = loadConfig({
      WORKER_SHUTDOWN_GRACE_SECONDS: '60', WORKER_METRICS_ADDRESS: '0.0.0.0:9464', WORKER_HEALTH_ADDRESS: '0.0.0.0:8081', LOG_FORMAT: 'json',
      ACTIVITY_HEARTBEAT_TIMEOUT_SECONDS: '15', ACTIVITY_RETRY_INTERVAL_SECONDS: '2',
    });
    expect(config.worker).toEqual({
      shutdownGraceMs: 60_000, metricsAddress: '0.0.0.0:9464', healthAddress: '0.0.0.0:8081', logFormat: 'json', activityTuning: { heartbeat_timeout_seconds: 15, retry_interval_seconds: 2 },
      versioning: { enabled: true, deploymentName: 'family-brain-backup', buildId: undefined, setCurrent: undefined },
    });
    expect(problems({ WORKER_SHUTDOWN_GRACE_SECONDS: '-1', WORKER_HEALTH_ADDRESS: 'http://x:8081', LOG_FORMAT: 'xml' })).toEqual([
      'WORKER_SHUTDOWN_GRACE_SECONDS="-1": Too small: expected number to be >=0 (example: WORKER_SHUTDOWN_GRACE_SECONDS=300)',
      'WORKER_HEALTH_ADDRESS="http://x:8081": must be host:port (example: WORKER_HEALTH_ADDRESS=0.0.0.0:8081)',
      'LOG_FORMAT="xml": Invalid option: expected one of "json"|"text" (example: LOG_FORMAT=json)',
    ]);
  });

  it('reads Temporal mTLS files, the server name and the API key', () => {
    const env = { TEMPORAL_TLS_CERT: '/etc/temporal/client.pem', TEMPORAL_TLS_KEY: '/etc/temporal/client.key', TEMPORAL_TLS_CA: '/etc/temporal/ca.pem', TEMPORAL_TLS_SERVER_NAME: 'temporal.internal', TEMPORAL_API_KEY: 'k' };
    expect(loadConfig(env).temporal).toMatchObject({
      tls: { certPath: '/etc/temporal/client.pem', keyPath: '/etc/temporal/client.key', caPath: '/etc/temporal/ca.pem', serverName: 'temporal.internal' },
      apiKey: 'k',
    });
    // A server name alone still means TLS (system CAs), checked against that name.
    expect(loadConfig({ TEMPORAL_TLS_SERVER_NAME: 'temporal.internal' }).temporal.tls).toEqual({ certPath: undefined, keyPath: undefined, caPath: undefined, serverName: 'temporal.internal' });
  });

  it('reads how long the CLI tries to reach Temporal, in whole seconds from 1 to 300', () => {
    expect(loadConfig({ TEMPORAL_CONNECT_TIMEOUT_SECONDS: '15' }).temporal.connectTimeoutMs).toBe(15_000);
    expect(() => loadConfig({ TEMPORAL_CONNECT_TIMEOUT_SECONDS: '0' })).toThrow('TEMPORAL_CONNECT_TIMEOUT_SECONDS="0": Too small: expected number to be >=1 (example: TEMPORAL_CONNECT_TIMEOUT_SECONDS=15)');
  });

  it('rejects a client certificate without its key, and a key without its certificate', () => {
    const expected = ['TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together: set both (client certificate and its key) or neither'];
    expect(problems({ TEMPORAL_TLS_CERT: '/etc/temporal/client.pem' })).toEqual(expected);
    expect(problems({ TEMPORAL_TLS_KEY: '/etc/temporal/client.key' })).toEqual(expected);
  });

  it('never shows the Temporal API key, in errors or in the printed config', () => {
    const env = { TEMPORAL_API_KEY: 'tc-secret-api-key', TEMPORAL_ADDRESS: 'not-an-address', PGPORT: 'x' };
    const err = (() => {
      try {
        loadConfig(env);
      } catch (e) {
        return e as Error;
      }
      throw new Error('expected a ConfigError');
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).not.toContain('tc-secret-api-key');
    const printed = JSON.stringify(redactConfig(loadConfig({ TEMPORAL_API_KEY: 'tc-secret-api-key' }), {}));
    expect(printed).not.toContain('tc-secret-api-key');
    expect(printed).toContain('"apiKey":"***"');
  });

  it('reads DATABASE_URL, including the password and database', () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://backup:s3cr%40t@db.example:6543/fam?sslmode=require' });
    expect(config.database).toEqual({ host: 'db.example', port: 6543, user: 'backup', password: 's3cr@t', database: 'fam', sslmode: 'require', maintenanceDatabase: 'postgres' });
  });

  it('falls back to the libpq variables when DATABASE_URL is unset', () => {
    const config = loadConfig({ PGHOST: 'db', PGPORT: '5433', PGUSER: 'app', PGPASSWORD: 'pw', PGDATABASE: 'other' });
    expect(config.database).toMatchObject({ host: 'db', port: 5433, user: 'app', password: 'pw', database: 'other' });
  });

  it('configures S3 only with a bucket, path-style for custom endpoints, with a normalised prefix', () => {
    const config = loadConfig({ S3_BUCKET: 'family-brain-backups', S3_ENDPOINT: 'http://minio:9000', S3_PREFIX: '/nightly' });
    expect(config.s3).toEqual({ bucket: 'family-brain-backups', prefix: 'nightly/', endpoint: 'http://minio:9000', region: 'us-east-1', forcePathStyle: true, partSizeBytes: 16 * 1024 * 1024 });
    expect(loadConfig({ S3_BUCKET: 'b-on-aws', S3_FORCE_PATH_STYLE: 'false' }).s3?.forcePathStyle).toBe(false);
  });

  it('reads retention per type, weeks and months included', () => {
    const config = loadConfig({ RETENTION_DAILY_DAYS: '3', RETENTION_WEEKLY_WEEKS: '2', RETENTION_MONTHLY_MONTHS: '6', RETENTION_MANUAL_DAYS: '10', RETENTION_PRE_RESTORE_DAYS: '5', RETENTION_PITR_DAYS: '2' });
    expect(config.backup.retention).toEqual({ daily: { days: 3 }, weekly: { days: 14 }, monthly: { months: 6 }, manual: { days: 10 }, pre_restore: { days: 5 }, pitr: { days: 2 } });
  });

  it('reads the schedules, and names a bad cron with what is wrong', () => {
    expect(loadConfig({ SCHEDULE_DAILY_CRON: '0 30 1 * * *' }).schedules).toEqual({ timezone: 'America/Toronto', daily: '0 30 1 * * *', weekly: '0 0 3 * * 7', monthly: '0 0 4 1 * *', drill: '0 0 5 * * 7', jitterMs: 300_000 });
    expect(problems({ SCHEDULE_WEEKLY_CRON: '0 3 * * 7' })).toEqual([
      'SCHEDULE_WEEKLY_CRON="0 3 * * 7": "0 3 * * 7" has 5 fields; Windmill cron has 6: seconds minutes hours day-of-month month day-of-week (e.g. "0 0 2 * * *") (example: SCHEDULE_WEEKLY_CRON=0 0 3 * * 7)',
    ]);
  });

  it('reads SCHEDULE_JITTER (default 5m) and refuses one that is not a duration up to an hour', () => {
    expect(loadConfig({ SCHEDULE_JITTER: '90s' }).schedules.jitterMs).toBe(90_000);
    expect(loadConfig({ SCHEDULE_JITTER: '0s' }).schedules.jitterMs).toBe(0);
    expect(problems({ SCHEDULE_JITTER: '2h' })).toEqual(['SCHEDULE_JITTER="2h": must be a duration from 0s to 1h, like 5m or 90s (example: SCHEDULE_JITTER=10m)']);
  });

  it('turns tracing on with OTEL_EXPORTER_OTLP_ENDPOINT, and shows its URL without credentials', () => {
    expect(loadConfig({}).tracing).toBeUndefined();
    const config = loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://user:s3cret@otel.example:4318' });
    expect(config.tracing).toEqual({ endpoint: 'https://user:s3cret@otel.example:4318' });
    expect(JSON.stringify(redactConfig(config))).not.toContain('s3cret');
    expect(problems({ OTEL_EXPORTER_OTLP_ENDPOINT: 'otel:4318' })).toEqual(['OTEL_EXPORTER_OTLP_ENDPOINT="otel:4318": Invalid URL (example: OTEL_EXPORTER_OTLP_ENDPOINT=http://otel-collector:4318)']);
  });

  it('names each bad variable, what is wrong, and an example, all at once', () => {
    expect(problems({ PGPORT: 'five', BACKUP_TIMEZONE: 'Mars/Olympus', S3_BUCKET: 'Bad_Bucket', TEMPORAL_ADDRESS: 'http://x' })).toEqual([
      'PGPORT="five": Invalid input: expected number, received NaN (example: PGPORT=5432)',
      'BACKUP_TIMEZONE="Mars/Olympus": is not an IANA time zone (example: BACKUP_TIMEZONE=America/Toronto)',
      'S3_BUCKET="Bad_Bucket": is not a valid S3 bucket name (example: S3_BUCKET=family-brain-backups)',
      'TEMPORAL_ADDRESS="http://x": must be host:port (example: TEMPORAL_ADDRESS=localhost:7233)',
    ]);
  });

  it('rejects a DATABASE_URL that is not postgres:// without echoing its password', () => {
    const [problem] = problems({ DATABASE_URL: 'mysql://root:hunter2@db/x' });
    expect(problem).toMatch(/^DATABASE_URL="mysql:\/\/root:\*\*\*@db\/x": must start with postgres:\/\//);
    expect(problem).not.toContain('hunter2');
  });

  it('asks for S3_BUCKET when other S3 settings are given without it', () => {
    expect(problems({ S3_ENDPOINT: 'http://minio:9000' })).toEqual([
      'S3_BUCKET is not set, but S3_ENDPOINT or S3_PREFIX is: set S3_BUCKET too (example: S3_BUCKET=family-brain-backups)',
    ]);
  });

  it('redacts the database password and AWS keys when the config is printed', () => {
    const env = { DATABASE_URL: 'postgres://u:topsecret@h/db', S3_BUCKET: 'bucket-1', AWS_ACCESS_KEY_ID: 'fake-access-key-id-for-test', AWS_SECRET_ACCESS_KEY: 'shh' };
    const printed = JSON.stringify(redactConfig(loadConfig(env), env));
    expect(printed).not.toContain('topsecret');
    expect(printed).not.toContain('fake-access-key-id');
    expect(printed).not.toContain('shh');
    expect(printed).toContain('"password":"***"');
  });

  it('hands the password to child processes through the environment only', () => {
    const env = libpqEnv(loadConfig({ DATABASE_URL: 'postgres://u:pw@h:1/db' }).database, 'db', {});
    expect(env).toEqual({ PGHOST: 'h', PGPORT: '1', PGUSER: 'u', PGDATABASE: 'db', PGPASSWORD: 'pw', PGAPPNAME: 'family-brain-backup' });
  });

  it('passes libpq TLS settings and HOME through to children, but never connection settings from the environment', () => {
    const inherited = { HOME: '/home/app', PGSSLROOTCERT: '/etc/ca.pem', PGHOST: 'elsewhere', PGPASSWORD: 'other', AWS_SECRET_ACCESS_KEY: 'nope' };
    const env = libpqEnv(loadConfig({ DATABASE_URL: 'postgres://u:pw@h:1/db?sslmode=verify-full' }).database, 'db', inherited);
    expect(env).toEqual({
      HOME: '/home/app', PGSSLROOTCERT: '/etc/ca.pem', PGHOST: 'h', PGPORT: '1', PGUSER: 'u', PGDATABASE: 'db', PGPASSWORD: 'pw', PGSSLMODE: 'verify-full', PGAPPNAME: 'family-brain-backup',
    });
  });

  it('documents every variable in the README table with the default the code uses', () => {
    const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
    const rows = new Map(
      [...readme.matchAll(/^\| (`[A-Z0-9_]+`(?:, `[A-Z0-9_]+`)*)[^|]* \| ([^|]+) \|/gm)].flatMap((m) => [...m[1]!.matchAll(/`([A-Z0-9_]+)`/g)].map((n) => [n[1]!, m[2]!.trim()] as const)),
    );
    for (const [name, value] of Object.entries(settingDefaults())) {
      const documented = rows.get(name);
      expect(documented, `${name} is not in the README's configuration table`).toBeDefined();
      const shown = /^`([^`]*)`/.exec(documented!)?.[1];
      // Without a fixed default the cell says "—" or how the value is worked out (S3_FORCE_PATH_STYLE, PG_BIN_DIR).
      if (value !== undefined) expect(shown, `${name}: README says ${documented}, the code's default is ${String(value)}`).toBe(String(value));
    }
  });

  it('reads VERIFY_TARGET: the worker\'s own server by default, the source, or a postgres:// URL whose password is never shown', () => {
    expect(loadConfig({}).verify).toMatchObject({ target: 'worker', idleMs: 300_000, fallback: 'none' });
    expect(loadConfig({ VERIFY_TARGET: 'source', VERIFY_FALLBACK: 'source' }).verify).toMatchObject({ target: 'source', fallback: 'source' });
    const config = loadConfig({ VERIFY_TARGET: 'postgres://verify:s3cret@10.0.0.5:5433/scratch', PGPASSWORD: 'other' });
    expect(config.verify).toMatchObject({ target: 'server', server: { host: '10.0.0.5', port: 5433, user: 'verify', password: 's3cret', database: 'scratch', maintenanceDatabase: 'scratch' } });
    expect(JSON.stringify(redactConfig(config))).not.toContain('s3cret');
    expect(problems({ VERIFY_TARGET: 'mysql://verify:s3cret@10.0.0.5' })).toEqual(['VERIFY_TARGET=***: must be worker, source or a postgres:// URL (example: VERIFY_TARGET=worker)']);
  });
});
