import { patched, workflowInfo } from '@temporalio/workflow';
import type { PhysicalPruneDecision } from '../activities/basebackup/prune';
import type { BaseBackupManifest } from '../basebackup/manifest';
import { baseBackupFilename } from '../basebackup/naming';
import { longActivities, quick } from './proxies';

/** Input of baseBackup: `{"incremental": true}` asks for an incremental backup where PostgreSQL allows it (17+, summarize_wal=on). */
export interface BaseBackupInput {
  incremental?: boolean;
  /** false: do not apply base-backup and WAL retention afterwards (RETENTION_BASEBACKUP_DAYS); default true. */
  cleanup_old?: boolean;
}

/** What `fbb basebackup` reports: the manifest, and where the file was uploaded. */
export interface BaseBackupResult {
  manifest: BaseBackupManifest;
  uploaded: { bucket: string; key: string } | null;
  duration_ms: number;
  /** Retention's decisions after this backup (base backups and archived WAL, locally and in S3); absent in runs from before it. */
  pruned?: PhysicalPruneDecision[];
}

/** pg_basebackup → gzip (+ age) → BACKUP_DIR/base/<sysid>/ with its manifest → verified (restored as a scratch cluster) → S3 when configured → retention. */
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
  // Retention after the backup (and its upload): runs recorded before it existed replay without it.
  const pruned = input.cleanup_old !== false && patched('basebackup-retention') ? await acts.housekeeping.prunePhysicalBackups({ dry_run: false }) : undefined;
  return { manifest, uploaded, duration_ms: Date.now() - started, ...(pruned === undefined ? {} : { pruned }) };
}
