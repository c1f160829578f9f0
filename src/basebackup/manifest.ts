// The manifest beside each base backup (`<file>.manifest.json`), in the style of the dump manifests
// (src/backup/manifest.ts): what a restore needs to pick the backup and the WAL it needs, without opening it.
import type { EncryptionInfo } from '../backup/manifest';

/** The version of the manifest this fbb writes and reads. */
export const BASE_MANIFEST_VERSION = 1;

/** A base backup's manifest, version 1. */
export interface BaseBackupManifest {
  manifest_version: number;
  kind: 'base_backup';
  filename: string;
  /** full, or incremental against `parent` (PostgreSQL 17+, pg_basebackup --incremental). */
  backup_type: 'full' | 'incremental';
  /** The base backup this one is incremental to; null for a full one. */
  parent: string | null;
  /** pg_control's system identifier (decimal): names base/<sysid>/ and wal/<sysid>/. */
  system_identifier: string;
  pg_major: number;
  server_version: string;
  timeline: number;
  start_lsn: string;
  end_lsn: string;
  /** UTC ISO 8601, the server's clock: just before the backup started, and once it had ended (the backup is consistent from then on). */
  start_time: string;
  end_time: string;
  wal_segment_bytes: number;
  size_bytes: number;
  sha256: string;
  /** Exact row counts per table of the backed-up database, taken right after the backup ended. */
  table_details: Record<string, number>;
  database: string;
  /** Name of PostgreSQL's backup_manifest kept beside the file (plain JSON; file names, sizes and checksums only). */
  pg_backup_manifest: string;
  encryption: EncryptionInfo | null;
  workflow_id: string;
  /** Why an asked-for incremental backup was taken full, when it was. */
  note?: string;
  /**
   * Where table_details were counted: the snapshot of the counting transaction (pg_current_snapshot)
   * and the WAL insert position read right after it was taken. Verification recovers to that position
   * (see activities/basebackup/verifyChecks.ts for why the comparison is then exact). Absent in older manifests.
   */
  counts_at?: { lsn: string; snapshot: string };
  /** The verification (restored as a scratch cluster and checked); null until it passed. Absent in older manifests: read as null. */
  verification: BaseBackupVerification | null;
}

/** What the verification of a base backup found: it was restored to `counts_at` on a scratch cluster and checked. */
export interface BaseBackupVerification {
  /** UTC ISO 8601, when the checks passed. */
  verified_at: string;
  duration_ms: number;
  checks: {
    /** Recovery reached a consistent state at this LSN and stopped at `recovered_to_lsn`. */
    consistency: { consistent_at: string; recovered_to_lsn: string };
    /** pg_amcheck on the heap and btree indexes of the backed-up database: no corruption. */
    amcheck: { database: string; problems: 0 };
    /**
     * Row counts of every table against table_details. `exact`: the recovered state is exactly the
     * counting snapshot, so every count was compared; otherwise none was (`note` says why).
     */
    row_counts: { exact: boolean; tables_compared: number; tables_skipped: string[]; note?: string };
  };
}

/** Parses a base backup manifest, checking the fields restore relies on. */
export function parseBaseManifest(text: string, source: string): BaseBackupManifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`base backup manifest ${source} is not JSON: ${(err as Error).message}`, { cause: err });
  }
  const m = value as Partial<BaseBackupManifest>;
  const required = ['filename', 'backup_type', 'system_identifier', 'timeline', 'start_lsn', 'end_lsn', 'end_time', 'sha256', 'size_bytes', 'wal_segment_bytes'] as const;
  const missing = required.filter((k) => m[k] === undefined);
  if (missing.length > 0) throw new Error(`base backup manifest ${source} lacks ${missing.join(', ')}`);
  if (m.kind !== 'base_backup' || m.manifest_version !== BASE_MANIFEST_VERSION) throw new Error(`${source} is not a version ${BASE_MANIFEST_VERSION} base backup manifest`);
  return { ...m, verification: m.verification ?? null } as BaseBackupManifest;
}

/** The WAL range PostgreSQL's backup_manifest records (its "WAL-Ranges"), and the system identifier (17+). */
export function walRangeOf(pgManifest: string): { timeline: number; start_lsn: string; end_lsn: string; system_identifier?: string } {
  const parsed = JSON.parse(pgManifest) as { 'WAL-Ranges'?: { Timeline: number; 'Start-LSN': string; 'End-LSN': string }[]; 'System-Identifier'?: number | string };
  const ranges = parsed['WAL-Ranges'] ?? [];
  const first = ranges[0];
  const last = ranges[ranges.length - 1];
  if (!first || !last) throw new Error('backup_manifest has no WAL-Ranges');
  return { timeline: last.Timeline, start_lsn: first['Start-LSN'], end_lsn: last['End-LSN'], ...(parsed['System-Identifier'] === undefined ? {} : { system_identifier: String(parsed['System-Identifier']) }) };
}
