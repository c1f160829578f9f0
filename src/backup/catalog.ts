// The catalogue `fbb list` shows: local and S3 backups merged by file name, newest first.
import type { BackupManifest } from './manifest';
import { timestampToDate, type ParsedBackupName } from './naming';

/** One backup as listed, wherever it is kept. */
export interface CatalogEntry {
  filename: string;
  type: ParsedBackupName['type'];
  format: ParsedBackupName['format'];
  created_at: string;
  size_bytes: number;
  size_mb: number;
  sha256: string | null;
  /**
   * verified: restored and checked when made, and every copy's size matches its manifest (the
   * SHA-256 is checked at restore, not here); dumped: not (yet) verified; legacy: a Windmill-era
   * file without manifest; unreadable: its manifest does not parse; damaged: a copy's size differs
   * from what its manifest says (truncated or replaced).
   */
  state: 'verified' | 'dumped' | 'legacy' | 'unreadable' | 'damaged';
  has_manifest: boolean;
  /** What is wrong with a copy, e.g. "local: the file has 0 bytes, its manifest says 2211840". */
  problems: string[];
  tables_backed_up: number | null;
  total_rows: number | null;
  locations: ('local' | 's3')[];
}

/** A database a restore renamed aside; kept until removed by hand or by retention. */
export interface AsideDatabase {
  name: string;
  created_at: string;
}

/** What `fbb list` shows. */
export interface Catalog {
  backups: CatalogEntry[];
  aside_databases: AsideDatabase[];
  /**
   * What runs that did not finish left (as fbb doctor reports it): half-restored `<db>_restoring_*`
   * and scratch `fbb_verify_*` databases, partial dump files, databases closed to connections, and
   * `<db>_failed_restore_*` databases a rollback kept for inspection. Absent in results from before 0.3.
   */
  leftovers?: CatalogLeftover[];
  /** Places that could not be listed, with why (e.g. S3 unreachable); the rest is still listed. */
  warnings: string[];
  /**
   * The moments `fbb restore --to-time` reaches (base backups in BACKUP_DIR/base/ with their WAL archived
   * in wal/): oldest (the end of the oldest usable base backup) and newest (when the archive last wrote
   * WAL). Absent when there is no base backup with its WAL archived.
   */
  restorable_window?: { oldest: string; newest: string; base_backups: number };
  /** Base backups that failed verification, set aside in BACKUP_DIR/base/<sysid>/failed/: how many, where, what to do. Absent when none. */
  failed_base_backups?: { count: number; dirs: string[]; oldest_taken_at: string; detail: string; next: string };
}

/** Something a run left behind, as `fbb list` shows it. */
export interface CatalogLeftover {
  kind: 'partial_file' | 'scratch_database' | 'restoring_database' | 'closed_database' | 'failed_restore_database' | 'scratch_cluster' | 'drill_directory';
  name: string;
  /** What it is and what to do about it. */
  note: string;
}

/** A stored backup as a store reports it. */
export interface Listed {
  location: 'local' | 's3';
  name: ParsedBackupName;
  size_bytes: number;
  manifest: BackupManifest | null;
  /** Why the manifest beside it could not be read, when there is one. */
  manifest_error?: string;
}

/** Merges listings by file name; the manifest of any copy describes the backup. */
export function mergeCatalog(listed: readonly Listed[], timeZone: string): CatalogEntry[] {
  const byName = new Map<string, CatalogEntry>();
  for (const item of listed) {
    const existing = byName.get(item.name.filename);
    if (existing) {
      existing.locations.push(item.location);
      if (existing.state === 'legacy' && item.manifest) Object.assign(existing, describe(item, timeZone), { locations: existing.locations, problems: existing.problems });
      existing.problems.push(...problemsOf(item));
      if (existing.problems.length > 0) existing.state = worst(existing.problems);
      continue;
    }
    const problems = problemsOf(item);
    byName.set(item.name.filename, { ...describe(item, timeZone), ...(problems.length > 0 ? { state: worst(problems) } : {}), problems, locations: [item.location] });
  }
  return [...byName.values()].sort((a, b) => b.created_at.localeCompare(a.created_at) || b.filename.localeCompare(a.filename));
}

/** Cheap checks of one copy: its manifest parses, its size is the manifest's. */
function problemsOf(item: Listed): string[] {
  if (item.manifest_error !== undefined) return [`${item.location}: ${item.manifest_error}`];
  if (item.manifest && item.manifest.size_bytes !== item.size_bytes) return [`${item.location}: the file has ${item.size_bytes} bytes, its manifest says ${item.manifest.size_bytes}`];
  return [];
}

function worst(problems: string[]): 'unreadable' | 'damaged' {
  return problems.some((p) => p.includes(': the file has ')) ? 'damaged' : 'unreadable';
}

function describe(item: Listed, timeZone: string): Omit<CatalogEntry, 'locations' | 'problems'> {
  const m = item.manifest;
  return {
    filename: item.name.filename,
    type: item.name.type,
    format: item.name.format,
    created_at: m ? m.created_at : timestampToDate(item.name.timestamp, timeZone).toISOString(),
    size_bytes: item.size_bytes,
    size_mb: Math.round((item.size_bytes / 1024 / 1024) * 100) / 100,
    sha256: m?.sha256 ?? null,
    state: m === null ? 'legacy' : m.status === 'verified' ? 'verified' : 'dumped',
    has_manifest: m !== null || item.manifest_error !== undefined,
    tables_backed_up: m?.tables_backed_up ?? null,
    total_rows: m?.total_rows ?? null,
  };
}
