// The base backups that failed verification (set aside by setAside.ts into base/<sysid>/failed/):
// listed for `fbb list` and `fbb doctor`, and for base-backup retention, which removes them after
// RETENTION_BASEBACKUP_DAYS (src/basebackup/retention.ts, applyFailedRetention).
import fs from 'node:fs/promises';
import path from 'node:path';
import { BASE_MANIFEST_SUFFIX, baseDir, parseBaseBackupName, PG_MANIFEST_SUFFIX, SHA256_SUFFIX } from '../../basebackup/naming';
import type { FailedBaseBackup } from '../../basebackup/retention';
import { timestampToDate } from '../../backup/naming';
import type { Config } from '../../config';
import { FAILED_DIR } from './setAside';

const SIDECARS = [BASE_MANIFEST_SUFFIX, PG_MANIFEST_SUFFIX, SHA256_SUFFIX];

/** Where server `sysid`'s failed base backups are, relative to BACKUP_DIR. */
export function failedDir(sysid: string): string {
  return `${baseDir(sysid)}/${FAILED_DIR}`;
}

/** The failed base backups of server `sysid` (any of a backup's four files stands for it: a crash mid-removal leaves it listed). */
export async function listFailed(config: Config, sysid: string): Promise<FailedBaseBackup[]> {
  const names = await fs.readdir(path.join(config.backup.dir, failedDir(sysid))).catch(() => [] as string[]);
  const backups = new Set(names.map((n) => SIDECARS.reduce((name, suffix) => (name.endsWith(suffix) ? name.slice(0, -suffix.length) : name), n)));
  return [...backups].flatMap((filename) => {
    const parsed = parseBaseBackupName(filename);
    return parsed ? [{ filename, taken_at: timestampToDate(parsed.timestamp, 'UTC').toISOString() }] : [];
  });
}

/** A failed base backup's files, relative to BACKUP_DIR (`filename` as the retention decision names it: failed/<name>). */
export function failedFiles(sysid: string, filename: string): string[] {
  const at = `${baseDir(sysid)}/${filename}`;
  return [`${at}${BASE_MANIFEST_SUFFIX}`, at, `${at}${SHA256_SUFFIX}`, `${at}${PG_MANIFEST_SUFFIX}`];
}

/** How many base backups failed verification, in which folders (absolute), and the oldest's time; null when none. */
export interface FailedSummary {
  count: number;
  dirs: string[];
  oldest_taken_at: string;
}

/** Every server's failed base backups in BACKUP_DIR, summed up. */
export async function failedSummary(config: Config): Promise<FailedSummary | null> {
  const servers = (await fs.readdir(path.join(config.backup.dir, 'base')).catch(() => [] as string[])).filter((s) => /^\d+$/.test(s));
  const found: FailedBaseBackup[] = [];
  const dirs: string[] = [];
  for (const sysid of servers) {
    const mine = await listFailed(config, sysid);
    if (mine.length === 0) continue;
    found.push(...mine);
    dirs.push(path.join(config.backup.dir, failedDir(sysid)));
  }
  if (found.length === 0) return null;
  return { count: found.length, dirs, oldest_taken_at: found.map((f) => f.taken_at).sort()[0]! };
}

/** What `fbb list` and `fbb doctor` say about them: how many, where, and what to do. */
export function describeFailed(summary: FailedSummary, retentionDays: number): { detail: string; hint: string } {
  const n = summary.count;
  return {
    detail: `${n} base backup${n === 1 ? '' : 's'} failed verification and ${n === 1 ? 'was' : 'were'} set aside in ${summary.dirs.join(', ')} (the oldest taken ${summary.oldest_taken_at}); nothing restores from ${n === 1 ? 'it' : 'them'}`,
    hint: `the failed "fbb basebackup" run says why (fbb history); base-backup retention removes each ${retentionDays} days (RETENTION_BASEBACKUP_DAYS) after it was taken, or delete them once inspected; take a new base backup with "fbb basebackup"`,
  };
}
