// Which base backup and which archived WAL a point-in-time restore uses, and the restorable window:
// pure rules over what the stores list, shared by the restore and by `fbb list`.
import type { BaseBackupManifest } from './manifest';
import type { RestorableWindow } from './recoveryTime';
import { segnoOfLsn, type ArchivedWal } from './naming';

/** An archived WAL file as listed, with when it was last written. */
export type ListedWal = ArchivedWal & { modified_at: string; size_bytes: number };

/** A base backup a restore can start from: its chain (full first) and the WAL from its start onwards, without a gap. */
export interface UsableBackup {
  chain: BaseBackupManifest[];
  wal: ListedWal[];
  /** The newest moment this backup's WAL reaches (when its last archived file was written). */
  reach: string;
}

/** The backups whose chain is complete and whose WAL is archived from their start through their end, newest first. */
export function usableBackups(backups: BaseBackupManifest[], wal: ListedWal[]): UsableBackup[] {
  const byName = new Map(backups.map((b) => [b.filename, b]));
  const out: UsableBackup[] = [];
  for (const backup of [...backups].sort((a, b) => b.end_time.localeCompare(a.end_time))) {
    const chain = chainOf(backup, byName);
    if (chain === undefined) continue;
    const run = walRun(backup, wal);
    if (run === undefined) continue;
    out.push({ chain, wal: run, reach: run.reduce((m, f) => (f.modified_at > m ? f.modified_at : m), backup.end_time) });
  }
  return out;
}

/** The restorable window over the usable backups; null when there is none. */
export function restorableWindow(usable: UsableBackup[]): RestorableWindow | null {
  if (usable.length === 0) return null;
  return { oldest: usable.map((u) => u.chain[u.chain.length - 1]!.end_time).sort()[0]!, newest: usable.map((u) => u.reach).sort().reverse()[0]! };
}

/** For `at` (undefined: latest), the newest usable backup that ended before it and whose WAL reaches it. */
export function pickBackup(usable: UsableBackup[], at: string | undefined): UsableBackup | undefined {
  return usable.find((u) => at === undefined || (u.chain[u.chain.length - 1]!.end_time <= at && u.reach >= at));
}

/** full ← incremental ← … ← backup; undefined when a parent is missing. */
function chainOf(backup: BaseBackupManifest, byName: Map<string, BaseBackupManifest>): BaseBackupManifest[] | undefined {
  const chain = [backup];
  let current = backup;
  while (current.parent !== null) {
    const parent = byName.get(current.parent);
    if (parent === undefined || chain.includes(parent)) return undefined;
    chain.unshift(parent);
    current = parent;
  }
  return chain;
}

/**
 * History files, and the segments from the backup's start segment on, one per segment number
 * (the complete one over a partial, the newest timeline), up to the first gap; undefined when the
 * run does not reach the backup's end.
 */
function walRun(backup: BaseBackupManifest, wal: ListedWal[]): ListedWal[] | undefined {
  const size = backup.wal_segment_bytes;
  const best = new Map<bigint, ListedWal>();
  for (const f of wal) {
    if (f.kind === 'history' || f.timeline < backup.timeline) continue;
    const seen = best.get(f.segno);
    if (seen === undefined || rank(f) > rank(seen)) best.set(f.segno, f);
  }
  const start = segnoOfLsn(backup.start_lsn, size);
  const end = segnoOfLsn(backup.end_lsn, size);
  const run: ListedWal[] = [];
  for (let seg = start; best.has(seg); seg++) {
    const file = best.get(seg)!;
    run.push(file);
    if (file.kind === 'partial') break;
  }
  if (run.length === 0 || start + BigInt(run.length) - 1n < end) return undefined;
  return [...wal.filter((f) => f.kind === 'history'), ...run];
}

function rank(f: ListedWal): number {
  return f.timeline * 2 + (f.kind === 'segment' ? 1 : 0);
}

/**
 * The archived WAL a recovery of `backup` to `lsn` reads: history files and its segments from its
 * start through the one holding `lsn` (that one may be a partial copy); undefined while one is missing.
 */
export function walThrough(backup: BaseBackupManifest, lsn: string, wal: ListedWal[]): ListedWal[] | undefined {
  const last = segnoOfLsn(lsn, backup.wal_segment_bytes);
  return walRun({ ...backup, end_lsn: lsn }, wal)?.filter((f) => f.kind === 'history' || f.segno <= last);
}
