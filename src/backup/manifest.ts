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
  method: 'restore';
  verified_at: string;
  /** Tables whose row count in the restored copy differs from the dump: table -> { expected, actual }. */
  mismatches: Record<string, { expected: number; actual: number | null }>;
  missing_extensions: string[];
  tables_checked: number;
  duration_ms: number;
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
