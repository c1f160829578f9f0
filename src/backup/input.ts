// The backupDatabase workflow's input: the Windmill guide's JSON, validated before anything runs.
import { ApplicationFailure } from '@temporalio/common';
import { BACKUP_FORMATS, type BackupFormat } from './naming';

/** Backup types a user may ask for; `pre_restore` is made by the restore workflow only. */
export const USER_BACKUP_TYPES = ['daily', 'weekly', 'monthly', 'manual'] as const;
export type UserBackupType = (typeof USER_BACKUP_TYPES)[number];

/** Input of backupDatabase, as posted to Windmill: `{"backup_type": "manual", "dry_run": false}`. */
export interface BackupInput {
  backup_type: UserBackupType;
  upload_to_s3: boolean;
  cleanup_old: boolean;
  dry_run: boolean;
  /** plain_gzip (`.sql.gz`, the default) or custom (`.dump`, pg_dump's custom format). */
  format: BackupFormat;
}

const DEFAULTS: BackupInput = { backup_type: 'manual', upload_to_s3: false, cleanup_old: true, dry_run: false, format: 'plain_gzip' };
const EXAMPLE = '{"backup_type": "manual", "upload_to_s3": false, "cleanup_old": true, "dry_run": false}';

/** Validates raw input (none at all: the defaults) and fills in defaults; throws a non-retryable InvalidBackupInput naming every problem. */
export function parseBackupInput(raw: unknown): BackupInput {
  if (raw === undefined) return { ...DEFAULTS };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw invalid([`expected a JSON object, got ${describe(raw)}`]);
  }
  const input = raw as Record<string, unknown>;
  const problems: string[] = [];
  for (const key of Object.keys(input)) {
    if (!(key in DEFAULTS)) problems.push(`unknown key "${key}" (known: ${Object.keys(DEFAULTS).join(', ')})`);
  }
  const oneOf = <T extends string>(key: keyof BackupInput, allowed: readonly T[]): T => {
    const value = input[key];
    if (value === undefined) return DEFAULTS[key] as T;
    if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
    problems.push(`"${key}" must be one of ${allowed.map((a) => `"${a}"`).join(', ')}, got ${describe(value)}`);
    return DEFAULTS[key] as T;
  };
  const bool = (key: keyof BackupInput): boolean => {
    const value = input[key];
    if (value === undefined) return DEFAULTS[key] as boolean;
    if (typeof value === 'boolean') return value;
    problems.push(`"${key}" must be true or false, got ${describe(value)}`);
    return DEFAULTS[key] as boolean;
  };
  const parsed: BackupInput = {
    backup_type: oneOf('backup_type', USER_BACKUP_TYPES),
    upload_to_s3: bool('upload_to_s3'),
    cleanup_old: bool('cleanup_old'),
    dry_run: bool('dry_run'),
    format: oneOf('format', Object.keys(BACKUP_FORMATS) as BackupFormat[]),
  };
  if (problems.length > 0) throw invalid(problems);
  return parsed;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `"${value}"`;
  if (Array.isArray(value)) return 'an array';
  return value === null ? 'null' : `${typeof value} ${JSON.stringify(value)}`;
}

function invalid(problems: string[]): ApplicationFailure {
  return ApplicationFailure.create({
    type: 'InvalidBackupInput',
    message: `invalid backup input: ${problems.join('; ')}. Nothing was backed up. Example input: ${EXAMPLE}`,
    nonRetryable: true,
    details: [problems],
  });
}
