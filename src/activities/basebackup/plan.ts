// The checks of a point-in-time restore that change nothing: the moment, the window, the target
// directory, the age key. Every refusal comes from here, before a file is written.
import fs from 'node:fs/promises';
import path from 'node:path';
import { baseDir, walDir } from '../../basebackup/naming';
import { assertInWindow, parseRecoveryTarget, type RecoveryTarget, type RestorableWindow } from '../../basebackup/recoveryTime';
import { pickBackup, restorableWindow, usableBackups, type UsableBackup } from '../../basebackup/window';
import type { Config } from '../../config';
import { ErrorType, permanent } from '../../errors';
import { checkDecryptable } from '../encryption';
import { listArchivedWal, listBaseBackups } from './archive';
import { serverBinDir } from './serverUser';

/** What a point-in-time restore will do, decided before it does anything. */
export interface RecoveryPlan {
  target: RecoveryTarget;
  target_dir: string;
  system_identifier: string;
  pg_major: number;
  wal_segment_bytes: number;
  /** The base backup restored, and the chain it needs (full first; one entry for a full backup). */
  base_backup: string;
  chain: string[];
  /**
   * The WAL the recovery replays, fetched one segment at a time as the server asks for it: from the segment
   * holding the backup's start to the last one archived without a gap (`partial`: served from its .partial copy).
   * Not a list of files: a week of WAL is thousands of names, and the plan goes into the workflow's history.
   */
  wal_range: WalRange;
  window: RestorableWindow;
}

/** The first and last segment a recovery replays; `partial` when the last is read from its .partial copy. */
export interface WalRange {
  first: string;
  last: string;
  partial: boolean;
}

/** Usable base backups of every server in BACKUP_DIR, newest first, with the window they make. */
export async function restorableState(config: Config): Promise<{ usable: UsableBackup[]; window: RestorableWindow | null }> {
  const backups = await listBaseBackups(config);
  const usable: UsableBackup[] = [];
  for (const sysid of new Set(backups.map((b) => b.system_identifier))) {
    const mine = backups.filter((b) => b.system_identifier === sysid);
    usable.push(...usableBackups(mine, await listArchivedWal(config, sysid, mine[0]!.wal_segment_bytes)));
  }
  usable.sort((a, b) => b.chain[b.chain.length - 1]!.end_time.localeCompare(a.chain[a.chain.length - 1]!.end_time));
  return { usable, window: restorableWindow(usable) };
}

/** Decides the restore of `toTime` into `targetDir`, refusing with a named error when it cannot be done. */
export async function planPointInTime(config: Config, input: { to_time: string; target_dir: string }, now = new Date()): Promise<RecoveryPlan> {
  const target = parseRecoveryTarget(input.to_time);
  const targetDir = path.resolve(input.target_dir);
  await assertEmptyDir(targetDir);
  const { usable, window } = await restorableState(config);
  if (target.kind === 'time') assertInWindow(target.at, window, now);
  const chosen = pickBackup(usable, target.kind === 'time' ? target.at : undefined);
  if (chosen === undefined || window === null) {
    throw permanent(ErrorType.RecoveryTargetOutsideWindow, `no base backup with its WAL archived reaches ${target.kind === 'time' ? target.at : 'the newest archived WAL'} (window: ${window === null ? 'none' : `${window.oldest} to ${window.newest}`}); run "fbb basebackup" with the WAL archive running; nothing was changed`);
  }
  const last = chosen.chain[chosen.chain.length - 1]!;
  await serverBinDir(config, last.pg_major);
  for (const b of chosen.chain) {
    if (b.encryption) await checkDecryptable(config, path.join(config.backup.dir, baseDir(b.system_identifier), b.filename), b.filename);
  }
  const firstAge = chosen.wal.find((w) => w.encrypted);
  if (firstAge) await checkDecryptable(config, path.join(config.backup.dir, walDir(last.system_identifier), firstAge.stored), firstAge.stored);
  const segments = chosen.wal.filter((w) => w.kind !== 'history');
  return {
    target,
    target_dir: targetDir,
    system_identifier: last.system_identifier,
    pg_major: last.pg_major,
    wal_segment_bytes: last.wal_segment_bytes,
    base_backup: last.filename,
    chain: chosen.chain.map((b) => b.filename),
    wal_range: { first: segments[0]!.walName, last: segments[segments.length - 1]!.walName, partial: segments[segments.length - 1]!.kind === 'partial' },
    window,
  };
}

/** A restore writes into an empty (or not yet existing) directory only: TargetDirNotEmpty otherwise. */
export async function assertEmptyDir(dir: string): Promise<void> {
  const entries = await fs.readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    if (err.code === 'ENOTDIR') return ['(a file)'];
    throw err;
  });
  if (entries.length > 0) {
    throw permanent(ErrorType.TargetDirNotEmpty, `--target-dir ${dir} is not empty (it holds ${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', …' : ''}); a point-in-time restore writes a whole data directory into an empty one only; give a new or empty directory; nothing was changed`);
  }
}
