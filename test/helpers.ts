// Settings and databases for tests, from the servers test/globalSetup.ts started.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { MockActivityEnvironment } from '@temporalio/testing';
import { execa } from 'execa';
import pg from 'pg';
import { inject } from 'vitest';
import { DEFAULT_RETENTION } from '../src/backup/retention';
import { libpqEnv } from '../src/activities/pgTools';
import type { Config } from '../src/config';
import { fingerprintDatabase, type DatabaseFingerprint } from './compare';
import { loadSampleDatabase, type SampleOptions } from '../src/sample/fixture';

const pgInfo = inject('pg');
const s3Info = inject('s3');

// The AWS SDK reads credentials from its default chain, as in production.
process.env.AWS_ACCESS_KEY_ID = s3Info.accessKeyId;
process.env.AWS_SECRET_ACCESS_KEY = s3Info.secretAccessKey;

let counter = 0;

/** A database name no other test uses. */
export function uniqueName(label: string): string {
  return `fbb_${label}_${process.pid}_${++counter}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
}

/** A fresh, empty backup directory. */
export function tempDir(label = 'backups'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `fbb-${label}-`));
}

/** What a test worker reads as ACTIVITY_HEARTBEAT_TIMEOUT_SECONDS (unset: each activity's own) and ACTIVITY_RETRY_INTERVAL_SECONDS. */
export const TEST_ACTIVITY_TUNING = { heartbeat_timeout_seconds: null, retry_interval_seconds: 1 };

/** Config for the test cluster and s3rver; override any part. */
export function testConfig(overrides: { database?: string; s3?: boolean; backupDir?: string; password?: string; verify?: Config['backup']['verify'] } = {}): Config {
  return {
    database: {
      host: pgInfo.host,
      port: pgInfo.port,
      user: pgInfo.user,
      password: overrides.password ?? pgInfo.password,
      database: overrides.database ?? 'postgres',
      sslmode: undefined,
      maintenanceDatabase: 'postgres',
    },
    backup: {
      dir: overrides.backupDir ?? tempDir(),
      prefix: 'family_brain',
      timezone: 'America/Toronto',
      format: 'plain_gzip',
      gzipLevel: 6,
      zstdLevel: 3,
      zstdThreads: 0,
      verify: overrides.verify ?? 'during_dump',
      retention: DEFAULT_RETENTION,
      asideDatabaseDays: 7,
      ageRecipients: [],
      ageIdentityFile: undefined,
    },
    restore: { jobs: 2, maintenanceWorkMem: '256MB', maintenanceWorkers: undefined, lockTimeoutSeconds: 60 },
    tenants: { column: 'tenant_id', table: 'tenants' },
    s3: overrides.s3
      ? { bucket: s3Info.bucket, prefix: `${uniqueName('prefix')}/`, endpoint: s3Info.endpoint, region: s3Info.region, forcePathStyle: true, partSizeBytes: 5 * 1024 * 1024 }
      : undefined,
    temporal: { address: '127.0.0.1:1', namespace: 'default', taskQueue: 'test', tls: undefined, apiKey: undefined },
    // ACTIVITY_RETRY_INTERVAL_SECONDS=1: a retried activity waits 1 s, 2 s, ... instead of the production 5-30 s; the attempts are the same.
    worker: { shutdownGraceMs: 5_000, metricsAddress: undefined, healthAddress: undefined, logFormat: 'text', activityTuning: TEST_ACTIVITY_TUNING },
    schedules: { timezone: 'America/Toronto', daily: '0 0 2 * * *', weekly: '0 0 3 * * 7', monthly: '0 0 4 1 * *', drill: '0 0 5 * * 7' },
    notify: { webhookUrls: [], on: 'failure' },
    pgBinDir: pgInfo.binDir,
    logLevel: 'warn',
  };
}

/** The environment a user sets for `fbb` against `config`: its database (the password in PGPASSWORD), PG_BIN_DIR and backup directory. */
export function userEnvFor(config: Config): Record<string, string> {
  const db = config.database;
  return {
    PGHOST: db.host,
    PGPORT: String(db.port),
    PGUSER: db.user,
    PGPASSWORD: db.password ?? '',
    PGDATABASE: db.database,
    PG_BIN_DIR: config.pgBinDir ?? '',
    BACKUP_DIR: config.backup.dir,
    // The tests that spawn fbb check scratch databases on the source, as testConfig's configs (no `verify`) do;
    // test/verify-server.test.ts runs the default, the worker's own verification server.
    VERIFY_TARGET: 'source',
  };
}

/** A CLI environment with no Temporal server to reach: an address nothing listens on, given up on after 1 s (the default is 5 s). */
export const NO_TEMPORAL_SERVER = { TEMPORAL_ADDRESS: '127.0.0.1:1', TEMPORAL_CONNECT_TIMEOUT_SECONDS: '1' };

/**
 * A database as the application's role has it: owned by a new LOGIN role without SUPERUSER, CREATEDB
 * or CREATEROLE (the test cluster's password), `vector` created in it by the superuser, as every
 * pgvector guide sets it up. Empty otherwise; the caller drops both.
 */
export async function createAppOwnedDatabase(label: string): Promise<{ role: string; db: string; password: string }> {
  const password = testConfig().database.password!;
  const role = uniqueName(`${label}_role`);
  const db = uniqueName(`${label}_db`);
  await withAdmin(async (c) => {
    await c.query(`CREATE ROLE ${role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '${password}'`);
    await c.query(`CREATE DATABASE ${db} OWNER ${role}`);
  });
  await withAdmin((c) => c.query('CREATE EXTENSION vector'), db);
  return { role, db, password };
}

/** Runs `fn` with a superuser client connected to `database` on the shared test cluster. */
export function withAdmin<T>(fn: (client: pg.Client) => Promise<T>, database = 'postgres'): Promise<T> {
  return withServer(pgInfo, database, fn);
}

/** Runs `fn` with a client connected to `database` on any server (the shared one or a throwaway cluster). */
export async function withServer<T>(server: { host: string; port: number; user: string; password: string }, database: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ host: server.host, port: server.port, user: server.user, password: server.password, database });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates a database, with the sample Family Second Brain contents unless `sample` is false. */
export async function createDatabase(label: string, sample: SampleOptions | false = {}): Promise<string> {
  const name = uniqueName(label);
  // The default sample is copied from the template globalSetup loaded once, instead of loaded again.
  const copy = sample !== false && Object.keys(sample).length === 0;
  await withAdmin((c) => c.query(`CREATE DATABASE ${name}${copy ? ` TEMPLATE ${pgInfo.sampleTemplate}` : ''}`));
  if (sample !== false && !copy) await withAdmin((c) => loadSampleDatabase(c, sample), name);
  return name;
}

/** Drops a database made by createDatabase. */
/** Drops every database whose name starts with `prefix` (a test file's own, live, aside or restored), ending their sessions. */
export async function dropDatabasesLike(prefix: string): Promise<void> {
  const { rows } = await withAdmin((c) => c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE starts_with(datname, $1)', [prefix]));
  await withAdmin(async (c) => {
    for (const { datname } of rows) await c.query(`DROP DATABASE "${datname}" WITH (FORCE)`);
  });
}

export async function dropDatabase(name: string): Promise<void> {
  await withAdmin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
}

/** Exact fingerprint (schema, per-table content hashes, sequences) of a test database. */
export function fingerprint(database: string): Promise<DatabaseFingerprint> {
  return fingerprintDatabase({ host: pgInfo.host, port: pgInfo.port, user: pgInfo.user, password: pgInfo.password, database }, { pgBinDir: pgInfo.binDir });
}

/** Runs one activity function in an activity context (heartbeats, cancellation), once, without retries. */
export function runActivity<A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> {
  const quiet = () => undefined;
  const logger = { log: quiet, trace: quiet, debug: quiet, info: quiet, warn: quiet, error: quiet };
  return new MockActivityEnvironment({ attempt: 1 }, { logger }).run(fn, ...args);
}

/** Restores a plain .sql.gz backup into a new, empty database with bare gunzip | psql; returns its name. */
export async function restoreFileIntoNewDatabase(file: string, label: string): Promise<string> {
  const name = await createDatabase(label, false);
  const config = testConfig({ database: name });
  const psql = execa(`${config.pgBinDir!}/psql`, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-o', '/dev/null'], { env: libpqEnv(config.database), extendEnv: false, stdin: 'pipe' });
  await Promise.all([pipeline(fs.createReadStream(file), zlib.createGunzip(), psql.stdin), psql]);
  return name;
}

/** Two streams that collect what a CLI writes, for runCli and friends. */
export function captured(): { stdout: PassThrough; stderr: PassThrough; text: () => { stdout: string; stderr: string } } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const text = { stdout: '', stderr: '' };
  stdout.on('data', (d: Buffer) => (text.stdout += d.toString()));
  stderr.on('data', (d: Buffer) => (text.stderr += d.toString()));
  return { stdout, stderr, text: () => ({ ...text }) };
}

/** Runs `fn` with an empty PATH (no zstd, no gzip); the PostgreSQL tools are still found through PG_BIN_DIR. */
export async function withEmptyPath<T>(fn: () => Promise<T>): Promise<T> {
  const saved = process.env.PATH;
  process.env.PATH = tempDir('nopath');
  try {
    return await fn();
  } finally {
    process.env.PATH = saved;
  }
}

/** A fresh X25519 key pair made by the real age-keygen, the private key in a 0600 file. */
export async function ageKeygen(): Promise<{ file: string; recipient: string }> {
  const file = path.join(tempDir('agekey'), 'key.txt');
  await execa('age-keygen', ['-o', file]);
  const { stdout } = await execa('age-keygen', ['-y', file]);
  return { file, recipient: stdout.trim() };
}
