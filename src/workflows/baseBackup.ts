import { patched, workflowInfo } from '@temporalio/workflow';
import type { BaseBackupManifest } from '../basebackup/manifest';
import { baseBackupFilename } from '../basebackup/naming';
import { longActivities, quick } from './proxies';

/** Input of baseBackup: `{"incremental": true}` asks for an incremental backup where PostgreSQL allows it (17+, summarize_wal=on). */
export interface BaseBackupInput {
  incremental?: boolean;
}

/** What `fbb basebackup` reports: the manifest, and where the file was uploaded. */
export interface BaseBackupResult {
  manifest: BaseBackupManifest;
  uploaded: { bucket: string; key: string } | null;
  duration_ms: number;
}

/** pg_basebackup → gzip (+ age) → BACKUP_DIR/base/<sysid>/ with its manifest → verified (restored as a scratch cluster) → S3 when configured. */
export async function baseBackup(input: BaseBackupInput = {}): Promise<BaseBackupResult> {
  const started = Date.now();
  const settings = await quick.backupSettings();
  const acts = longActivities(settings.activity_tuning);
  const filename = baseBackupFilename(settings.prefix, new Date(started), settings.encrypted === true);
  const workflowId = workflowInfo().workflowId;
  let manifest = await acts.dumping.takeBaseBackup({ filename, workflowId, incremental: input.incremental === true });
  // Runs recorded before base backups were verified replay without it.
  if (patched('basebackup-verify')) {
    const verification = await acts.verifying.verifyBaseBackup({ filename, system_identifier: manifest.system_identifier, workflowId });
    manifest = { ...manifest, verification };
  }
  const uploaded = settings.s3 === null ? null : await acts.uploading.uploadBaseBackup({ filename, system_identifier: manifest.system_identifier, size_bytes: manifest.size_bytes, sha256: manifest.sha256 });
  return { manifest, uploaded, duration_ms: Date.now() - started };
}
