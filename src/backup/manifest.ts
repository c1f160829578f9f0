// The manifest written next to each backup (`<file>.manifest.json`) and uploaded beside it:
// everything `list` and `restore` need, so a backup can be judged without opening it.
import type { BackupFormat, BackupType } from './naming';

export const MANIFEST_SUFFIX = '.manifest.json';
export const MANIFEST_VERSION = 1;

/** An extension the database had, and so a restore target needs. */
export interface ExtensionInfo {
  name: string;
  version: string;
}

/** What the verification restore found. */
export interface VerificationResult {
  ok: boolean;
  /** "restore": the file restored after it was written; "restore_during_dump": restored from the same bytes as they were written (BACKUP_VERIFY=during_dump), then the file re-read and matched. */
  method: 'restore' | 'restore_during_dump';
  verified_at: string;
  /** Tables whose row count in the restored copy differs from the dump: table -> { expected, actual }. */
  mismatches: Record<string, { expected: number; actual: number | null }>;
  missing_extensions: string[];
  tables_checked: number;
  duration_ms: number;
  /**
   * Per table, a hash of a sample of its rows as the restored copy held them (activities/rowSample.ts):
   * a restore drill restores the stored copy later and compares. Absent in backups verified before drills.
   */
  sample_hashes?: Record<string, RowSampleHash>;
  /** Tables whose sample could not be computed, with why ("DatabaseError: ... (table x)"): a drill checks them by count only. */
  sample_failures?: Record<string, string>;
}

/** A hash over a sample of a table's rows: the first `rows` rows by primary key, or by row hash without one. */
export interface RowSampleHash {
  rows: number;
  md5: string;
  order: 'primary_key' | 'row_hash';
  /** by_name: each row's text lists its columns by name (key columns without an ordering are ordered by their text); absent: in column order (backups made before). */
  rendering?: 'by_name';
}

/** An inheritance child whose columns a restore puts in another order (pg_dump's limitation): content is compared by column name. */
export interface ColumnOrderChange {
  table: string;
  /** The order in the database that was dumped. */
  dumped: string[];
  /** The order a restore of the dump creates: the parents' columns first. */
  restored: string[];
}

/** A step that is not the dump, its verification or its storage, which could not be done; the backup is good without it. */
export interface SkippedStep {
  step: 'roles' | 'cluster_roles' | 'extensions' | 'column_order';
  reason: string;
}

/** How a backup file is encrypted: age, to these public keys (never a private key). */
export interface EncryptionInfo {
  format: 'age';
  recipients: string[];
}

/** A cluster role as the backup recorded it (pg_roles, pg_auth_members). */
export interface RoleDefinition {
  name: string;
  superuser: boolean;
  createdb: boolean;
  createrole: boolean;
  inherit: boolean;
  login: boolean;
  replication: boolean;
  bypassrls: boolean;
  connection_limit: number;
  /** ISO 8601, or null for no expiry. */
  valid_until: string | null;
  /** Roles this one is a member of. */
  member_of: { role: string; admin_option: boolean }[];
}

/** The roles the database uses, to recreate them on a new server; passwords only in an encrypted backup. */
export interface ClusterRoles {
  roles: RoleDefinition[];
  /**
   * The roles' password hashes (pg_authid), as an age-encrypted, armored JSON object {role: hash}, to the
   * backup's recipients; null when the backup is not encrypted or pg_authid was not readable (see `note`).
   */
  passwords_age: string | null;
  /** Why passwords are missing, when they are. */
  note: string | null;
}

/** `dumped`: written, not yet verified; `verified`: restored and checked; `failed`: verification failed. */
export type BackupStatus = 'dumped' | 'verified' | 'failed';

/** The manifest, version 1. */
export interface BackupManifest {
  manifest_version: number;
  filename: string;
  type: BackupType;
  format: BackupFormat;
  status: BackupStatus;
  /** UTC, ISO 8601: when the dump's snapshot was taken. */
  created_at: string;
  database: string;
  server_version: string;
  pg_dump_version: string;
  size_bytes: number;
  sha256: string;
  tables_backed_up: number;
  total_rows: number;
  table_details: Record<string, number>;
  extensions: ExtensionInfo[];
  /** Cluster roles the database's objects name (owners, grantees): a restore target needs them. */
  roles: string[];
  verification: VerificationResult | null;
  workflow_id: string;
  /** Absent or null: the file is not encrypted. */
  encryption?: EncryptionInfo | null;
  /** Absent in backups made before roles were recorded: a restore then creates missing roles NOLOGIN. */
  cluster_roles?: ClusterRoles | null;
  /** Tables a restore recreates with their columns in another order (absent in backups made before this was checked). */
  column_order?: ColumnOrderChange[];
  /** Optional steps that could not be done, and why (absent: none, or a backup made before this was recorded). */
  skipped_steps?: SkippedStep[];
  /** Type pitr: the moment of the WAL archive this file holds (created_at is when it was read out, not that moment). */
  point_in_time?: PointInTime;
}

/** Where a pitr backup came from: a moment recovered from base backup + WAL by a restore to that moment. */
export interface PointInTime {
  /** The moment asked for (UTC), or "latest". */
  to_time: string;
  /** The commit time of the last transaction replayed (UTC); null when none was. */
  recovered_to: string | null;
  /** The base backup recovered (the last of its chain). */
  base_backup: string;
}

/** The manifest's file name for a backup file. */
export function manifestName(filename: string): string {
  return `${filename}${MANIFEST_SUFFIX}`;
}

/** Parses a manifest, checking the fields list and restore rely on; throws a message naming what is wrong. */
export function parseManifest(text: string, source: string): BackupManifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`manifest ${source} is not JSON: ${(err as Error).message}`, { cause: err });
  }
  const m = value as Partial<BackupManifest>;
  const missing = (['filename', 'type', 'format', 'status', 'created_at', 'sha256', 'size_bytes', 'table_details'] as const).filter((k) => m[k] === undefined);
  if (missing.length > 0) throw new Error(`manifest ${source} lacks ${missing.join(', ')}`);
  if (m.manifest_version !== MANIFEST_VERSION) throw new Error(`manifest ${source} has version ${String(m.manifest_version)}; this fbb reads version ${MANIFEST_VERSION}`);
  return m as BackupManifest;
}
