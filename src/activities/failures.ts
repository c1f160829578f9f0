import { statfsSync } from 'node:fs';
import type { Config } from '../config';
import { formatBytes } from '../format';
import { ErrorType, permanent, transient } from '../errors';
import { explainConnectionError } from './doctor/database';

/** File-system errors that retrying cannot fix. */
const DISK_ERRORS = new Set(['ENOSPC', 'EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EDQUOT', 'EISDIR']);

/** Is `err` a file-system error that retrying cannot fix (no space, read-only, no permission)? */
export function isDiskError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code !== undefined && DISK_ERRORS.has(code);
}

/**
 * A file-system error as BackupDirFull (no space: with the space free in `dir` now and, when
 * `written` is given, the bytes the file had when it filled, which it needs more than) or
 * BackupDirNotWritable (read-only, no permission): retrying cannot fix them.
 */
export function diskError(err: unknown, dir: string, written?: number): Error {
  const code = (err as NodeJS.ErrnoException).code;
  // Node's messages start with the code ("ENOSPC: no space left on device, write"): named once.
  const said = (err as Error).message.startsWith(`${code}:`) ? (err as Error).message : `${code}: ${(err as Error).message}`;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    const needed = written === undefined ? '' : `; the backup needs more than the ${formatBytes(written)} (${written} bytes) it had written when the disk filled, and ${formatBytes(freeBytes(dir))} are free there now`;
    return permanent(ErrorType.BackupDirFull, `${dir} is full (${said})${needed}; free space there (or point BACKUP_DIR elsewhere), then run again`, err);
  }
  if (code !== undefined && DISK_ERRORS.has(code)) {
    return permanent(
      ErrorType.BackupDirNotWritable,
      `cannot write the backup into ${dir} (${said}); free space or fix BACKUP_DIR, then run the backup again`,
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

/** Bytes an unprivileged writer may still use in `dir`'s file system (0 when it cannot be read). */
function freeBytes(dir: string): number {
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return 0;
  }
}

