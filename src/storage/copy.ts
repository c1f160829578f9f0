import type { BackupManifest } from '../backup/manifest';
import { parseBackupName, type BackupFormat } from '../backup/naming';
import { NotInStoreError, type BackupStore, type TransferOptions } from './store';

const CONTENT_TYPES: Record<BackupFormat, string> = { plain_gzip: 'application/gzip', plain_zstd: 'application/zstd', custom: 'application/octet-stream' };

/** What copyBackup did. */
export interface CopyResult {
  size_bytes: number;
  sha256: string | undefined;
  parts: number;
  /** The destination already held these exact bytes (a retried attempt): nothing was transferred. */
  skipped_existing: boolean;
}

/**
 * Copies a backup and then its manifest from one store to another (upload: local → S3; fetch:
 * S3 → local). The manifest is written last, so a copy without a manifest is never mistaken for a
 * complete one; a destination that already holds the same size and SHA-256 is not written again.
 * Without a manifest (a Windmill-era file) the bytes are copied and only their size is checked.
 */
export async function copyBackup(from: BackupStore, to: BackupStore, filename: string, manifest: BackupManifest | undefined, options: TransferOptions = {}): Promise<CopyResult> {
  let size_bytes: number;
  let sha256: string | undefined;
  if (manifest !== undefined) {
    ({ size_bytes, sha256 } = manifest);
  } else {
    const source = await from.stat(filename);
    if (source === undefined) throw new NotInStoreError(`${from.where(filename)} does not exist`);
    ({ size_bytes, sha256 } = source);
  }
  const existing = await to.stat(filename);
  const skipped = sha256 !== undefined && existing?.size_bytes === size_bytes && existing.sha256 === sha256;
  let parts = 0;
  if (!skipped) {
    const body = await from.load(filename, options);
    const format = parseBackupName(filename)?.format ?? 'custom';
    const metadata = manifest === undefined ? undefined : { 'backup-type': manifest.type, 'created-at': manifest.created_at };
    ({ parts } = await to.save(filename, body, { size_bytes, sha256, contentType: CONTENT_TYPES[format], metadata }, options));
  }
  if (manifest !== undefined) await to.putManifest(manifest);
  return { size_bytes, sha256, parts, skipped_existing: skipped };
}
