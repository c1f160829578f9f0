import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { check, type CheckResult } from '../../doctor/report';
import { formatBytes } from '../../format';

/** Warn below this much free space: a compressed backup of a small family database fits many times over. */
export const LOW_SPACE_BYTES = 1024 ** 3;

/** The backup directory must exist (or be creatable) and take a file written, fsynced and renamed. */
export async function checkBackupDir(dir: string): Promise<CheckResult> {
  const probe = path.join(dir, `.fbb-doctor-${randomBytes(4).toString('hex')}`);
  try {
    await fs.mkdir(dir, { recursive: true });
    const handle = await fs.open(`${probe}.tmp`, 'wx');
    try {
      await handle.writeFile('family-brain-backup doctor probe\n');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(`${probe}.tmp`, probe);
    await fs.unlink(probe);
  } catch (err) {
    await fs.rm(`${probe}.tmp`, { force: true }).catch(() => undefined);
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    return check(
      'backup_dir',
      'fail',
      `cannot write to ${dir} (${code}: ${(err as Error).message})`,
      'make the directory writable by this user (mkdir -p, chown), or set BACKUP_DIR to a writable directory',
    );
  }
  const stats = await fs.statfs(dir);
  const free = stats.bavail * stats.bsize;
  const detail = `${dir} is writable; ${formatBytes(free)} free`;
  if (free < LOW_SPACE_BYTES) return check('backup_dir', 'warn', detail, 'free some space or point BACKUP_DIR at a larger disk');
  return check('backup_dir', 'ok', detail);
}
