import { parseManifest, type BackupManifest } from '../backup/manifest';
import { parseBackupName, type ParsedBackupName } from '../backup/naming';

/** Where a backup is kept. */
export type Location = 'local' | 's3';

/** One backup file in a store, with its manifest when it has one (Windmill-era files have none). */
export interface StoredBackup {
  name: ParsedBackupName;
  size_bytes: number;
  manifest: BackupManifest | null;
  /** Why the manifest could not be read, when it exists but is broken. */
  manifest_error?: string;
}

/**
 * A place backups live. Contract (tested against every implementation by test/stores.test.ts):
 * - list() returns only files whose names parse as backups with the configured prefix, newest
 *   name first; temporary, failed and foreign files are never listed;
 * - remove() deletes a backup and its manifest, and succeeds if they are already gone.
 */
export interface BackupStore {
  readonly location: Location;
  list(): Promise<StoredBackup[]>;
  remove(filename: string): Promise<void>;
}

/** Newest first by the timestamp in the name, then by name. */
export function newestFirst(a: StoredBackup, b: StoredBackup): number {
  return b.name.timestamp.localeCompare(a.name.timestamp) || b.name.filename.localeCompare(a.name.filename);
}

/** A listed backup with its manifest read by `read` (undefined: no manifest); a broken manifest is reported, not thrown. */
export async function storedBackup(name: ParsedBackupName, size: number, read: (() => Promise<[text: string, source: string]>) | undefined): Promise<StoredBackup> {
  const entry: StoredBackup = { name, size_bytes: size, manifest: null };
  if (read === undefined) return entry;
  try {
    const [text, source] = await read();
    entry.manifest = parseManifest(text, source);
  } catch (err) {
    entry.manifest_error = (err as Error).message;
  }
  return entry;
}

/** Throws unless `filename` is a backup name: stores never delete anything else. */
export function assertRemovable(filename: string): void {
  if (parseBackupName(filename) === undefined) throw new Error(`refusing to remove "${filename}": not a backup file name`);
}
