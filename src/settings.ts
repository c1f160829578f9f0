// The settings table: every environment variable read, with its schema, an example and its default.
// loadConfig (config.ts) reads the environment through it; the README's table is held to it by a test.
import { z } from 'zod';
import { durationMs } from './backup/duration';
import { BACKUP_FORMATS, type BackupFormat } from './backup/naming';
import { DEFAULT_RETENTION } from './backup/retention';
import { windmillCronToCalendar } from './schedules/cron';
import { DEFAULT_CRONS, DEFAULT_DRILL_CRON } from './schedules/definitions';
import { DEFAULT_BASEBACKUP_CRONS } from './schedules/baseBackupSchedules';
import { DEFAULT_BASEBACKUP_RETENTION_DAYS } from './basebackup/retention';

/** One documented setting: an example for errors and the README, its schema, and its default when it has one. */
export interface Setting {
  example: string;
  schema: z.ZodType;
  /** Used when the variable is unset or empty; settings without one are optional. */
  default?: unknown;
}

const bool = z
  .string()
  .trim()
  .toLowerCase()
  .refine((v) => ['true', 'false', '1', '0', 'yes', 'no'].includes(v), 'must be true or false')
  .transform((v) => ['true', '1', 'yes'].includes(v));

const port = z.coerce.number().int().min(1).max(65535);

const timezone = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'is not an IANA time zone');

const cron = z.string().superRefine((value, ctx) => {
  try {
    windmillCronToCalendar(value);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message.replace(/^"[^"]*": /, '') });
  }
});

export const settings = {
  DATABASE_URL: {
    example: 'postgres://backup:secret@db.example:5432/family_brain',
    schema: z.string().refine((v) => /^postgres(ql)?:\/\//.test(v), 'must start with postgres:// or postgresql://'),
  },
  PGHOST: { example: 'localhost', schema: z.string().min(1), default: 'localhost' },
  PGPORT: { example: '5432', schema: port, default: 5432 },
  PGUSER: { example: 'postgres', schema: z.string().min(1), default: 'postgres' },
  PGPASSWORD: { example: '(a password)', schema: z.string() },
  PGDATABASE: { example: 'family_brain', schema: z.string().min(1), default: 'family_brain' },
  PGSSLMODE: {
    example: 'require',
    schema: z.enum(['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full']),
  },
  BACKUP_DIR: { example: '/var/backups/family-brain', schema: z.string().min(1), default: './backups' },
  BACKUP_PREFIX: {
    example: 'family_brain',
    schema: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'must be letters, digits, "_" or "-"'),
    default: 'family_brain',
  },
  BACKUP_TIMEZONE: { example: 'America/Toronto', schema: timezone, default: 'America/Toronto' },
  S3_BUCKET: {
    example: 'family-brain-backups',
    schema: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'is not a valid S3 bucket name'),
  },
  S3_PREFIX: { example: 'backups/', schema: z.string(), default: 'backups/' },
  S3_ENDPOINT: { example: 'http://localhost:9000', schema: z.url({ protocol: /^https?$/ }) },
  S3_REGION: { example: 'us-east-1', schema: z.string().min(1), default: 'us-east-1' },
  S3_FORCE_PATH_STYLE: { example: 'true', schema: bool },
  TEMPORAL_ADDRESS: {
    example: 'localhost:7233',
    schema: z.string().regex(/^[^\s:/]+:\d+$/, 'must be host:port'),
    default: 'localhost:7233',
  },
  TEMPORAL_NAMESPACE: { example: 'default', schema: z.string().min(1), default: 'default' },
  TEMPORAL_TASK_QUEUE: { example: 'family-brain-backup', schema: z.string().min(1), default: 'family-brain-backup' },
  TEMPORAL_TLS_CERT: { example: '/etc/temporal/client.pem', schema: z.string().min(1) },
  TEMPORAL_TLS_KEY: { example: '/etc/temporal/client.key', schema: z.string().min(1) },
  TEMPORAL_TLS_CA: { example: '/etc/temporal/ca.pem', schema: z.string().min(1) },
  TEMPORAL_TLS_SERVER_NAME: { example: 'my-ns.a1b2c.tmprl.cloud', schema: z.string().min(1) },
  TEMPORAL_API_KEY: { example: '(a Temporal Cloud API key)', schema: z.string().min(1) },
  TEMPORAL_CONNECT_TIMEOUT_SECONDS: { example: '15', schema: z.coerce.number().int().min(1).max(300), default: 5 },
  WORKER_SHUTDOWN_GRACE_SECONDS: { example: '300', schema: z.coerce.number().int().min(0).max(86400), default: 300 },
  ACTIVITY_HEARTBEAT_TIMEOUT_SECONDS: { example: '60', schema: z.coerce.number().int().min(10).max(3600) },
  ACTIVITY_RETRY_INTERVAL_SECONDS: { example: '10', schema: z.coerce.number().int().min(1).max(3600) },
  WORKER_LOST_AFTER_SECONDS: { example: '120', schema: z.coerce.number().int().min(5).max(86400) },
  WORKER_METRICS_ADDRESS: { example: '0.0.0.0:9464', schema: z.string().regex(/^[^\s:/]+:\d+$/, 'must be host:port') },
  WORKER_HEALTH_ADDRESS: { example: '0.0.0.0:8081', schema: z.string().regex(/^[^\s:/]+:\d+$/, 'must be host:port') },
  LOG_FORMAT: { example: 'json', schema: z.enum(['json', 'text']), default: 'text' as const },
  BACKUP_FORMAT: { example: 'plain_gzip', schema: z.enum(Object.keys(BACKUP_FORMATS) as [BackupFormat, ...BackupFormat[]]), default: 'plain_gzip' as BackupFormat },
  BACKUP_GZIP_LEVEL: { example: '1', schema: z.coerce.number().int().min(1).max(9), default: 1 },
  BACKUP_ZSTD_LEVEL: { example: '3', schema: z.coerce.number().int().min(1).max(19), default: 1 },
  BACKUP_ZSTD_THREADS: { example: '0', schema: z.coerce.number().int().min(0).max(256), default: 0 },
  BACKUP_VERIFY: { example: 'after_dump', schema: z.enum(['during_dump', 'after_dump']), default: 'during_dump' as 'during_dump' | 'after_dump' },
  BACKUP_AGE_RECIPIENTS: {
    example: 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p',
    schema: z
      .string()
      .transform((v) => v.split(/[\s,]+/).filter((k) => k !== ''))
      .pipe(z.array(z.string().regex(/^age1[02-9ac-hj-np-z]{58}$/, 'must be age X25519 public keys (age1..., from age-keygen -y)')).min(1, 'must hold at least one age public key')),
  },
  BACKUP_AGE_IDENTITY_FILE: { example: '/run/secrets/fbb-age-key.txt', schema: z.string().min(1) },
  RESTORE_JOBS: { example: '2', schema: z.coerce.number().int().min(1).max(64), default: 2 },
  RESTORE_MAINTENANCE_WORK_MEM: {
    example: '512MB',
    schema: z.string().regex(/^(\d+(kB|MB|GB)|default)$/, 'must be a size like 256MB or 1GB, or "default" for the server\'s setting'),
    default: '512MB',
  },
  RESTORE_MAINTENANCE_WORKERS: {
    example: '4',
    schema: z.union([z.literal('default'), z.coerce.number().int().min(0).max(64)]),
    default: 'default' as 'default' | number,
  },
  RESTORE_LOCK_TIMEOUT_SECONDS: { example: '30', schema: z.coerce.number().int().min(1).max(3600), default: 60 },
  RETENTION_DAILY_DAYS: { example: '7', schema: z.coerce.number().int().min(1), default: DEFAULT_RETENTION.daily.days },
  RETENTION_WEEKLY_WEEKS: { example: '4', schema: z.coerce.number().int().min(1), default: DEFAULT_RETENTION.weekly.days / 7 },
  RETENTION_MONTHLY_MONTHS: { example: '12', schema: z.coerce.number().int().min(1), default: DEFAULT_RETENTION.monthly.months },
  RETENTION_MANUAL_DAYS: { example: '30', schema: z.coerce.number().int().min(1), default: DEFAULT_RETENTION.manual.days },
  RETENTION_PRE_RESTORE_DAYS: { example: '30', schema: z.coerce.number().int().min(1), default: DEFAULT_RETENTION.pre_restore.days },
  RETENTION_PITR_DAYS: { example: '7', schema: z.coerce.number().int().min(1), default: DEFAULT_RETENTION.pitr.days },
  RETENTION_ASIDE_DATABASE_DAYS: { example: '7', schema: z.coerce.number().int().min(1), default: 7 },
  S3_PART_SIZE_MB: { example: '16', schema: z.coerce.number().int().min(5).max(5120), default: 16 },
  PG_BIN_DIR: { example: '/usr/lib/postgresql/15/bin', schema: z.string().min(1) },
  PG_MAINTENANCE_DB: { example: 'postgres', schema: z.string().min(1), default: 'postgres' },
  SCHEDULE_TIMEZONE: { example: 'America/Toronto', schema: timezone, default: 'America/Toronto' },
  SCHEDULE_DAILY_CRON: { example: '0 0 2 * * *', schema: cron, default: DEFAULT_CRONS.daily },
  SCHEDULE_WEEKLY_CRON: { example: '0 0 3 * * 7', schema: cron, default: DEFAULT_CRONS.weekly },
  SCHEDULE_MONTHLY_CRON: { example: '0 0 4 1 * *', schema: cron, default: DEFAULT_CRONS.monthly },
  TENANT_COLUMN: { example: 'household_id', schema: z.string().regex(/^[A-Za-z_][A-Za-z0-9_$]*$/, 'must be a plain SQL column name'), default: 'tenant_id' },
  TENANT_TABLE: { example: 'households', schema: z.string().regex(/^[A-Za-z_][A-Za-z0-9_$]*$/, 'must be a plain SQL table name'), default: 'tenants' },
  DRILL_CRON: { example: '0 0 5 * * 7', schema: cron, default: DEFAULT_DRILL_CRON },
  NOTIFY_WEBHOOK_URL: {
    example: 'https://hooks.slack.com/services/T000/B000/XXXX',
    schema: z
      .string()
      .transform((v) => v.split(',').map((u) => u.trim()).filter((u) => u !== ''))
      .pipe(z.array(z.url({ protocol: /^https?$/ })).min(1, 'must hold at least one http(s) URL')),
  },
  NOTIFY_ON: { example: 'always', schema: z.enum(['failure', 'always']), default: 'failure' as const },
  LOG_LEVEL: { example: 'info', schema: z.enum(['debug', 'info', 'warn', 'error']), default: 'info' as const },
  OTEL_EXPORTER_OTLP_ENDPOINT: { example: 'http://otel-collector:4318', schema: z.url({ protocol: /^https?$/ }) },
  SCHEDULE_JITTER: {
    example: '10m',
    schema: z.string().superRefine((value, ctx) => {
      const ms = durationMs(value);
      if (ms === undefined || ms < 0 || ms > 3_600_000) ctx.addIssue({ code: 'custom', message: 'must be a duration from 0s to 1h, like 5m or 90s' });
    }),
    default: '5m',
  },
  WAL_SLOT_NAME: { example: 'fbb_family_brain', schema: z.string().regex(/^[a-z0-9_]{1,63}$/, 'must be 1-63 lower-case letters, digits or "_" (a replication slot name)') },
  WAL_PARTIAL_UPLOAD_SECONDS: { example: '30', schema: z.coerce.number().int().min(1).max(3600), default: 30 },
  WAL_STALL_SECONDS: { example: '300', schema: z.coerce.number().int().min(10).max(86400), default: 120 },
  WAL_MAX_LAG_SECONDS: { example: '300', schema: z.coerce.number().int().min(10).max(604800), default: 300 },
  WAL_SPOOL_DIR: { example: '/var/lib/fbb/wal-spool', schema: z.string().min(1) },
  VERIFY_TARGET: {
    example: 'worker',
    schema: z.string().refine((v) => v === 'worker' || v === 'source' || /^postgres(ql)?:\/\//.test(v), 'must be worker, source or a postgres:// URL'),
    default: 'worker',
  },
  VERIFY_SERVER_DIR: { example: '/var/lib/family-brain-backup/verify-server', schema: z.string().min(1) },
  VERIFY_SERVER_IDLE_SECONDS: { example: '300', schema: z.coerce.number().int().min(0).max(86400), default: 300 },
  VERIFY_FALLBACK: { example: 'source', schema: z.enum(['none', 'source']), default: 'none' as 'none' | 'source' },
  WORKER_VERSIONING: { example: 'false', schema: bool, default: true },
  WORKER_DEPLOYMENT_NAME: {
    example: 'family-brain-backup',
    schema: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,199}$/, 'must be letters, digits, "_" or "-" (no "."), at most 200'),
    default: 'family-brain-backup',
  },
  WORKER_BUILD_ID: { example: '0.1.0-5df39490ed19', schema: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.+-]{0,199}$/, 'must be letters, digits, ".", "_", "+" or "-", at most 200') },
  WORKER_SET_CURRENT: { example: 'never', schema: z.enum(['if_none', 'always', 'never']) },
  BASEBACKUP_SCHEDULE: { example: 'on', schema: z.enum(['auto', 'on', 'off']), default: 'auto' as 'auto' | 'on' | 'off' },
  BASEBACKUP_FULL_CRON: { example: '0 30 0 * * 7', schema: cron, default: DEFAULT_BASEBACKUP_CRONS.full },
  BASEBACKUP_INCREMENTAL_CRON: { example: 'off', schema: z.union([z.literal('off'), cron]), default: DEFAULT_BASEBACKUP_CRONS.incremental },
  RETENTION_BASEBACKUP_DAYS: { example: '14', schema: z.coerce.number().int().min(1).max(3650), default: DEFAULT_BASEBACKUP_RETENTION_DAYS },
} satisfies Record<string, Setting>;

/** Settings whose values are never printed. */
export const SECRET_SETTINGS = new Set<string>(['PGPASSWORD', 'TEMPORAL_API_KEY', 'NOTIFY_WEBHOOK_URL', 'VERIFY_TARGET']);

export type Settings = typeof settings;

/** Every variable read, with its default (undefined: none), as the README's configuration table must list them. */
export function settingDefaults(): Record<string, unknown> {
  return Object.fromEntries(Object.entries(settings).map(([name, s]) => [name, (s as Setting).default]));
}
/** Each setting's value: its default when it has one and the variable is unset, else possibly undefined. */
export type Parsed = { [K in keyof Settings]: Settings[K] extends { default: unknown } ? z.output<Settings[K]['schema']> : z.output<Settings[K]['schema']> | undefined };
