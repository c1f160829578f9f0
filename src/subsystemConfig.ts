// The settings of the parts beside dumps and restores: Worker Versioning, the verification server,
// the continuous WAL archive and base backups (read by loadConfig in config.ts, which re-exports these).
import path from 'node:path';
import type { Config, DatabaseConfig } from './config';

/** Which version of the worker deployment a worker is, and what it does about the deployment's current version. */
export interface VersioningConfig {
  /** false: an unversioned worker (WORKER_VERSIONING=false). */
  enabled: boolean;
  deploymentName: string;
  /** undefined: the package version and the workflow bundle's hash. */
  buildId: string | undefined;
  /** undefined: `if_none` for a worker, `always` for `fbb up`, the demo and --local. */
  setCurrent: 'if_none' | 'always' | 'never' | undefined;
}

/**
 * Where scratch databases are made (verification, drills, a partial restore's copy of the backup):
 * VERIFY_TARGET. `worker`: a PostgreSQL of the source's major that the worker runs in `serverDir`;
 * `source`: the database server itself; `server`: a server the user runs (its URL only in the environment).
 */
export interface VerifyConfig {
  target: 'worker' | 'source' | 'server';
  /** The user's verification server (target `server`); its password never leaves this object except through a child's environment. */
  server?: DatabaseConfig;
  /** Where the worker's own servers live (one data directory per PostgreSQL major). */
  serverDir: string;
  /** How long the worker's server runs unused before it is stopped. */
  idleMs: number;
  /** `source`: a verification server lacking an extension the backup needs falls back to the source; `none`: a VerifyServerLacksExtensions. */
  fallback: 'none' | 'source';
}

/** The continuous WAL archive's settings. */
export interface WalConfig {
  /** WAL_SLOT_NAME; undefined = fbb_<database>. */
  slotName: string | undefined;
  /** How often, at least, the newest partial segment is copied to the archive. */
  partialUploadSeconds: number;
  /** Archiving that falls further behind than this is notified. */
  maxLagSeconds: number;
  /** WAL_STALL_SECONDS: a session that makes no progress this long is failed and retried (watchdog.ts). */
  stallSeconds: number;
  /** Where pg_receivewal writes on the worker (WAL_SPOOL_DIR); default <BACKUP_DIR>/.wal-spool. */
  spoolDir: string;
}

/** The WAL archive's settings of `config`, with the defaults for a config that has none. */
export function walConfig(config: Pick<Config, 'wal' | 'backup'>): WalConfig {
  return config.wal ?? { slotName: undefined, partialUploadSeconds: 30, maxLagSeconds: 300, stallSeconds: 120, spoolDir: path.join(config.backup.dir, '.wal-spool') };
}

/** BASEBACKUP_SCHEDULE, BASEBACKUP_FULL_CRON, BASEBACKUP_INCREMENTAL_CRON and RETENTION_BASEBACKUP_DAYS. */
export interface BaseBackupConfig {
  /** auto: the base-backup schedules are applied when the WAL archive runs; on: always; off: never. */
  schedule: 'auto' | 'on' | 'off';
  fullCron: string;
  /** undefined: no incremental schedule (BASEBACKUP_INCREMENTAL_CRON=off). */
  incrementalCron: string | undefined;
  /** The recovery window base-backup retention keeps, in days. */
  retentionDays: number;
}

/**
 * Where the worker's verification servers live by default: /var/lib/family-brain-backup/verify-server
 * as root (the postgres user that runs them must reach it: not under /root), else the XDG state directory.
 */
export function defaultVerifyServerDir(env: NodeJS.ProcessEnv = process.env): string {
  if (process.getuid?.() === 0) return '/var/lib/family-brain-backup/verify-server';
  const state = env.XDG_STATE_HOME || path.join(env.HOME || '/tmp', '.local', 'state');
  return path.join(state, 'family-brain-backup', 'verify-server');
}
