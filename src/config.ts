import path from 'node:path';
import { durationMs } from './backup/duration';
import type { BackupFormat } from './backup/naming';
import type { RetentionPolicy } from './backup/retention';
import { databaseFrom, redactDatabaseUrl, redactUrl, verifyServerFrom } from './configUrls';
import { SECRET_SETTINGS, settings, type Parsed, type Setting, type Settings } from './settings';
import { defaultVerifyServerDir, type BaseBackupConfig, type VersioningConfig, type VerifyConfig, type WalConfig } from './subsystemConfig';

export { redactConfig, redactDatabaseUrl, redactUrl } from './configUrls';
export { defaultVerifyServerDir, walConfig, type BaseBackupConfig, type VersioningConfig, type VerifyConfig, type WalConfig } from './subsystemConfig';

/** Where the database is; the password never leaves this object except through a child's environment. */
export interface DatabaseConfig {
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  database: string;
  /** libpq sslmode (disable, prefer, require, verify-ca, verify-full), when set. */
  sslmode: string | undefined;
  /** Database to connect to for creating, renaming and listing databases (not the one backed up). */
  maintenanceDatabase: string;
}

/** S3 settings; credentials come from the AWS SDK's standard chain, never from here. */
export interface S3Config {
  bucket: string;
  prefix: string;
  endpoint: string | undefined;
  region: string;
  forcePathStyle: boolean;
  /** Multipart upload part size; memory per upload is about twice this. */
  partSizeBytes: number;
}

/** How to reach Temporal; the key and API key are secrets and are never logged. */
export interface TemporalConfig {
  address: string;
  namespace: string;
  taskQueue: string;
  /** mTLS: client certificate and key files (PEM), and an optional CA for the server's certificate. */
  tls: { certPath: string | undefined; keyPath: string | undefined; caPath: string | undefined; serverName: string | undefined } | undefined;
  /** Temporal Cloud API key; implies TLS. */
  apiKey: string | undefined;
  /** How long the CLI (and fbb doctor) keeps trying to reach the server before it gives up; undefined (a config built by hand): 5 s. */
  connectTimeoutMs?: number;
}

/** The worker process. */
export interface WorkerConfig {
  /** How long a shutting-down worker lets running activities finish before cancelling them. */
  shutdownGraceMs: number;
  /** host:port for the Prometheus endpoint of the Temporal runtime; undefined = no metrics. */
  metricsAddress: string | undefined;
  /** host:port of the HTTP health endpoint (/healthz); undefined = none. */
  healthAddress: string | undefined;
  /** "json" (one object per line, for log collectors) or "text". */
  logFormat: 'json' | 'text';
  /**
   * Overrides of every long activity's heartbeat timeout and first retry interval, in seconds: how soon
   * a dead worker's activity is retried elsewhere. Unset: each activity's own (1-2 minutes; docs/design.md).
   */
  activityTuning?: { heartbeat_timeout_seconds: number | null; retry_interval_seconds: number | null; worker_lost_seconds?: number | null };
  /** Worker Versioning (src/workerVersion.ts); unset = on, with the defaults. */
  versioning?: VersioningConfig;
}

/** Everything the worker, activities and CLI read from the environment, parsed once. */
export interface Config {
  database: DatabaseConfig;
  backup: {
    dir: string;
    prefix: string;
    timezone: string;
    /** Format of scheduled and CLI backups when the input does not name one. */
    format: BackupFormat;
    gzipLevel: number;
    zstdLevel: number;
    /** zstd worker threads; 0 = one per core. */
    zstdThreads: number;
    /**
     * When a backup is restored into a scratch database to verify it: "during_dump", from the same
     * bytes as they are written (one pass), or "after_dump", from the file once written (two passes:
     * a shorter snapshot and less load at once on the server).
     */
    verify: 'during_dump' | 'after_dump';
    retention: RetentionPolicy;
    asideDatabaseDays: number;
    /** age public keys (BACKUP_AGE_RECIPIENTS) the backups are encrypted to; empty = no encryption. */
    ageRecipients: string[];
    /** Path of the age private key (BACKUP_AGE_IDENTITY_FILE) that verification and restores decrypt with; read only when needed. */
    ageIdentityFile: string | undefined;
  };
  /** How restores (and verification, which is a restore) run. */
  restore: {
    /** pg_restore --jobs for custom-format backups restored beside the live database; 1 = no parallelism. */
    jobs: number;
    /** maintenance_work_mem of restoring sessions (index builds, HNSW above all); undefined = the server's setting. */
    maintenanceWorkMem: string | undefined;
    /** max_parallel_maintenance_workers of restoring sessions (parallel index builds, HNSW included); undefined = the server's setting. */
    maintenanceWorkers: number | undefined;
    /** How long an in-place restore waits for a lock held by another session before it ends that session or gives up (lock_timeout). */
    lockTimeoutSeconds: number;
  };
  s3: S3Config | undefined;
  temporal: TemporalConfig;
  worker: WorkerConfig;
  /** Windmill-style 6-field crons and the time zone of the three backup schedules. */
  schedules: { timezone: string; daily: string; weekly: string; monthly: string; /** The restore drill's cron (DRILL_CRON). */ drill: string; /** SCHEDULE_JITTER: each run starts up to this much later, at random (ms). */ jitterMs?: number };
  /** How a tenant restore finds a tenant's rows: the column naming the tenant, and the table whose rows are the tenants. */
  tenants: { column: string; table: string };
  /** Webhooks told about failures (and with NOTIFY_ON=always, successes). The URLs are secrets: only the worker reads them. */
  notify: { webhookUrls: string[]; on: 'failure' | 'always' };
  /** Directory holding pg_dump, pg_restore and psql; undefined = pick the newest installed. */
  pgBinDir: string | undefined;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** OpenTelemetry tracing: on when OTEL_EXPORTER_OTLP_ENDPOINT is set (spans go there over OTLP HTTP). */
  tracing?: { endpoint: string };
  /** The continuous WAL archive (src/wal); unset in configs built by hand: walConfig() supplies the defaults. */
  wal?: WalConfig;
  /** Where scratch databases are made; absent (a config built by hand, as tests do): on the source, as VERIFY_TARGET=source. */
  verify?: VerifyConfig;
  /** Base-backup schedules and retention; absent (a config built by hand): the defaults (src/schedules/baseBackupSchedules.ts, src/basebackup/retention.ts). */
  basebackup?: BaseBackupConfig;
}

/** Thrown when the environment holds a setting we cannot use; lists every problem at once. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}\nFix the variables above (see README "Configuration") and run again.`);
  }
}

/** Reads and validates the environment; throws ConfigError naming each bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const parsed: Record<string, unknown> = {};
  const given = new Set<string>();
  for (const name of Object.keys(settings) as (keyof Settings)[]) {
    const setting: Setting = settings[name];
    const raw = env[name];
    if (raw === undefined || raw === '') {
      parsed[name] = setting.default;
      continue;
    }
    given.add(name);
    const result = setting.schema.safeParse(raw);
    if (result.success) {
      parsed[name] = result.data;
    } else {
      const shown = SECRET_SETTINGS.has(name) ? '***' : JSON.stringify(name === 'DATABASE_URL' ? redactDatabaseUrl(raw) : redactUrl(raw));
      const why = result.error.issues.map((i) => i.message).join('; ');
      problems.push(`${name}=${shown}: ${why} (example: ${name}=${setting.example})`);
    }
  }
  const p = parsed as Parsed;
  let database: DatabaseConfig | undefined;
  try {
    database = databaseFrom(p);
  } catch (err) {
    problems.push(`DATABASE_URL=${JSON.stringify(redactDatabaseUrl(p.DATABASE_URL ?? ''))}: ${(err as Error).message} (example: DATABASE_URL=${settings.DATABASE_URL.example})`);
  }
  if (p.S3_BUCKET === undefined && (given.has('S3_ENDPOINT') || given.has('S3_PREFIX'))) {
    problems.push(`S3_BUCKET is not set, but S3_ENDPOINT or S3_PREFIX is: set S3_BUCKET too (example: S3_BUCKET=${settings.S3_BUCKET.example})`);
  }
  if ((p.TEMPORAL_TLS_CERT === undefined) !== (p.TEMPORAL_TLS_KEY === undefined)) {
    problems.push('TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together: set both (client certificate and its key) or neither');
  }
  if (p.BACKUP_AGE_RECIPIENTS !== undefined && p.BACKUP_FORMAT === 'custom') {
    problems.push('BACKUP_FORMAT=custom cannot be encrypted (pg_restore needs a plain, seekable file): with BACKUP_AGE_RECIPIENTS set, use BACKUP_FORMAT=plain_gzip or plain_zstd');
  }
  let verifyServer: DatabaseConfig | undefined;
  if (p.VERIFY_TARGET !== undefined && p.VERIFY_TARGET !== 'worker' && p.VERIFY_TARGET !== 'source') {
    try {
      verifyServer = verifyServerFrom(p.VERIFY_TARGET);
    } catch (err) {
      problems.push(`VERIFY_TARGET=${JSON.stringify(redactUrl(p.VERIFY_TARGET))}: ${(err as Error).message} (example: VERIFY_TARGET=postgres://verify:secret@127.0.0.1:5433/postgres)`);
    }
  }
  if (problems.length > 0 || database === undefined) throw new ConfigError(problems);

  return {
    database,
    backup: {
      dir: path.resolve(p.BACKUP_DIR),
      prefix: p.BACKUP_PREFIX,
      timezone: p.BACKUP_TIMEZONE,
      format: p.BACKUP_FORMAT,
      // Both chosen by `npm run bench` on the sample database (1 GB, 2 cores): gzip -1 dumps 2.8 times
      // as fast as -6 for files 10% larger; zstd -1 is faster than -3 and, multithreaded, no larger.
      gzipLevel: p.BACKUP_GZIP_LEVEL,
      zstdLevel: p.BACKUP_ZSTD_LEVEL,
      zstdThreads: p.BACKUP_ZSTD_THREADS,
      verify: p.BACKUP_VERIFY,
      retention: {
        daily: { days: p.RETENTION_DAILY_DAYS },
        weekly: { days: 7 * p.RETENTION_WEEKLY_WEEKS },
        monthly: { months: p.RETENTION_MONTHLY_MONTHS },
        manual: { days: p.RETENTION_MANUAL_DAYS },
        pre_restore: { days: p.RETENTION_PRE_RESTORE_DAYS },
        pitr: { days: p.RETENTION_PITR_DAYS },
      },
      asideDatabaseDays: p.RETENTION_ASIDE_DATABASE_DAYS,
      ageRecipients: p.BACKUP_AGE_RECIPIENTS ?? [],
      ageIdentityFile: p.BACKUP_AGE_IDENTITY_FILE === undefined ? undefined : path.resolve(p.BACKUP_AGE_IDENTITY_FILE),
    },
    restore: {
      jobs: p.RESTORE_JOBS,
      maintenanceWorkMem: p.RESTORE_MAINTENANCE_WORK_MEM === 'default' ? undefined : p.RESTORE_MAINTENANCE_WORK_MEM,
      maintenanceWorkers: p.RESTORE_MAINTENANCE_WORKERS === 'default' ? undefined : p.RESTORE_MAINTENANCE_WORKERS,
      lockTimeoutSeconds: p.RESTORE_LOCK_TIMEOUT_SECONDS,
    },
    s3:
      p.S3_BUCKET === undefined
        ? undefined
        : {
            bucket: p.S3_BUCKET,
            prefix: normalisePrefix(p.S3_PREFIX),
            endpoint: p.S3_ENDPOINT,
            region: p.S3_REGION,
            // Custom endpoints (MinIO, s3rver, R2) rarely do virtual-hosted buckets.
            forcePathStyle: p.S3_FORCE_PATH_STYLE ?? p.S3_ENDPOINT !== undefined,
            partSizeBytes: p.S3_PART_SIZE_MB * 1024 * 1024,
          },
    temporal: {
      address: p.TEMPORAL_ADDRESS,
      namespace: p.TEMPORAL_NAMESPACE,
      taskQueue: p.TEMPORAL_TASK_QUEUE,
      tls:
        p.TEMPORAL_TLS_CERT === undefined && p.TEMPORAL_TLS_CA === undefined && p.TEMPORAL_TLS_SERVER_NAME === undefined
          ? undefined
          : { certPath: p.TEMPORAL_TLS_CERT, keyPath: p.TEMPORAL_TLS_KEY, caPath: p.TEMPORAL_TLS_CA, serverName: p.TEMPORAL_TLS_SERVER_NAME },
      apiKey: p.TEMPORAL_API_KEY,
      connectTimeoutMs: p.TEMPORAL_CONNECT_TIMEOUT_SECONDS * 1000,
    },
    worker: {
      shutdownGraceMs: p.WORKER_SHUTDOWN_GRACE_SECONDS * 1000,
      metricsAddress: p.WORKER_METRICS_ADDRESS,
      healthAddress: p.WORKER_HEALTH_ADDRESS,
      logFormat: p.LOG_FORMAT,
      activityTuning: { heartbeat_timeout_seconds: p.ACTIVITY_HEARTBEAT_TIMEOUT_SECONDS ?? null, retry_interval_seconds: p.ACTIVITY_RETRY_INTERVAL_SECONDS ?? null, ...(p.WORKER_LOST_AFTER_SECONDS === undefined ? {} : { worker_lost_seconds: p.WORKER_LOST_AFTER_SECONDS }) },
      versioning: { enabled: p.WORKER_VERSIONING, deploymentName: p.WORKER_DEPLOYMENT_NAME, buildId: p.WORKER_BUILD_ID, setCurrent: p.WORKER_SET_CURRENT },
    },
    schedules: {
      timezone: p.SCHEDULE_TIMEZONE,
      daily: p.SCHEDULE_DAILY_CRON,
      weekly: p.SCHEDULE_WEEKLY_CRON,
      monthly: p.SCHEDULE_MONTHLY_CRON,
      drill: p.DRILL_CRON,
      jitterMs: durationMs(p.SCHEDULE_JITTER),
    },
    tenants: { column: p.TENANT_COLUMN, table: p.TENANT_TABLE },
    notify: { webhookUrls: p.NOTIFY_WEBHOOK_URL ?? [], on: p.NOTIFY_ON },
    pgBinDir: p.PG_BIN_DIR,
    logLevel: p.LOG_LEVEL,
    ...(p.OTEL_EXPORTER_OTLP_ENDPOINT === undefined ? {} : { tracing: { endpoint: p.OTEL_EXPORTER_OTLP_ENDPOINT } }),
    wal: {
      slotName: p.WAL_SLOT_NAME,
      partialUploadSeconds: p.WAL_PARTIAL_UPLOAD_SECONDS,
      maxLagSeconds: p.WAL_MAX_LAG_SECONDS,
      stallSeconds: p.WAL_STALL_SECONDS,
      spoolDir: path.resolve(p.WAL_SPOOL_DIR ?? path.join(p.BACKUP_DIR, '.wal-spool')),
    },
    basebackup: {
      schedule: p.BASEBACKUP_SCHEDULE,
      fullCron: p.BASEBACKUP_FULL_CRON,
      incrementalCron: p.BASEBACKUP_INCREMENTAL_CRON === 'off' ? undefined : p.BASEBACKUP_INCREMENTAL_CRON,
      retentionDays: p.RETENTION_BASEBACKUP_DAYS,
    },
    verify: {
      target: verifyServer !== undefined ? 'server' : (p.VERIFY_TARGET as 'worker' | 'source'),
      ...(verifyServer !== undefined ? { server: verifyServer } : {}),
      serverDir: path.resolve(p.VERIFY_SERVER_DIR ?? defaultVerifyServerDir(env)),
      idleMs: p.VERIFY_SERVER_IDLE_SECONDS * 1000,
      fallback: p.VERIFY_FALLBACK,
    },
  };
}

function normalisePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+/, '');
  return trimmed === '' || trimmed.endsWith('/') ? trimmed : `${trimmed}/`;
}
