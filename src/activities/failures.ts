import type { Config } from '../config';
import { ErrorType, permanent, transient } from '../errors';
import { explainConnectionError } from './doctor/database';

/** File-system errors that retrying cannot fix. */
const DISK_ERRORS = new Set(['ENOSPC', 'EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EDQUOT', 'EISDIR']);

/** A file-system error as BackupDirFull (no space) or BackupDirNotWritable (read-only, no permission): retrying cannot fix them. */
export function diskError(err: unknown, dir: string): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return permanent(ErrorType.BackupDirFull, `${dir} is full (${code}: ${(err as Error).message}); free space there (or point BACKUP_DIR elsewhere), then run again`, err);
  }
  if (code !== undefined && DISK_ERRORS.has(code)) {
    return permanent(
      ErrorType.BackupDirNotWritable,
      `cannot write the backup into ${dir} (${code}: ${(err as Error).message}); free space or fix BACKUP_DIR, then run the backup again`,
      err,
    );
  }
  return err instanceof Error ? err : new Error(String(err));
}

/** A connection error as a DatabaseUnreachable: permanent for bad credentials or a missing database, else retryable. */
export function databaseUnreachable(err: unknown, config: Config): Error {
  const { detail, hint } = explainConnectionError(err, config.database);
  const code = (err as { code?: string }).code;
  const message = `cannot connect to database "${config.database.database}" at ${config.database.host}:${config.database.port}: ${detail}; ${hint}`;
  // Wrong password, missing database or an sslmode the server cannot serve will not fix themselves;
  // a refused or timed-out connection might (a server restarting), so it is retried.
  const sslRefused = /does not support SSL/i.test((err as Error)?.message ?? '');
  return code === '28P01' || code === '3D000' || code === '28000' || sslRefused
    ? permanent(ErrorType.DatabaseUnreachable, message, err)
    : transient(ErrorType.DatabaseUnreachable, message, err);
}
