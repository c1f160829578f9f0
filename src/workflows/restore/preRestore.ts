// The pre-restore backup, one helper for every restore (database, tenant, table): taken after the
// confirmation, right before the change, on the worker that then keeps the file.
import type { BackupSettings } from '../../activities/backup';
import { backupFilename } from '../../backup/naming';
import { ErrorType } from '../../errors';
import { errorInfo, runBackup } from '../pipeline';
import type { LongActivities } from '../proxies';

/** The pre-restore backup a rollback in place goes back to: its file, the counts it holds, where and when it was made. */
export interface PreRestoreBackup {
  filename: string;
  table_details: Record<string, number>;
  /** false: only its checksum was checked (no scratch database could be made to restore it into). */
  restore_verified: boolean;
  /** The own task queue of the worker whose BACKUP_DIR holds the file (absent: any worker sees it). */
  worker_queue?: string;
  /** When its dump began (UTC): a rollback to it brings back the database as it was then. */
  taken_at?: string;
}

/** What the run hears from the pre-restore step: the file's name once chosen, and notes for the user. */
export interface PreRestoreReport {
  named(filename: string): void;
  note(text: string): void;
}

/**
 * Backs up the live database through the backup pipeline (type pre_restore, verified, encrypted
 * when the worker encrypts). Without the right to create databases it cannot be restore-verified:
 * it is then written, its SHA-256 checked on the worker that holds it, and a note says so.
 */
export async function takePreRestoreBackup(settings: BackupSettings, acts: LongActivities, report: PreRestoreReport): Promise<PreRestoreBackup> {
  const filename = backupFilename(settings.prefix, 'pre_restore', new Date(), settings.timezone, 'plain_gzip', settings.encrypted === true);
  report.named(filename);
  const takenAt = new Date().toISOString();
  const at: { worker_queue?: string } = {};
  const onStep = (_step: string, detail?: { worker_queue?: string }) => {
    if (detail?.worker_queue !== undefined) at.worker_queue = detail.worker_queue;
  };
  try {
    const pre = await runBackup({ filename, type: 'pre_restore', format: 'plain_gzip', upload: false, cleanup: false, started: Date.now() }, acts, onStep);
    return { filename: pre.filename, table_details: pre.table_details, restore_verified: true, ...at, taken_at: takenAt };
  } catch (err) {
    if (errorInfo(err).type !== ErrorType.ScratchDatabaseUnavailable) throw err;
    // The role may not create databases (managed PostgreSQL), so the pre-restore backup cannot be
    // restored into a scratch database to prove it. The restore still goes on, with the backup
    // written and its SHA-256 checked, and says so: refusing would make every restore impossible
    // on such servers, and the backup is needed only if the live check after an in-place restore
    // fails (the restore itself is one transaction: a failed one changes nothing).
    const checked = await acts.onWorker(at.worker_queue).validating.checkBackupFile(filename);
    report.note(`pre-restore backup ${filename} is not restore-verified (no CREATEDB: no scratch database to restore it into); it was written and its SHA-256 checked`);
    return { filename, table_details: checked.table_details, restore_verified: false, ...at, taken_at: takenAt };
  }
}
