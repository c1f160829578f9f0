// Several workers, each with its own BACKUP_DIR: a restore's steps that read the backup file run on
// the worker that has it, and a worker without the file fetches the S3 copy or says where to look.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { Config } from '../config';
import { ErrorType, permanent } from '../errors';
import type { createRestoreActivities } from './restore';
import type { PreparedRestore, PrepareOptions } from './restore/prepare';

type RestoreActivities = ReturnType<typeof createRestoreActivities>;

/** A prepared restore, and the own task queue of the worker that holds its file (absent: no such queue). */
export type LocatedRestore = PreparedRestore & { worker_queue?: string };

/**
 * The restore activities with prepareRestore naming this worker's own queue (where the restore of
 * the file must then run), and, for a local backup this worker's BACKUP_DIR lacks, the S3 copy
 * when S3 is configured, or a BackupNotFound that names the host and directory that were searched.
 */
export function withFileAffinity(config: Config, restore: RestoreActivities, workerQueue: string | undefined) {
  const here = (prepared: PreparedRestore): LocatedRestore => (workerQueue ? { ...prepared, worker_queue: workerQueue } : prepared);
  return {
    ...restore,
    /** A partial restore's copy loaded on this worker's own verification server: the steps that read it must run here too. */
    async restoreIntoNewDatabase(prepared: PreparedRestore, target: string, options: { scratch?: boolean } = {}) {
      const loaded = await restore.restoreIntoNewDatabase(prepared, target, options);
      return 'scratch_server' in loaded && loaded.scratch_server === 'verify' && config.verify?.target === 'worker' && workerQueue !== undefined ? { ...loaded, worker_queue: workerQueue } : loaded;
    },
    async prepareRestore(filename: string, source: 'local' | 's3', options: PrepareOptions = {}): Promise<LocatedRestore> {
      if (source === 'local' && workerQueue !== undefined && !(await present(config, filename))) {
        const where = `BACKUP_DIR ${config.backup.dir} of the worker on host ${os.hostname()} (queue ${workerQueue})`;
        if (config.s3 === undefined) {
          throw permanent(
            ErrorType.BackupNotFound,
            `backup "${filename}" is not in ${where}; with several workers each keeps the backups it made in its own BACKUP_DIR: ` +
              'run "fbb list" on the host that made it and restore there (a worker of its own task queue), share one BACKUP_DIR between the workers, or set S3_BUCKET so a restore can fetch the S3 copy',
          );
        }
        try {
          return here(await restore.prepareRestore(filename, 's3', options));
        } catch (err) {
          if (!(err instanceof ApplicationFailure) || err.type !== ErrorType.BackupNotFound) throw err;
          throw permanent(
            ErrorType.BackupNotFound,
            `backup "${filename}" is not in ${where}, and not in S3 either (${err.message}); run "fbb list" on the host that made it, or "fbb list --include-s3"`,
            err,
          );
        }
      }
      return here(await restore.prepareRestore(filename, source, options));
    },
  };
}

/** Is `filename` a file in this worker's BACKUP_DIR? */
async function present(config: Config, filename: string): Promise<boolean> {
  if (filename.includes('/') || filename.includes('\\')) return true; // prepareRestore refuses it by name
  return fs.stat(path.join(config.backup.dir, filename)).then(
    (s) => s.isFile(),
    () => false,
  );
}
