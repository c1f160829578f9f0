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
  /** verified: restored and checked; dumped: not (yet) verified; legacy: a Windmill-era file without manifest. */
  state: 'verified' | 'dumped' | 'legacy';
  has_manifest: boolean;
  tables_backed_up: number | null;
  total_rows: number | null;
  locations: ('local' | 's3')[];
}

/** A stored backup as a store reports it. */
export interface Listed {
  location: 'local' | 's3';
  name: ParsedBackupName;
  size_bytes: number;
  manifest: BackupManifest | null;
}

/** Merges listings by file name; the manifest of any copy describes the backup. */
export function mergeCatalog(listed: readonly Listed[], timeZone: string): CatalogEntry[] {
  const byName = new Map<string, CatalogEntry>();
  for (const item of listed) {
    const existing = byName.get(item.name.filename);
    if (existing) {
      existing.locations.push(item.location);
      if (!existing.has_manifest && item.manifest) Object.assign(existing, describe(item, timeZone), { locations: existing.locations });
      continue;
    }
    byName.set(item.name.filename, { ...describe(item, timeZone), locations: [item.location] });
  }
  return [...byName.values()].sort((a, b) => b.created_at.localeCompare(a.created_at) || b.filename.localeCompare(a.filename));
}

function describe(item: Listed, timeZone: string): Omit<CatalogEntry, 'locations'> {
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
    has_manifest: m !== null,
    tables_backed_up: m?.tables_backed_up ?? null,
    total_rows: m?.total_rows ?? null,
  };
}
