// The restoreDatabase workflow's input: the Windmill guide's JSON, validated before anything runs.
import { ApplicationFailure } from '@temporalio/common';
import { parseRecoveryTarget } from '../basebackup/recoveryTime';
import { durationMs } from './duration';
import { parseBackupName } from './naming';

/** The longest a restore may wait for confirmation. */
export const MAX_CONFIRMATION_MS = 12 * 3600 * 1000;

/** Input of restoreDatabase: `{"backup_filename": "...", "backup_source": "s3", "confirm_restore": true, "create_pre_restore_backup": true}`. */
export interface RestoreInput {
  /** The file to restore; with `to_time`, empty until the workflow has made that moment into a file. */
  backup_filename: string;
  /**
   * Instead of a file: the moment (ISO 8601 with an offset or Z, or "latest") to bring back from base
   * backups and the WAL archive; normalised to UTC. With backup_source "s3", the base backup and WAL it needs are copied down first.
   */
  to_time?: string;
  backup_source: 'local' | 's3';
  /** true: go on without waiting for the confirmRestore signal (as the Windmill script did). */
  confirm_restore: boolean;
  create_pre_restore_backup: boolean;
  /** How long to wait for confirmRestore, e.g. "1 hour", "30 minutes". */
  confirmation_timeout: string;
  /** true: restore a backup whose manifest says "dumped" (never verified); refused otherwise. */
  allow_unverified: boolean;
  /** false: missing roles come back NOLOGIN without password, not as the backup recorded them (absent: recreate them). */
  recreate_roles?: boolean;
  /** true: restore a backup that looks wrong (empty, cut off, unrelated, much smaller), after a confirmation that shows why. */
  force?: boolean;
  /** The database a backup of another database was made of (its manifest's `database`): naming it allows the restore. */
  from_database?: string | null;
}

const DEFAULTS = { backup_source: 'local', confirm_restore: false, create_pre_restore_backup: true, confirmation_timeout: '1 hour', allow_unverified: false, recreate_roles: true, force: false, from_database: null } as const;
const EXAMPLE = '{"backup_filename": "family_brain_daily_20251208_020000.sql.gz", "backup_source": "local", "confirm_restore": false, "create_pre_restore_backup": true}';
const KEYS = ['backup_filename', 'to_time', ...Object.keys(DEFAULTS)];

function fail(type: string, problems: string[]): ApplicationFailure {
  return ApplicationFailure.create({ type, nonRetryable: true, message: `invalid restore input: ${problems.join('; ')}. Nothing was changed. Example input: ${EXAMPLE}` });
}

function isDuration(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  return (durationMs(value) ?? 0) > 0;
}

/** Validates the input and fills in defaults; throws non-retryable InvalidBackupName or InvalidRestoreInput. */
export function parseRestoreInput(raw: unknown): RestoreInput {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw fail('InvalidRestoreInput', ['expected a JSON object with at least "backup_filename"']);
  const input = raw as Record<string, unknown>;
  const problems = Object.keys(input).filter((k) => !KEYS.includes(k)).map((k) => `unknown key "${k}" (known: ${KEYS.join(', ')})`);
  const filename = input.backup_filename;
  const toTime = input.to_time;
  if (toTime !== undefined && filename !== undefined) problems.push(`give "backup_filename" (a file) or "to_time" (a moment of the WAL archive), not both; got both ${JSON.stringify(filename)} and ${JSON.stringify(toTime)}`);
  else if (toTime !== undefined && typeof toTime !== 'string') problems.push(`"to_time" must be ISO 8601 with an offset or Z (2026-12-05T23:10:00Z) or "latest", got ${JSON.stringify(toTime)}`);
  else if (toTime === undefined && (typeof filename !== 'string' || filename === '')) problems.push('"backup_filename" is required: the name of a backup file, as "fbb list" shows it (or "to_time": a moment of the WAL archive)');
  const source = input.backup_source ?? DEFAULTS.backup_source;
  if (source !== 'local' && source !== 's3') problems.push(`"backup_source" must be "local" or "s3", got ${JSON.stringify(source)}`);
  const bool = (key: 'confirm_restore' | 'create_pre_restore_backup' | 'allow_unverified' | 'recreate_roles' | 'force'): boolean => {
    const v = input[key] ?? DEFAULTS[key];
    if (typeof v !== 'boolean') problems.push(`"${key}" must be true or false, got ${JSON.stringify(v)}`);
    return v === true;
  };
  const confirm = bool('confirm_restore');
  const preBackup = bool('create_pre_restore_backup');
  const allowUnverified = bool('allow_unverified');
  const recreateRoles = bool('recreate_roles');
  const force = bool('force');
  const from = input.from_database ?? null;
  if (from !== null && (typeof from !== 'string' || from.trim() === '' || from.length > 63)) problems.push(`"from_database" must be the name of the database the backup was made of (its manifest's "database"), got ${JSON.stringify(from)}`);
  const timeout = input.confirmation_timeout ?? DEFAULTS.confirmation_timeout;
  if (!isDuration(timeout)) problems.push(`"confirmation_timeout" must be a duration such as "1 hour" or "30 minutes", got ${JSON.stringify(timeout)}`);
  // The restore holds the database's lock while it waits, and a lock older than 24 hours is taken over (src/activities/backup/lock.ts).
  else if ((durationMs(timeout) ?? 0) > MAX_CONFIRMATION_MS) problems.push(`"confirmation_timeout" may be at most 12 hours (the restore holds the database's lock while it waits), got ${JSON.stringify(timeout)}`);
  if (problems.length > 0) throw fail('InvalidRestoreInput', problems);
  if (typeof toTime === 'string') {
    // InvalidInput, the same refusal as the disaster path's (--to-time ... --target-dir).
    const target = parseRecoveryTarget(toTime);
    return { ...rest(), backup_filename: '', to_time: target.kind === 'latest' ? 'latest' : target.at };
  }
  if (parseBackupName(filename as string) === undefined) {
    throw ApplicationFailure.create({
      type: 'InvalidBackupName',
      nonRetryable: true,
      message: `"${String(filename)}" is not a backup file name (expected <prefix>_<type>_<YYYYMMDD_HHMMSS>.sql.gz, no directories); nothing was changed; run "fbb list" to see the backups`,
    });
  }
  return { backup_filename: filename as string, ...rest() };

  function rest(): Omit<RestoreInput, 'backup_filename'> {
    return { backup_source: source as 'local' | 's3', confirm_restore: confirm, create_pre_restore_backup: preBackup, confirmation_timeout: (timeout as string).trim(), allow_unverified: allowUnverified, ...(recreateRoles ? {} : { recreate_roles: false }), ...(force ? { force } : {}), ...(from === null ? {} : { from_database: from as string }) };
  }
}
