import type { Readable } from 'node:stream';
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

/** What a store holds under a backup's name: its size and SHA-256 (S3: as recorded at upload; local: hashed now). */
export interface StoredObject {
  size_bytes: number;
  sha256: string | undefined;
}

/** What the bytes being saved must be; save() checks the stored copy against it. */
export interface Expected {
  size_bytes: number;
  /** Unknown for a Windmill-era file without a manifest: then only the size is checked. */
  sha256: string | undefined;
  contentType?: string;
  /** Extra metadata kept with the object where the store can (S3 user metadata). */
  metadata?: Record<string, string>;
}

/** Progress and cancellation of a long transfer. */
export interface TransferOptions {
  signal?: AbortSignal;
  onProgress?: (bytes: number, part?: number) => void;
}

/** A name the store does not hold. */
export class NotInStoreError extends Error {
  override readonly name = 'NotInStoreError';
}

/** The stored copy is not what save() was given: size or checksum differ. */
export class StoredCopyMismatchError extends Error {
  override readonly name: string = 'StoredCopyMismatchError';
}

/** The bytes save() was given (hashed as they were sent) are not what `expected` says: the source differs from its manifest. */
export class SourceMismatchError extends StoredCopyMismatchError {
  override readonly name: string = 'SourceMismatchError';
}

/**
 * A place backups live, one implementation per backend (localStore.ts, s3Store.ts). Contract,
 * run against every implementation by test/stores.test.ts:
 * - list() returns only files whose names parse as backups with the configured prefix, newest
 *   name first; temporary, failed and foreign files are never listed;
 * - save() stores a stream under a backup's name all at once or not at all: after a failure or an
 *   abort nothing is under the name (nor any temporary object), and it resolves only once the
 *   bytes it was given, hashed as they streamed, and the stored copy have the expected size and
 *   SHA-256 (StoredCopyMismatchError otherwise);
 * - load() streams a stored backup; a missing one is NotInStoreError;
 * - stat() says what is stored under a name, undefined when nothing is;
 * - getManifest() reads `<name>.manifest.json` (undefined when absent; a broken one throws with its
 *   source), putManifest() replaces it in one step;
 * - remove() deletes a backup and its manifest, succeeds if they are already gone, and refuses any
 *   name that is not a backup name.
 */
export interface BackupStore {
  readonly location: Location;
  /** Where `filename` is (or would be), for messages: /var/backups/x.sql.gz, s3://bucket/prefix/x.sql.gz. */
  where(filename?: string): string;
  list(): Promise<StoredBackup[]>;
  stat(filename: string): Promise<StoredObject | undefined>;
  save(filename: string, body: Readable, expected: Expected, options?: TransferOptions): Promise<{ parts: number }>;
  load(filename: string, options?: TransferOptions): Promise<Readable>;
  getManifest(filename: string): Promise<BackupManifest | undefined>;
  putManifest(manifest: BackupManifest): Promise<void>;
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

/** Throws unless `filename` is a backup name: stores never write or delete anything else. */
export function assertRemovable(filename: string): void {
  if (parseBackupName(filename) === undefined) throw new Error(`refusing to remove "${filename}": not a backup file name`);
}

/** Throws unless `filename` is a backup name, before a store writes under it. */
export function assertSavable(filename: string): void {
  if (parseBackupName(filename) === undefined) throw new Error(`refusing to save "${filename}": not a backup file name`);
}

/** The manifest as a manifest file holds it. */
export function manifestText(manifest: BackupManifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}
