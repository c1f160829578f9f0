// The physical backups' activities: base backups, and the restore of a moment into a directory.
import type { Config } from '../../config';
import type { BaseBackupManifest, BaseBackupVerification } from '../../basebackup/manifest';
import { materializeMoment, planMoment, type MomentFile } from './moment';
import { planPointInTime, restorableState, type RecoveryPlan } from './plan';
import { recoverToDirectory, type RecoveryResult } from './recover';
import { prunePhysicalBackups, type PhysicalPruneDecision } from './prune';
import { pullFromS3, type PullResult } from './s3Pull';
import { takeBaseBackup, type BaseBackupRequest } from './take';
import { uploadBaseBackup, type BaseBackupUpload } from './upload';
import { verifyBaseBackup, type VerifyBaseBackupRequest } from './verify';

/** Activities of base backups and point-in-time restores; `workerQueue`: this worker's own queue, named with a file it makes. */
export function createBaseBackupActivities(config: Config, workerQueue?: string) {
  return {
    async takeBaseBackup(req: BaseBackupRequest): Promise<BaseBackupManifest> {
      return takeBaseBackup(config, req);
    },
    /** Restores the base backup as a scratch cluster and checks it; records the result in its manifest. */
    async verifyBaseBackup(req: VerifyBaseBackupRequest): Promise<BaseBackupVerification> {
      return verifyBaseBackup(config, req);
    },
    async uploadBaseBackup(manifest: Pick<BaseBackupManifest, 'filename' | 'system_identifier' | 'size_bytes' | 'sha256'>): Promise<BaseBackupUpload> {
      return uploadBaseBackup(config, manifest);
    },
    /** Checks a restore of a moment into a directory, changing nothing; refusals are named errors. */
    async planPointInTime(input: { to_time: string; target_dir: string }): Promise<RecoveryPlan> {
      return planPointInTime(config, input);
    },
    async recoverToDirectory(req: { plan: RecoveryPlan; workflowId: string }): Promise<RecoveryResult> {
      return recoverToDirectory(config, req.plan, req.workflowId);
    },
    /** A restore to a moment into the live database: the checks that change nothing, for this run's scratch cluster. */
    async planMomentRestore(req: { to_time: string; workflowId: string }): Promise<RecoveryPlan> {
      return planMoment(config, req);
    },
    /** The moment of `plan` made into the backup file `filename` (type pitr) in BACKUP_DIR, through a scratch cluster on this worker. */
    async materializeMoment(req: { plan: RecoveryPlan; filename: string; workflowId: string }): Promise<MomentFile> {
      const made = await materializeMoment(config, req);
      return workerQueue ? { ...made, worker_queue: workerQueue } : made;
    },
    /** Copies from S3 into BACKUP_DIR what a restore to `to_time` needs (without: all of base/ and wal/) where it lacks it (a restore with source s3); names this worker's queue, where the rest of the restore must run. */
    async pullPhysicalBackupsFromS3(input: { to_time?: string } = {}): Promise<PullResult & { worker_queue?: string }> {
      const pulled = await pullFromS3(config, input.to_time);
      return workerQueue ? { ...pulled, worker_queue: workerQueue } : pulled;
    },
    /** Base-backup and WAL retention (RETENTION_BASEBACKUP_DAYS), locally and in S3; `dry_run` only reports. */
    async prunePhysicalBackups(input: { dry_run: boolean; now?: string }): Promise<PhysicalPruneDecision[]> {
      return prunePhysicalBackups(config, { dryRun: input.dry_run, now: input.now });
    },
    /** The restorable window over the local base backups and archive; null when there is none. */
    async restorableWindow(): Promise<{ oldest: string; newest: string } | null> {
      return (await restorableState(config)).window;
    },
  };
}
