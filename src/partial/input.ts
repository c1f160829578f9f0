// Inputs of the restoreTenant and restoreTable workflows: the restore's JSON plus what to restore; no I/O.
import { ApplicationFailure } from '@temporalio/common';
import { parseRestoreInput, type RestoreInput } from '../backup/restoreInput';

/**
 * Which roles a partial restore creates when the backup names roles the server lacks: none unless
 * asked (a role dropped on purpose must not come back, with its old password, through a restore of
 * some rows); `recreate_roles: true` as the backup recorded them; `recreate_roles: false` NOLOGIN without password.
 */
export type PartialRoles = 'none' | 'recorded' | 'nologin';

/** What every partial restore's input adds to restoreDatabase's. */
interface PartialCommon extends RestoreInput {
  /** From `recreate_roles` (absent: none). */
  create_roles: PartialRoles;
}

/** `{"backup_filename": ..., "tenant_id": "...", "dry_run": false, "tenant_column": "tenant_id", "tenant_table": "tenants", ...restoreDatabase's keys}`. */
export interface TenantRestoreInput extends PartialCommon {
  tenant_id: string;
  dry_run: boolean;
  /** null: the worker's TENANT_COLUMN (default tenant_id). */
  tenant_column: string | null;
  /** null: the worker's TENANT_TABLE (default tenants). */
  tenant_table: string | null;
}

/** `{"backup_filename": ..., "table": "public.reminders", "as": "reminders_backup" (optional), "dry_run": false, ...restoreDatabase's keys}`. */
export interface TableRestoreInput extends PartialCommon {
  table: string;
  /** Load the backup's rows beside the live table under this name, instead of replacing its rows. */
  as: string | null;
  dry_run: boolean;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_$]*$/;
const BARE = /^[A-Za-z_][A-Za-z0-9_$]*/;

/** A table's name as SQL reads it: an optional schema and the name. */
export interface QualifiedName {
  schema: string | null;
  name: string;
}

/**
 * Reads `name` or `schema.name` as SQL (and psql) do: a "quoted" part keeps its case, spaces,
 * dots and doubled quotes ("My ""Quoted"" Table" is My "Quoted" Table); a bare part is folded to
 * lower case. undefined when it is not one or two such parts.
 */
export function parseQualifiedName(text: string): QualifiedName | undefined {
  const parts: string[] = [];
  let rest = text;
  for (;;) {
    let part: string;
    if (rest.startsWith('"')) {
      const m = /^"((?:[^"]|"")+)"/.exec(rest);
      if (!m) return undefined;
      part = m[1]!.replace(/""/g, '"');
      rest = rest.slice(m[0].length);
    } else {
      const m = BARE.exec(rest);
      if (!m) return undefined;
      part = m[0].toLowerCase();
      rest = rest.slice(m[0].length);
    }
    parts.push(part);
    if (rest === '') break;
    if (!rest.startsWith('.') || parts.length === 2) return undefined;
    rest = rest.slice(1);
  }
  return parts.length === 2 ? { schema: parts[0]!, name: parts[1]! } : { schema: null, name: parts[0]! };
}

/** PostgreSQL's own schemas: no restore reads from or writes into them. */
export function isSystemSchema(schema: string | null): boolean {
  return schema !== null && (schema.startsWith('pg_') || schema === 'information_schema');
}

/** Why `value` cannot name a user table, or undefined when it can. */
function tableNameProblem(key: string, value: unknown, example: string): string | undefined {
  const parsed = typeof value === 'string' ? parseQualifiedName(value) : undefined;
  if (parsed === undefined) return `"${key}" must be ${example}, or with quotes as in SQL ("My Schema"."My Table"), got ${JSON.stringify(value)}`;
  if (isSystemSchema(parsed.schema)) return `"${key}" may not name a table in PostgreSQL's own schema ${parsed.schema}, got ${JSON.stringify(value)}`;
  return undefined;
}

function fail(problems: string[], example: string): ApplicationFailure {
  return ApplicationFailure.create({ type: 'InvalidRestoreInput', nonRetryable: true, message: `invalid restore input: ${problems.join('; ')}. Nothing was changed. Example input: ${example}` });
}

/** Splits off `keys` and `recreate_roles`, and validates the rest as a restoreDatabase input. */
function split(raw: unknown, keys: string[]): { own: Record<string, unknown>; common: RestoreInput } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { own: {}, common: parseRestoreInput(raw) };
  const own: Record<string, unknown> = {};
  const rest: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) ([...keys, 'recreate_roles'].includes(k) ? own : rest)[k] = v;
  return { own, common: parseRestoreInput(rest) };
}

const createRoles = (own: Record<string, unknown>, problems: string[]): PartialRoles => {
  const v = own.recreate_roles ?? null;
  if (v !== null && typeof v !== 'boolean') problems.push(`"recreate_roles" must be true (create missing roles as the backup recorded them) or false (NOLOGIN, no password), got ${JSON.stringify(v)}`);
  return v === true ? 'recorded' : v === false ? 'nologin' : 'none';
};

const optionalName = (own: Record<string, unknown>, key: string, example: string, problems: string[]): string | null => {
  const v = own[key] ?? null;
  if (v === null) return null;
  if (typeof v !== 'string' || !IDENT.test(v)) problems.push(`"${key}" must be a plain SQL name such as "${example}", got ${JSON.stringify(v)}`);
  return String(v);
};

const dryRun = (own: Record<string, unknown>, problems: string[]): boolean => {
  const v = own.dry_run ?? false;
  if (typeof v !== 'boolean') problems.push(`"dry_run" must be true or false, got ${JSON.stringify(v)}`);
  return v === true;
};

/** Validates a tenant restore's input; throws non-retryable InvalidRestoreInput or InvalidBackupName. */
export function parseTenantRestoreInput(raw: unknown): TenantRestoreInput {
  const { own, common } = split(raw, ['tenant_id', 'dry_run', 'tenant_column', 'tenant_table']);
  const problems: string[] = [];
  const tenant = own.tenant_id;
  if (typeof tenant !== 'string' || tenant.trim() === '') problems.push(`"tenant_id" is required: the id of the tenant's row in its root table, got ${JSON.stringify(tenant)}`);
  const input = { ...common, create_roles: createRoles(own, problems), tenant_id: String(tenant).trim(), dry_run: dryRun(own, problems), tenant_column: optionalName(own, 'tenant_column', 'tenant_id', problems), tenant_table: optionalName(own, 'tenant_table', 'tenants', problems) };
  if (problems.length) throw fail(problems, '{"backup_filename": "family_brain_daily_20251208_020000.sql.gz", "tenant_id": "6f1c…", "dry_run": true}');
  return input;
}

/** Validates a table restore's input; throws non-retryable InvalidRestoreInput or InvalidBackupName. */
export function parseTableRestoreInput(raw: unknown): TableRestoreInput {
  const { own, common } = split(raw, ['table', 'as', 'dry_run']);
  const problems: string[] = [];
  const table = own.table;
  const tableProblem = tableNameProblem('table', table, 'schema.table (e.g. public.reminders)');
  if (tableProblem) problems.push(tableProblem);
  const as = own.as ?? null;
  const asProblem = as === null ? undefined : tableNameProblem('as', as, 'a new table name (e.g. reminders_from_backup)');
  if (asProblem) problems.push(asProblem);
  const input = { ...common, create_roles: createRoles(own, problems), table: String(table), as: as as string | null, dry_run: dryRun(own, problems) };
  if (problems.length) throw fail(problems, '{"backup_filename": "family_brain_daily_20251208_020000.sql.gz", "table": "public.reminders", "as": "reminders_from_backup"}');
  return input;
}
