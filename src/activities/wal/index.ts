import type { Config } from '../../config';
import { walConfig } from '../../config';
import { s3Key } from '../../storage/s3Store';
import { archivedSlotName, WAL_ROOT } from '../../wal/layout';
import type { ActivityTuning } from '../../workflows/proxies';
import { archiveWalSession, walSlot, type WalSessionResult } from './session';
import { dropSlot } from './server';

/** What the archiveWal workflow learns from the worker: no secret, no URL. */
export interface WalSettings {
  slot: string;
  /** BACKUP_DIR/wal on the worker. */
  local_dir: string;
  /** s3://bucket/prefix/wal/, or null without S3. */
  s3: string | null;
  partial_upload_seconds: number;
  max_lag_seconds: number;
  encrypted: boolean;
  activity_tuning: ActivityTuning;
  notify: { enabled: boolean; on_success: boolean };
}

/** The WAL archive's activities. */
export function createWalActivities(config: Config) {
  return {
    /** The worker's WAL archive settings, for the workflow's status and its activity policies. */
    async walSettings(): Promise<WalSettings> {
      const wal = walConfig(config);
      return {
        slot: walSlot(config),
        local_dir: `${config.backup.dir}/${WAL_ROOT}`,
        s3: config.s3 === undefined ? null : `s3://${config.s3.bucket}/${s3Key(config.s3, `${WAL_ROOT}/`)}`,
        partial_upload_seconds: wal.partialUploadSeconds,
        max_lag_seconds: wal.maxLagSeconds,
        encrypted: config.backup.ageRecipients.length > 0,
        activity_tuning: config.worker.activityTuning ?? {},
        notify: { enabled: config.notify.webhookUrls.length > 0, on_success: config.notify.on === 'always' },
      };
    },
    /** One archiving session (see session.ts). */
    async archiveWalSession(input: { session_seconds: number }): Promise<WalSessionResult> {
      return archiveWalSession(config, input);
    },
    /** `fbb wal stop --drop-slot`: the server stops keeping WAL for the archive. */
    async dropWalSlot(): Promise<{ slot: string; dropped: boolean }> {
      const slot = walSlot(config);
      const dropped = await dropSlot(config.database, slot);
      // The archived slot keeps WAL as well (archivedSlot.ts): gone with the archive's own.
      await dropSlot(config.database, archivedSlotName(slot));
      return { slot, dropped };
    },
  };
}
